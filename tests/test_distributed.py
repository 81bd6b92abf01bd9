"""Multi-process training with torchrun (gloo on CPU): ranks stay identical and resume works.
Throughput scaling is measured by ``bench/scaling.py``, not asserted here (timings depend on
what else the machine runs)."""

import json
import subprocess
import sys
from pathlib import Path

import pytest
import torch
from crystalgfn.checkpoint import load_checkpoint

#: The run bench/scaling.py times (crystal stack, Li-Fe-O-S, density reward, 40 steps).
CONFIG = Path(__file__).resolve().parents[1] / "bench" / "distributed.toml"


def torchrun(processes: int, *args: str) -> None:
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", "-m", "crystalgfn", "train", *args]
    result = subprocess.run(command, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_two_processes_train_one_model(tmp_path):
    torchrun(2, "--config", str(CONFIG), "--out", str(tmp_path / "two"))
    # The trainer compares parameter checksums of all ranks at every checkpoint and fails
    # if they differ; reaching the end means the ranks stayed identical.
    payload = load_checkpoint(tmp_path / "two" / "checkpoint.pt")
    assert payload["step"] == 40 and len(payload["generators"]) == 2
    lines = (tmp_path / "two" / "metrics.jsonl").read_text().splitlines()
    steps = [json.loads(line)["step"] for line in lines]
    assert steps == list(range(1, 41)), "only rank 0 writes metrics, once per step"


@pytest.mark.slow(seconds=40)
def test_distributed_resume_matches_an_uninterrupted_run(tmp_path):
    torchrun(2, "--config", str(CONFIG), "--out", str(tmp_path / "straight"), "--steps", "20")
    torchrun(2, "--config", str(CONFIG), "--out", str(tmp_path / "split"), "--steps", "10")
    torchrun(2, "--out", str(tmp_path / "split"), "--resume", "--steps", "20")
    straight = load_checkpoint(tmp_path / "straight" / "checkpoint.pt")
    resumed = load_checkpoint(tmp_path / "split" / "checkpoint.pt")
    assert resumed["step"] == straight["step"] == 20
    for name, value in straight["policy"].items():
        assert torch.equal(value, resumed["policy"][name]), name


@pytest.mark.slow
def test_a_two_process_run_is_sampled_and_reported_by_one_process(tmp_path):
    from crystalgfn.cli import main

    torchrun(2, "--config", str(CONFIG), "--out", str(tmp_path / "two"), "--steps", "2")
    samples = tmp_path / "samples.csv"
    assert main(["sample", "--run", str(tmp_path / "two"), "-n", "20", "--out", str(samples)]) == 0
    assert len(samples.read_text().splitlines()) == 21
    report = tmp_path / "report"
    assert main(["report", str(samples), "--run", str(tmp_path / "two"), "--out", str(report)]) == 0
    assert json.loads((report / "metrics.json").read_text())["samples"]["n"] == 20
