"""Runs that go wrong: bad config values, a missing GPU, a proxy that returns NaN, a run
trained by several processes sampled by one. Each ends in a clear message (exit status 2),
never in a traceback or a half-made run folder."""

from __future__ import annotations

import csv
import math

import crystalgfn
import pytest
import torch
from crystalgfn.checkpoint import load_checkpoint, save_checkpoint
from crystalgfn.cli import main
from crystalgfn.run import train

CONFIG = """
env = "crystal"
proxy = "{proxy}"
loss = "tb"
steps = {steps}
batch_size = 8
hidden = 16
layers = 1
seed = 3
checkpoint_every = 4
[env_kwargs.composition]
elements = ["Li", "Fe", "O", "S"]
max_atoms_per_element = 8
[reward]
kind = "identity"
"""


def write_config(tmp_path, proxy="density", steps=8):
    path = tmp_path / "run.toml"
    path.write_text(CONFIG.format(proxy=proxy, steps=steps))
    return path


@pytest.mark.parametrize(
    "old, new, message",
    [
        ("steps = 8", 'steps = "many"', "steps must be an integer >= 1, got 'many' (a string)"),
        ("seed = 3", 'seed = 3\nlr = "fast"', "lr must be a number > 0, got 'fast' (a string)"),
        ('kind = "identity"', 'kind = "power"\nexponent = "one"',
         "reward.exponent must be a finite number (e.g. 1.0), got 'one'"),
        ('kind = "identity"', 'kind = "identity"\n[restrictions]\nelements = 5',
         "elements must be element symbols such as ['Fe', 'O'] or a string 'Fe,O', got 5"),
        ('kind = "identity"', 'kind = "identity"\n[restrictions]\ncrystal_systems = 5',
         "crystal systems must be names such as ['triclinic', 'monoclinic']"),
    ],
)
def test_a_bad_config_value_exits_2_and_makes_no_run_folder(tmp_path, capsys, old, new, message):
    config = write_config(tmp_path)
    config.write_text(config.read_text().replace(old, new))
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    error = capsys.readouterr().err
    assert error.startswith("crystalgfn: error:") and message in error
    assert not (tmp_path / "run").exists()


@pytest.fixture
def no_cuda(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cuda_on_a_machine_without_it_is_a_clear_error(tmp_path, capsys, no_cuda):
    config = write_config(tmp_path, steps=2)
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out), "--device", "cuda"]) == 2
    assert "device 'cuda' is not available" in capsys.readouterr().err
    assert not out.exists(), "a failed train must not leave a half-made run folder"
    assert main(["sample", "--policy", "uniform", "-n", "3", "--out", str(tmp_path / "u.csv"),
                 "--device", "cuda"]) == 2
    assert "device 'cuda' is not available" in capsys.readouterr().err
    train(config, out, progress=False)
    assert main(["sample", "--run", str(out), "-n", "3", "--out", str(tmp_path / "s.csv"),
                 "--device", "cuda"]) == 2
    assert "device 'cuda' is not available" in capsys.readouterr().err
    assert not (tmp_path / "u.csv").exists() and not (tmp_path / "s.csv").exists()


class FailingDensity(crystalgfn.Proxy):
    """Atoms per cell, until call ``fail_at`` (1-based), from which on it returns NaN."""

    name = "failing_density"
    requires = ("composition",)
    fail_at = math.inf

    def __init__(self):
        self.calls = 0

    def predict(self, batch):
        self.calls += 1
        values = batch["composition"].double().sum(dim=1)
        return values * math.nan if self.calls >= self.fail_at else values


@pytest.fixture
def failing_proxy():
    crystalgfn.register_proxy(FailingDensity)
    yield FailingDensity
    crystalgfn.unregister_proxy(FailingDensity.name)
    FailingDensity.fail_at = math.inf


def test_a_nan_from_the_proxy_stops_cleanly_keeping_the_last_step(tmp_path, capsys, failing_proxy):
    config = write_config(tmp_path, proxy="failing_density", steps=8)
    train(config, tmp_path / "five", progress=False, steps=5)  # what steps 1-5 give
    failing_proxy.fail_at = 6  # the proxy is called once per step
    out = tmp_path / "run"
    assert main(["train", "--config", str(config), "--out", str(out)]) == 2
    printed = capsys.readouterr().err
    assert "Traceback" not in printed
    error = printed.splitlines()[-1]  # after the progress lines
    assert error.startswith("crystalgfn: error: training stopped at step 6: proxy 'failing_")
    assert "non-finite reward" in error and "last good checkpoint (step 5)" in error
    # crystals are named by the environment's discrete columns, not by cell lengths
    assert "space_group=" in error and "formula=" in error and " a=" not in error
    kept = load_checkpoint(out / "checkpoint.pt")
    five = load_checkpoint(tmp_path / "five" / "checkpoint.pt")
    assert kept["step"] == five["step"] == 5
    for name, value in five["policy"].items():
        assert torch.equal(value, kept["policy"][name]), name
    assert torch.equal(kept["generators"][0], five["generators"][0]), "resuming continues exactly"


def test_a_proxy_failing_at_the_first_step_leaves_no_run_folder(tmp_path, capsys, failing_proxy):
    failing_proxy.fail_at = 1
    config = write_config(tmp_path, proxy="failing_density", steps=4)
    assert main(["train", "--config", str(config), "--out", str(tmp_path / "run")]) == 2
    assert "no checkpoint was written" in capsys.readouterr().err
    assert not (tmp_path / "run").exists()


def test_a_run_of_two_processes_can_be_sampled_by_one(tmp_path, capsys):
    """What ``torchrun --nproc_per_node=2 ... train`` writes: the random stream and replay
    buffer of each rank (tests/test_distributed.py makes a real one)."""
    config = write_config(tmp_path, steps=2)
    out = tmp_path / "run"
    train(config, out, progress=False)
    payload = load_checkpoint(out / "checkpoint.pt")
    payload["generators"] = payload["generators"] * 2
    payload["replays"] = payload["replays"] * 2
    save_checkpoint(out / "checkpoint.pt", {k: v for k, v in payload.items() if k != "format"})
    samples = tmp_path / "s.csv"
    assert main(["sample", "--run", str(out), "-n", "5", "--out", str(samples)]) == 0
    assert len(list(csv.DictReader(samples.open()))) == 5
    assert main(["report", str(samples), "--run", str(out), "--out", str(tmp_path / "r")]) == 0
    # Only continuing the training needs the same number of processes.
    assert main(["train", "--out", str(out), "--resume", "--steps", "4"]) == 2
    assert "written by 2 process(es); resume it with the same number" in capsys.readouterr().err
