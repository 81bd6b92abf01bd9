"""Training runs on disk: config validation, train -> sample, resume, corrupt checkpoints."""

import csv
import itertools
import json
from pathlib import Path

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib

import pytest
import torch
from crystalgfn.checkpoint import load_checkpoint
from crystalgfn.cli import main
from crystalgfn.config import RunConfig
from crystalgfn.errors import ConfigError
from crystalgfn.run import build_trainer, train

CONFIG = """
env = "crystal"
proxy = "{proxy}"
loss = "tb"
steps = {steps}
batch_size = 16
hidden = 32
layers = 2
seed = 3
checkpoint_every = 4
[env_kwargs.composition]
elements = ["Li", "Fe", "O", "S"]
max_atoms_per_element = 8
[reward]
kind = "{kind}"
"""


def write_config(tmp_path, proxy="density", kind="identity", steps=8, lr_schedule="constant"):
    path = tmp_path / "run.toml"
    path.write_text(
        f'lr_schedule = "{lr_schedule}"\n' + CONFIG.format(proxy=proxy, kind=kind, steps=steps)
    )
    return path


def test_train_then_sample_with_the_density_proxy(tmp_path):
    config = write_config(tmp_path)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    lines = (tmp_path / "run" / "metrics.jsonl").read_text().splitlines()
    metrics = [json.loads(line) for line in lines]
    assert [m["step"] for m in metrics] == list(range(1, 9))
    assert {
        "loss", "log_z", "mean_log_reward", "max_log_reward", "trajectories_per_s"
    } <= set(metrics[0])
    out = tmp_path / "samples.csv"
    assert main(["sample", "--run", str(tmp_path / "run"), "-n", "50", "--out", str(out),
                 "--elements", "Fe,O", "--seed", "1", "--batch-size", "20"]) == 0
    rows = list(csv.DictReader(out.open()))
    assert len(rows) == 50 and {"reward", "density", "formula", "a"} <= set(rows[0])
    assert all(set("".join(c for c in r["formula"] if c.isalpha())) <= set("FeO") for r in rows)
    assert all(float(r["reward"]) == pytest.approx(float(r["density"]), rel=1e-4) for r in rows)


def test_train_with_a_third_party_proxy(tmp_path, installed_example):
    config = write_config(tmp_path, proxy="volume_per_atom", steps=3)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 0
    assert main(
        ["sample", "--run", str(tmp_path / "run"), "-n", "10", "--out", str(tmp_path / "s.csv")]
    ) == 0
    assert "volume_per_atom" in (tmp_path / "s.csv").read_text().splitlines()[0]


