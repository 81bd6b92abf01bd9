"""Training runs on disk: ``train`` writes a run directory, ``sample`` reads one.

A run directory holds ``config.toml`` (the configuration it was started with),
``checkpoint.pt`` (written atomically every ``checkpoint_every`` steps and at the end) and
``metrics.jsonl`` (one line per step).
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from pathlib import Path

import attrs
import torch

from crystalgfn.atomic import write_text
from crystalgfn.checkpoint import load_checkpoint
from crystalgfn.config import RunConfig
from crystalgfn.data import load_done_states
from crystalgfn.devices import make_generator, resolve_device
from crystalgfn.distributed import leave_world
from crystalgfn.env import Environment
from crystalgfn.errors import CheckpointError, ConfigError
from crystalgfn.rewards import Reward
from crystalgfn.states import State, concat
from crystalgfn.table import describe
from crystalgfn.trainer import (
    CHECKPOINT,
    METRICS,
    Trainer,
    build_policy,
    restore_conditioning,
    sample_policy,
)

CONFIG = "config.toml"


def build_trainer(config: RunConfig, run_dir: Path | None, **overrides) -> Trainer:
    env = config.build_env()
    reward = config.build_reward(env)
    reward.describe = lambda values, rows: _describe_rows(env, values, rows)
    data, fraction = None, float(config.raw.get("data_fraction", 0.0))  # checked by RunConfig
    if "data" in config.raw:
        data, _ = load_done_states(env, config.raw["data"])
    return Trainer(
        env, reward, config.build_loss(), config.settings(**overrides), run_dir=run_dir,
        data=data, data_fraction=fraction,
    )


def _describe_rows(
    env: Environment, values: Mapping[str, torch.Tensor], rows: list[int]
) -> list[str]:
    """Each row named by the environment's own discrete describe columns (text and integers,
    e.g. a formula or a space group; floats such as cell lengths are left out)."""
    columns = env.describe({k: v[rows] for k, v in values.items()})
    return [
        " ".join(
            f"{name}={column[i]}" for name, column in columns.items()
            if isinstance(column[i], (str, int)) and not isinstance(column[i], bool)
        ) or f"row {row}"
        for i, row in enumerate(rows)
    ]


def train(
    config_path: str | Path,
    out: str | Path,
    resume: bool = False,
    progress: bool | None = None,
    max_minutes: float | None = None,
    **overrides,
) -> Path:
    """Train from a TOML config into ``out``; with ``resume``, continue the run there.

    ``max_minutes`` bounds this call's training time: past it, training stops at the end of
    a step, with a checkpoint, and says how to finish the run (``resume`` continues it
    exactly as if it had not stopped).

    Everything is validated and built before a new run folder is made, and a new run that
    fails before its first checkpoint removes what it wrote: a failed ``train`` leaves no
    half-made run behind (a run with a checkpoint keeps it, to continue with ``resume``)."""
    out = Path(out)
    checkpoint = out / CHECKPOINT
    if max_minutes is not None and (
        isinstance(max_minutes, bool)
        or not isinstance(max_minutes, (int, float))
        or not 0 < max_minutes < math.inf
    ):
        raise ConfigError(
            f"--max-minutes must be a positive number of minutes, got {max_minutes!r}"
        )
    if resume:
        if not checkpoint.exists():
            raise CheckpointError(f"cannot resume: {checkpoint} does not exist")
        config = RunConfig.from_file(out / CONFIG)
    else:
        if config_path is None:
            raise ConfigError(
                "--config is required to start a run (only --resume reuses the run's own config)"
            )
        if checkpoint.exists():
            raise ConfigError(
                f"{out} already holds a run; pass --resume to continue it or choose another --out"
            )
        if out.exists() and not out.is_dir():
            raise ConfigError(f"--out {str(out)!r} exists and is not a directory")
        config = RunConfig.from_file(config_path)
    resolve_device(config.settings(**overrides).device)  # before the environment is built
    trainer = build_trainer(config, out, **overrides)
    created: list[Path] = []
    if not resume and trainer.world.is_main:  # under torchrun, rank 0 writes the run files
        created = _start_run_folder(out, Path(config_path).read_text())
    try:
        if getattr(trainer.env, "is_conditional", False) and trainer.world.is_main:
            _report_pool(trainer.env)
        if resume:
            trainer.resume()
        seconds = None if max_minutes is None else 60.0 * max_minutes
        finished = trainer.train(
            progress=True if progress is None else progress, max_seconds=seconds
        )
        if not finished and trainer.world.is_main:
            _report_time_limit(out, max_minutes, trainer.step, trainer.settings.steps)
    except BaseException:
        if created and not checkpoint.exists():
            _remove(created)
        raise
    leave_world(trainer.world)
    return checkpoint


def _report_time_limit(out: Path, max_minutes: float, step: int, steps: int) -> None:
    import sys

    print(
        f"stopped by --max-minutes {max_minutes:g} at step {step:,} of {steps:,}, with a "
        f"checkpoint; `crystalgfn train --out {out} --resume` finishes the run",
        file=sys.stderr, flush=True,
    )


def _report_pool(env) -> None:
    """One line on a conditional run's training pool (drawing it: it is needed anyway)."""
    import sys

    line = f"conditioning: {len(env.pool)} training restrictions (the unrestricted space included)"
    if env.refused:
        text, reason = env.refused[0]
        line += (
            f"; {len(env.refused)} drawn restriction(s) left out because the environment "
            f"cannot build them, e.g. {text}: {reason}"
        )
    print(line, file=sys.stderr, flush=True)


