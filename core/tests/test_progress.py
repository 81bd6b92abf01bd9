"""Progress lines of long commands: elapsed time and ETA, every ~5 % when not on a terminal."""

from __future__ import annotations

import io
import re

import pytest
from crystalgfn.progress import Progress, clock
from crystalgfn.trainer import _progress


@pytest.mark.parametrize(
    "seconds, text", [(0.4, "0s"), (42, "42s"), (185, "3m05s"), (3725, "1h02m"), (-3, "0s")]
)
def test_clock(seconds, text):
    assert clock(seconds) == text


def test_a_line_per_five_percent_with_elapsed_and_eta():
    stream = io.StringIO()  # not a terminal
    counter = Progress("structures", 200, "built", stream=stream)
    for _ in range(200):
        counter.advance()
    lines = stream.getvalue().splitlines()
    assert len(lines) == 20
    assert lines[0].startswith("structures 10/200 built (5%) elapsed ")
    assert all(re.search(r"elapsed \d+s ETA \d+s$", line) for line in lines)
    assert lines[-1].startswith("structures 200/200 built (100%)")


def test_a_batch_larger_than_five_percent_gives_one_line_and_disabled_writes_nothing():
    stream = io.StringIO()
    counter = Progress("sample", 1000, "crystals", stream=stream)
    counter.advance(1000)
    assert stream.getvalue().count("\n") == 1 and "1000/1000" in stream.getvalue()
    quiet = io.StringIO()
    Progress("sample", 10, enabled=False, stream=quiet).advance(10)
    assert quiet.getvalue() == ""


def test_training_lines_without_a_terminal_give_the_eta(capsys):
    metrics = {"loss": 1.5, "log_z": 2.0, "mean_log_reward": -1.0, "trajectories_per_s": 100.0}
    for step in range(1, 41):
        _progress(step, 40, metrics, elapsed=step * 0.5)
    lines = capsys.readouterr().err.splitlines()
    assert len(lines) == 20 and lines[0].startswith("step 2/40 (5%) loss 1.500 logZ 2.00")
    assert lines[0].endswith("elapsed 1s ETA 19s")  # 0.5 s a step, 38 steps left
    # resumed at step 30: the rate is that of this launch's steps
    _progress(32, 40, metrics, elapsed=4.0, start=30)
    assert capsys.readouterr().err.strip().endswith("elapsed 4s ETA 16s")
