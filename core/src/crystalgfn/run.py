"""Training runs on disk: ``train`` writes a run directory, ``sample`` reads one.

A run directory holds ``config.toml`` (the configuration it was started with),
``checkpoint.pt`` (written atomically every ``checkpoint_every`` steps and at the end) and
``metrics.jsonl`` (one line per step).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from pathlib import Path

import torch

from crystalgfn.atomic import write_text
from crystalgfn.checkpoint import load_checkpoint
from crystalgfn.config import RunConfig
from crystalgfn.data import load_done_states
from crystalgfn.distributed import leave_world
from crystalgfn.env import Environment
from crystalgfn.errors import CheckpointError, ConfigError
from crystalgfn.states import State
from crystalgfn.table import describe
from crystalgfn.trainer import CHECKPOINT, Trainer, sample_policy

CONFIG = "config.toml"


def build_trainer(config: RunConfig, run_dir: Path | None, **overrides) -> Trainer:
    env = config.build_env()
    reward = config.build_reward(env)
    reward.describe = lambda values, rows: _describe_rows(env, values, rows)
    data, fraction = None, float(config.raw.get("data_fraction", 0.0))
    if "data" in config.raw:
        if not 0 < fraction < 1:
            raise ConfigError(f"data_fraction must be in (0, 1) when data is given, got {fraction}")
        data, _ = load_done_states(env, config.raw["data"])
    elif fraction:
        raise ConfigError("data_fraction needs data = \"path/to/crystals.csv\"")
    return Trainer(
        env, reward, config.build_loss(), config.settings(**overrides), run_dir=run_dir,
        data=data, data_fraction=fraction,
    )


def _describe_rows(env: Environment, values: Mapping[str, torch.Tensor], rows: list[int]) -> list[str]:
    columns = env.describe({k: v[rows] for k, v in values.items()})
    return [
        " ".join(f"{name}={columns[name][i]}" for name in ("formula", "space_group") if name in columns) or f"row {row}"
        for i, row in enumerate(rows)
    ]


def train(config_path: str | Path, out: str | Path, resume: bool = False, progress: bool | None = None, **overrides) -> Path:
    """Train from a TOML config into ``out``; with ``resume``, continue the run there."""
    out = Path(out)
    checkpoint = out / CHECKPOINT
    if resume:
        if not checkpoint.exists():
            raise CheckpointError(f"cannot resume: {checkpoint} does not exist")
        config = RunConfig.from_file(out / CONFIG)
    else:
        if config_path is None:
            raise ConfigError("--config is required to start a run (only --resume reuses the run's own config)")
        if checkpoint.exists():
            raise ConfigError(f"{out} already holds a run; pass --resume to continue it or choose another --out")
        config = RunConfig.from_file(config_path)
        if int(os.environ.get("RANK", "0")) == 0:  # under torchrun, rank 0 writes the run files
            out.mkdir(parents=True, exist_ok=True)
            write_text(out / CONFIG, Path(config_path).read_text())
    trainer = build_trainer(config, out, **overrides)
    if resume:
        trainer.resume()
    trainer.train(progress=True if progress is None else progress)
    leave_world(trainer.world)
    return checkpoint


def load_run(run_dir: str | Path, device: str = "cpu") -> Trainer:
    """The trainer of a finished (or interrupted) run, with its latest checkpoint loaded."""
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no {CONFIG})")
    payload = load_checkpoint(run_dir / CHECKPOINT)
    trainer = build_trainer(RunConfig.from_file(run_dir / CONFIG), run_dir, device=device)
    try:
        trainer.load_state_dict(payload)
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(f"checkpoint in {run_dir} does not match its config: {error}") from None
    return trainer


def sample(
    run_dir: str | Path,
    n: int,
    restrictions: Mapping | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
    device: str = "cpu",
) -> tuple[Environment, State, dict[str, list]]:
    """Sample ``n`` crystals from a trained run; returns the environment, the done states and
    the table columns (description, ``reward`` and one column per proxy)."""
    trainer = load_run(run_dir, device=device)
    env = trainer.env.restrict(**restrictions) if restrictions else trainer.env
    generator = torch.Generator().manual_seed(seed)
    trainer.policy.eval()
    done = sample_policy(env, trainer.policy, n, batch_size, generator, device)
    columns = describe(env, done)
    log_r, predictions = trainer.reward(env.values(done))
    columns["reward"] = log_r.exp().tolist()
    columns["log_reward"] = log_r.tolist()
    for name, values in predictions.items():
        columns[name] = values.double().tolist()
    return env, done, columns
