"""Throughput of multi-process training (torchrun, gloo on CPU) against one process.

Usage::

    .venv/bin/python bench/scaling.py [--processes 1,2] [--steps 40] [--out bench/scaling.json]

Trains ``bench/distributed.toml`` (crystal stack with Li-Fe-O-S compositions, density
reward, policy 2x64, batch 32 per process; also the run of ``tests/test_distributed.py``)
once per process count and
reports the median trajectories per second over all processes (``metrics.jsonl``, steps after
the first 5) and the speed-up over the first count. Run it on idle cores: other work on the
machine makes the processes wait for each other at every all-reduce.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

CONFIG = Path(__file__).resolve().parent / "distributed.toml"


def measure(processes: int, steps: int, workdir: Path) -> float:
    """Median trajectories per second (all processes together) after 5 warm-up steps."""
    out = workdir / f"p{processes}"
    command = [sys.executable, "-m", "torch.distributed.run", "--standalone",
               f"--nproc_per_node={processes}", "-m", "crystalgfn", "train",
               "--config", str(CONFIG), "--out", str(out), "--steps", str(steps)]
    result = subprocess.run(command, capture_output=True, text=True)
    if result.returncode != 0:
        raise SystemExit(f"training with {processes} process(es) failed:\n{result.stderr[-3000:]}")
    lines = [json.loads(line) for line in (out / "metrics.jsonl").read_text().splitlines()]
    return statistics.median(m["trajectories_per_s"] for m in lines[5:])


def process_counts(text: str) -> list[int]:
    """``"1,2"`` -> ``[1, 2]``; every count a positive integer."""
    try:
        counts = [int(part) for part in text.split(",")]
    except ValueError:
        counts = []
    if not counts or min(counts) < 1:
        raise argparse.ArgumentTypeError(
            f"expected comma-separated positive integers such as 1,2; got {text!r}"
        )
    return counts


def enough_steps(text: str) -> int:
    if not text.isdigit() or int(text) < 6:
        raise argparse.ArgumentTypeError(
            f"expected an integer >= 6 (5 warm-up steps are skipped); got {text!r}"
        )
    return int(text)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--processes", type=process_counts, default=[1, 2],
                        help="comma-separated process counts (default 1,2)")
    parser.add_argument("--steps", type=enough_steps, default=40,
                        help="training steps per run (default 40, at least 6)")
    parser.add_argument("--out", default="bench/scaling.json")
    args = parser.parse_args()
    counts = args.processes
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for n in counts:
            rate = measure(n, args.steps, Path(tmp))
            speedup = rate / rows[0]["trajectories_per_s"] if rows else 1.0
            rows.append({"processes": n, "trajectories_per_s": rate, "speedup": speedup})
            print(f"{n} process(es): {rate:8.0f} traj/s   speed-up {rows[-1]['speedup']:.2f}",
                  flush=True)
    result = {"steps": args.steps, "load_average": os.getloadavg(), "cores": os.cpu_count(),
              "results": rows}
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    main()