def _start_run_folder(out: Path, config_text: str) -> list[Path]:
    """Make the folder of a new run; returns what it made, innermost first (to undo it)."""
    made = []
    missing = out
    while not missing.exists():
        made.append(missing)
        missing = missing.parent
    out.mkdir(parents=True, exist_ok=True)
    (out / METRICS).unlink(missing_ok=True)  # left by an earlier start that never checkpointed
    ours = [] if (out / CONFIG).exists() else [out / CONFIG]  # e.g. --config DIR/config.toml
    write_text(out / CONFIG, config_text)
    return [*ours, out / METRICS, *made]


def _remove(paths: list[Path]) -> None:
    for path in paths:
        if path.is_dir():
            try:
                path.rmdir()  # only if empty: never what someone else put there
            except OSError:
                return
        else:
            path.unlink(missing_ok=True)


@attrs.frozen
class TrainedModel:
    """What sampling from a run needs: its environment, reward and trained policy."""

    env: Environment
    reward: Reward
    policy: torch.nn.Module
    device: torch.device
    step: int


def load_run(run_dir: str | Path, device: str = "cpu") -> TrainedModel:
    """The trained model of a finished (or interrupted) run, from its latest checkpoint
    (whatever number of processes trained it, on whatever device).

    Builds no optimiser and joins no process group: only what sampling needs, so that
    ``crystalgfn sample --run`` starts fast.
    """
    run_dir = Path(run_dir)
    if not (run_dir / CONFIG).is_file():
        raise CheckpointError(f"{run_dir} is not a run directory (no {CONFIG})")
    payload = load_checkpoint(run_dir / CHECKPOINT)
    config = RunConfig.from_file(run_dir / CONFIG)
    resolved = resolve_device(device)
    env = config.build_env()
    reward = config.build_reward(env)
    policy = build_policy(env, config.settings(), config.build_loss())
    try:
        policy.load_state_dict(payload["policy"])
    except (KeyError, RuntimeError) as error:
        raise CheckpointError(
            f"checkpoint in {run_dir} does not match its config: {error}"
        ) from None
    restore_conditioning(env, payload)
    policy.to(resolved).eval()
    return TrainedModel(env, reward, policy, resolved, int(payload.get("step", 0)))


#: Sampled crystals whose trajectories measure a restricted sampler's effective sample size.
QUALITY_SAMPLES = 1000


@attrs.frozen
class Samples:
    """What :func:`sample_model` returns.

    ``quality``: for a restricted sample, the importance-weight check of
    :mod:`crystalgfn.conditioning.quality` (``ess_fraction``, ``log_z``, ``elbo``, ``kl``,
    ...) and ``conditional`` (whether the run was trained conditioned on the restrictions);
    ``None`` without restrictions."""

    env: Environment
    done: State
    columns: dict[str, list]
    quality: dict | None = None


def sample_model(
    model: TrainedModel,
    n: int,
    restrictions: Mapping | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
    progress: bool = False,
) -> Samples:
    """Sample ``n`` crystals from a loaded run, optionally restricted.

    A run trained with ``[conditioning]`` samples a restriction of its family with the
    restriction as an input, ∝ R on the restricted space up to its training error; any other
    run is masked to the restriction, which is biased (docs/training.md). Either way the
    restricted sampler is measured on the trajectories of its first ``QUALITY_SAMPLES``
    crystals (``quality``): they are draws of the sampler like any other, and their forward
    log-probabilities come with them, so the measure costs little beyond sampling."""
    env = model.env.restrict(**restrictions) if restrictions else model.env
    generator = make_generator(seed, model.device)
    quality = None
    with torch.inference_mode():
        parts, measured = [], 0
        if restrictions:
            from crystalgfn.conditioning.quality import importance_summary, trajectory_log_weights
            from crystalgfn.sampling import rollout

            measured = min(n, QUALITY_SAMPLES)
            transitions = rollout(
                env, model.policy, measured, generator, model.device, track_log_probs=True
            )
            log_w = trajectory_log_weights(env, model.policy, model.reward, transitions)
            quality = {
                **importance_summary(log_w),
                "conditional": bool(getattr(model.env, "is_conditional", False)),
            }
            parts.append(transitions.done)
        rest = n - measured
        if rest:
            parts.append(
                sample_policy(
                    env, model.policy, rest, batch_size, generator, model.device,
                    progress=progress,
                )
            )
        done = concat(parts)
        columns = describe(env, done)
        log_r, proxy_columns = model.reward.columns(env.values(done))
    columns["reward"] = log_r.exp().tolist()
    columns["log_reward"] = log_r.tolist()
    columns.update(proxy_columns)
    return Samples(env, done, columns, quality)


def sample(
    run_dir: str | Path,
    n: int,
    restrictions: Mapping | None = None,
    seed: int = 0,
    batch_size: int = 10_000,
    device: str = "cpu",
    progress: bool = False,
) -> tuple[Environment, State, dict[str, list]]:
    """Sample ``n`` crystals from a trained run; returns the environment, the done states and
    the table columns (description, ``reward``, one column per proxy and, for proxies that
    report their uncertainty, ``<proxy>_std`` and ``<proxy>_uncertain``). ``progress``: lines
    with the elapsed time and ETA on stderr. See :func:`sample_model` for restrictions."""
    model = load_run(run_dir, device=device)
    result = sample_model(model, n, restrictions, seed, batch_size, progress)
    return result.env, result.done, result.columns