@pytest.mark.parametrize("lr_schedule", ["constant", "cosine"])
def test_resume_after_a_crash_gives_the_same_parameters(tmp_path, lr_schedule):
    config = write_config(tmp_path, steps=8, lr_schedule=lr_schedule)
    train(config, tmp_path / "straight", progress=False)

    crashed = tmp_path / "crashed"
    trainer = None

    class Crash(Exception):
        pass

    def crash_at_step_6(metrics):
        if metrics["step"] == 6:
            raise Crash

    from crystalgfn import run

    config_obj = RunConfig.from_file(config)
    crashed.mkdir()
    (crashed / "config.toml").write_text(config.read_text())
    trainer = build_trainer(config_obj, crashed)
    with pytest.raises(Crash):
        trainer.train(on_step=crash_at_step_6)
    assert load_checkpoint(crashed / "checkpoint.pt")["step"] == 4
    run.train(None, crashed, resume=True, progress=False)

    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(crashed / "checkpoint.pt")
    assert resumed["step"] == straight["step"] == 8
    for name, value in straight["policy"].items():
        assert torch.equal(value, resumed["policy"][name]), name
    assert torch.equal(straight["loss"]["_log_z"], resumed["loss"]["_log_z"])
    lines = (crashed / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == list(range(1, 9))


def test_a_time_limited_run_stops_with_a_checkpoint_and_resumes_to_the_same_parameters(
    tmp_path, capsys
):
    config = write_config(tmp_path, steps=8, lr_schedule="cosine")
    train(config, tmp_path / "straight", progress=False)
    limited = tmp_path / "limited"
    # A limit that has passed when the first step ends: the run stops there (step 1 is not a
    # checkpoint step of checkpoint_every = 4, so the stop writes one).
    assert main(["train", "--config", str(config), "--out", str(limited), "--max-minutes",
                 "1e-9"]) == 0
    err = capsys.readouterr().err
    assert "stopped by --max-minutes 1e-09 at step 1 of 8" in err
    assert f"crystalgfn train --out {limited} --resume" in err
    assert load_checkpoint(limited / "checkpoint.pt")["step"] == 1
    assert main(["train", "--out", str(limited), "--resume", "--max-minutes", "60"]) == 0
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(limited / "checkpoint.pt")
    assert resumed["step"] == 8
    for name, value in straight["policy"].items():
        assert torch.equal(value, resumed["policy"][name]), name


@pytest.mark.parametrize("minutes", ["0", "-3", "nan", "inf"])
def test_a_bad_time_limit_is_named(tmp_path, capsys, minutes):
    config = write_config(tmp_path, steps=2)
    code = main(["train", "--config", str(config), "--out", str(tmp_path / "run"),
                 f"--max-minutes={minutes}"])
    assert code == 2
    assert "--max-minutes must be a positive number of minutes, got" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_an_existing_run_is_never_overwritten(tmp_path):
    config = write_config(tmp_path, steps=2)
    train(config, tmp_path / "run", progress=False)
    with pytest.raises(ConfigError, match="already holds a run; pass --resume"):
        train(config, tmp_path / "run", progress=False)


def test_corrupt_checkpoint_is_reported(tmp_path, capsys):
    config = write_config(tmp_path, steps=2)
    train(config, tmp_path / "run", progress=False)
    (tmp_path / "run" / "checkpoint.pt").write_bytes(b"not a checkpoint")
    assert main(
        ["sample", "--run", str(tmp_path / "run"), "-n", "5", "--out", str(tmp_path / "s.csv")]
    ) == 2
    assert "is corrupt or unreadable" in capsys.readouterr().err


def test_config_errors_name_the_key_and_what_is_accepted(crystal_env):
    with pytest.raises(
        ConfigError,
        match=r"unknown key 'batchsize' in the run config\. Did you mean 'batch_size'\?",
    ):
        RunConfig.from_dict({"proxy": "density", "batchsize": 3})
    with pytest.raises(ConfigError, match="unknown reward kind 'exp'"):
        config = RunConfig.from_dict({"proxy": "density", "reward": {"kind": "exp"}})
        config.build_reward(crystal_env)
    with pytest.raises(KeyError, match="unknown proxy 'densty'. Did you mean 'density'"):
        RunConfig.from_dict({"proxy": "densty"}).build_reward(crystal_env)
    with pytest.raises(ConfigError, match="needs a proxy"):
        RunConfig.from_dict({"loss": "tb"})


def test_training_from_a_data_set_of_crystals(tmp_path):
    """Known crystals (here the shipped Materials Project validation set) are replayed through
    backward trajectories; those outside the training space are dropped and counted."""
    from pathlib import Path

    data = Path(__file__).resolve().parents[1] / "data" / "mp_validation.csv"
    config = RunConfig.from_dict({
        "env": "crystal", "proxy": "density", "reward": {"kind": "identity"}, "steps": 2,
        "batch_size": 8, "hidden": 32, "layers": 1, "data": str(data), "data_fraction": 0.5,
    })
    with pytest.warns(UserWarning, match="lie outside the training space; dropped"):
        trainer = build_trainer(config, None)
    assert trainer.data["stage"].shape[0] > 100
    trainer.train()
    assert trainer.step == 2
    with pytest.raises(ConfigError, match="data_fraction needs data"):
        build_trainer(RunConfig.from_dict({"proxy": "density", "data_fraction": 0.5}), None)


CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def _is_campaign_config(path: Path) -> bool:
    """An active-learning campaign config (``crystalgfn active-learn``), not a run config:
    tests/test_active_learning.py checks those."""
    return {"run", "rounds"} <= set(tomllib.loads(path.read_text(encoding="utf-8")))


SHIPPED = sorted(
    p.relative_to(CONFIGS).with_suffix("").as_posix() for p in CONFIGS.glob("**/*.toml")
    if not _is_campaign_config(p)
)


@pytest.mark.parametrize("name", SHIPPED)
def test_every_shipped_config_trains(name):
    """The committed run configs (main job, experiments, and the paper's settings under
    configs/paper/) build and take training steps."""
    path = CONFIGS / f"{name}.toml"
    raw = tomllib.loads(path.read_text(encoding="utf-8"))
    if "conditioning" in raw:
        # A full pool builds dozens of restricted crystal stacks (seconds each); three (or
        # the included ones) exercise the same code.
        pool = max(3, 1 + len(raw["conditioning"].get("include", [])))
        raw["conditioning"] = {**raw["conditioning"], "pool": pool, "per_batch": 2}
    trainer = build_trainer(RunConfig.from_dict(raw), None, steps=2, batch_size=8)
    trainer.train()
    assert trainer.step == 2


def test_cosine_schedule_anneals_both_learning_rates_to_zero(tmp_path):
    config = RunConfig.from_file(write_config(tmp_path, steps=8, lr_schedule="cosine"))
    trainer = build_trainer(config, None)
    seen = []
    trainer.train(
        on_step=lambda metrics: seen.append([g["lr"] for g in trainer.optimizer.param_groups])
    )
    settings = trainer.settings
    # The first update: full rates.
    assert seen[0] == pytest.approx([settings.lr, settings.lr_log_z])
    assert seen[4] == pytest.approx([settings.lr / 2, settings.lr_log_z / 2])  # half-way
    assert all(a[0] > b[0] for a, b in itertools.pairwise(seen))
    assert seen[-1][0] < 0.05 * settings.lr


def test_unknown_lr_schedule_is_rejected(tmp_path):
    with pytest.raises(
        ConfigError, match=r"lr_schedule must be one of \['constant', 'cosine'\], got 'linear'"
    ):
        RunConfig.from_file(write_config(tmp_path, lr_schedule="linear")).settings()
