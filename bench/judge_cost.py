"""What judging costs: ``crystalgfn evaluate`` timed as a whole command, and per FIRE step.

Usage::

    .venv/bin/python bench/judge_cost.py [--input data/mp_validation.csv] [--n 8]
        [--jobs 2] [--steps 100] [--max-seconds 60] [--label now]
        [--out bench/judge_cost.json]

It runs ``crystalgfn evaluate INPUT --n N --jobs J --steps S --max-seconds M`` in a fresh
folder (for the default input, restricted to the paper's 22 elements: validation crystals
rebuilt from their parameters, as the main job judges them) and records the wall time of
the command, the per-row seconds and FIRE steps of ``evaluation.csv``, and the load average
before and after. The result is added under ``--label`` to ``--out``, so that two versions
of the code can be compared in one file: run it once with ``PYTHONPATH`` pointing at the
older sources' ``src`` folders, once without. Compare labels only when the loads are alike
and well below the number of cores.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PAPER_ELEMENTS = "H,Li,B,C,N,O,F,Na,Mg,Al,Si,P,S,Cl,K,V,Mn,Fe,Co,Ni,Cu,Se"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--input", default=str(ROOT / "data" / "mp_validation.csv"))
    parser.add_argument("--n", type=int, default=8)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--max-seconds", type=float, default=60.0)
    parser.add_argument("--label", default="now")
    parser.add_argument("--out", default=str(ROOT / "bench" / "judge_cost.json"))
    args = parser.parse_args()

    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch) / "judge"
        argv = [sys.executable, "-m", "crystalgfn", "evaluate", args.input, "--n", str(args.n),
                "--jobs", str(args.jobs), "--steps", str(args.steps),
                "--max-seconds", str(args.max_seconds), "--out", str(folder)]
        if Path(args.input).name == "mp_validation.csv":
            argv += ["--elements", PAPER_ELEMENTS]
        load_before = os.getloadavg()
        start = time.perf_counter()
        returncode = subprocess.run(argv, stdout=subprocess.DEVNULL).returncode
        wall = time.perf_counter() - start
        if returncode:  # evaluate has named the bad argument on stderr
            raise SystemExit(f"judge_cost.py: crystalgfn evaluate exited with {returncode}")
        load_after = os.getloadavg()
        with (folder / "evaluation.csv").open() as stream:
            rows = list(csv.DictReader(stream))

    seconds = [float(row["seconds"]) for row in rows]
    steps = [int(row["steps"]) for row in rows if row["steps"]]
    result = {
        "command": " ".join(["crystalgfn", *argv[3:]]).replace(str(ROOT) + "/", ""),
        "pythonpath": os.environ.get("PYTHONPATH", ""),
        "wall_seconds": round(wall, 2),
        "rows": len(rows),
        "core_seconds_per_row": round(sum(seconds) / len(rows), 2),
        "fire_steps": sum(steps),
        "milliseconds_per_step": round(1000 * sum(seconds) / max(1, sum(steps)), 1),
        "energies_per_atom": [row["energy_per_atom"] for row in rows],
        "load_before": [round(x, 2) for x in load_before],
        "load_after": [round(x, 2) for x in load_after],
        "cpus": os.cpu_count(),
        "python": platform.python_version(),
        "date": time.strftime("%Y-%m-%d %H:%M:%S"),
    }
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    results[args.label] = result
    out.write_text(json.dumps(results, indent=1) + "\n")
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
