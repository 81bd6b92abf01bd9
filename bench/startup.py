"""Whole-command timings of the ``crystalgfn`` CLI, with a cold and a warm table cache.

Usage::

    .venv/bin/python bench/startup.py [--repeats R] [--out bench/startup.json]

Each command runs as a separate process, exactly as a user types it, and is timed from
process start to exit (wall clock). "cold" gives every repeat an empty table cache
(``CRYSTALGFN_CACHE_DIR`` pointing at a fresh folder), so the environment's tables are
computed; "warm" reuses a cache the untimed warm-up filled. ``python -c "import torch"`` is
measured too: it is the floor of every command that touches a model.

``sample --run`` needs a trained run: the script trains one for a single step from
``configs/formation_energy.toml`` (the main job's network, 3 x 256; sampling costs the same
whatever its weights). The load average before and after is recorded: compare numbers only
when it is well below the number of cores.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

from harness import machine_record, timed

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "crystalgfn"]


def commands(run: Path, scratch: Path) -> dict[str, list[str]]:
    return {
        "python -c 'import torch'": [sys.executable, "-c", "import torch"],
        "crystalgfn --help": [*CLI, "--help"],
        "crystalgfn plugins": [*CLI, "plugins"],
        "crystalgfn sample --policy uniform -n 100": [
            *CLI, "sample", "--policy", "uniform", "-n", "100", "--out", str(scratch / "u.csv"),
        ],
        "crystalgfn sample --run RUN -n 10000": [
            *CLI, "sample", "--run", str(run), "-n", "10000", "--out", str(scratch / "r.csv"),
        ],
        "crystalgfn --threads 2 sample --run RUN -n 10000": [
            *CLI, "--threads", "2", "sample", "--run", str(run), "-n", "10000",
            "--out", str(scratch / "r2.csv"),
        ],
    }


def timed_with_cache(argv: list[str], cache: Path) -> float:
    """Seconds of ``argv`` with its table cache in ``cache``."""
    return timed(argv, {"CRYSTALGFN_CACHE_DIR": str(cache)})


def train_run(scratch: Path) -> Path:
    run = scratch / "run"
    subprocess.run(
        [*CLI, "train", "--config", str(ROOT / "configs" / "formation_energy.toml"),
         "--out", str(run), "--steps", "1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
        env={**os.environ, "CRYSTALGFN_CACHE_DIR": str(scratch / "train-cache")},
    )
    return run


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "startup.json")
    args = parser.parse_args()

    scratch = Path(tempfile.mkdtemp(prefix="crystalgfn-startup-"))
    load_before = os.getloadavg()
    run = train_run(scratch)
    rows = []
    for label, argv in commands(run, scratch).items():
        warm_cache = scratch / f"warm-{len(rows)}"
        timed_with_cache(argv, warm_cache)  # untimed warm-up: fills the cache and the OS file cache
        warm = [timed_with_cache(argv, warm_cache) for _ in range(args.repeats)]
        cold = []
        for repeat in range(args.repeats):
            cold_cache = scratch / f"cold-{len(rows)}-{repeat}"
            cold.append(timed_with_cache(argv, cold_cache))
            shutil.rmtree(cold_cache, ignore_errors=True)
        row = {
            "command": label,
            "warm_s": round(statistics.median(warm), 3),
            "cold_s": round(statistics.median(cold), 3),
            "warm_all_s": [round(t, 3) for t in warm],
            "cold_all_s": [round(t, 3) for t in cold],
        }
        rows.append(row)
        print(f"{label:<52} warm {row['warm_s']:6.2f} s   cold {row['cold_s']:6.2f} s", flush=True)
    load_after = os.getloadavg()
    shutil.rmtree(scratch, ignore_errors=True)

    result = {
        "machine": machine_record(load_before, load_after),
        "repeats": args.repeats,
        "statistic": "median wall-clock seconds of the whole process",
        "commands": rows,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} (load average before {load_before[0]:.2f}, after {load_after[0]:.2f})")


if __name__ == "__main__":
    main()
