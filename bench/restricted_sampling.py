"""Restricted sampling from one conditional model: the paper's cases A–D as whole commands.

Usage::

    .venv/bin/python bench/restricted_sampling.py [--run RUN] [-n 2000] [--repeats 3]
        [--threads T] [--out bench/restricted_sampling.json]

Each case runs as the command a user types,
``crystalgfn --threads T sample --run RUN -n N <the case's flags>`` (without ``--threads``:
the command's default, one thread per core), timed from process start
to exit (wall clock, warm table cache: an untimed warm-up fills it), the effective-sample-size
measurement included. ``python -c "import torch"`` is timed too: the floor of every command
that loads a model. Then, in one process, the parts of a case (building the restricted
environment, sampling with the ESS measured on the first 1,000 crystals, describing the
crystals and scoring them), which is what each further restriction costs a user who keeps the
model loaded (Python API).

``--run``: a run trained from ``configs/conditional_cases.toml``
(``CONFIG=configs/conditional_cases.toml bash scripts/run_conditional_cases.sh``). Without it
the script trains that config for one step in a scratch folder: the cost of sampling does not
depend on the weights. The load average before and after is recorded: compare numbers only
when it is well below the number of cores, and from the same machine and hour.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import tomllib
from harness import machine_record, timed

ROOT = Path(__file__).resolve().parents[1]
CLI = [sys.executable, "-m", "crystalgfn"]
CONFIG = ROOT / "configs" / "conditional_cases.toml"
#: The paper's restricted cases, each read from its per-restriction config's [restrictions].
CASE_CONFIGS = {
    "A": "restricted_fe_o", "B": "restricted_li_mn_o", "C": "restricted_cubic",
    "D": "restricted_lattice",
}


def cases() -> dict[str, tuple[list[str], dict]]:
    """Each case's label, ``crystalgfn sample`` flags and ``restrict`` keyword arguments."""
    from crystalgfn.restrictions import as_flags, from_config

    out = {}
    for letter, name in CASE_CONFIGS.items():
        table = tomllib.loads((ROOT / "configs" / f"{name}.toml").read_text())["restrictions"]
        restriction = from_config(table, where=f"configs/{name}.toml [restrictions]")
        flags = as_flags(restriction)
        out[f"{letter}: {' '.join(flags)}"] = (flags, restriction)
    return out


def one_step_run(scratch: Path) -> Path:
    run = scratch / "run"
    subprocess.run(
        [*CLI, "train", "--config", str(CONFIG), "--out", str(run), "--steps", "1"],
        check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
    )
    return run


def whole_commands(
    run: Path, n: int, repeats: int, threads: int | None, scratch: Path
) -> list[dict]:
    rows = []
    floor = [sys.executable, "-c", "import torch"]
    timed(floor)
    times = [timed(floor) for _ in range(repeats)]
    rows.append({"command": "python -c 'import torch'", "median_s": statistics.median(times),
                 "all_s": times})
    for label, (flags, _) in cases().items():
        threading = [] if threads is None else ["--threads", str(threads)]
        argv = [*CLI, *threading, "sample", "--run", str(run), "-n", str(n), *flags,
                "--out", str(scratch / "samples.csv")]
        timed(argv)  # warm-up: the table cache and the OS file cache
        times = [timed(argv) for _ in range(repeats)]
        rows.append({"command": f"sample {label}", "flags": flags,
                     "median_s": statistics.median(times), "all_s": times})
        print(f"{rows[-1]['command']:<48} {rows[-1]['median_s']:6.2f} s", flush=True)
    return rows


def in_process(run: Path, n: int, threads: int | None) -> dict:
    """Seconds of each part of a case with the model loaded once."""
    import torch
    from crystalgfn.run import load_run, sample_model

    torch.set_num_threads(threads or os.cpu_count() or 1)
    start = time.perf_counter()
    model = load_run(run)
    parts = {"load_run_s": time.perf_counter() - start, "cases": {}}
    for label, (_, restriction) in cases().items():
        start = time.perf_counter()
        model.env.restrict(**restriction)  # built once: sample_model below finds it memoised
        built = time.perf_counter()
        samples = sample_model(model, n, restriction)
        done = time.perf_counter()
        parts["cases"][label] = {
            "restrict_s": built - start,
            "sample_describe_score_ess_s": done - built,
            "ess_fraction": samples.quality["ess_fraction"],
        }
        print(f"in process {label:<40} restrict {built - start:5.2f} s, "
              f"sample {done - built:5.2f} s", flush=True)
    return parts


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", type=Path, help="a conditional run (default: 1 step, scratch)")
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, help="torch threads (default: one per core)")
    parser.add_argument("--out", type=Path, default=ROOT / "bench" / "restricted_sampling.json")
    args = parser.parse_args()
    for name in ("n", "repeats", "threads"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            parser.error(f"--{name} must be a positive integer, got {getattr(args, name)}")
    if args.run is not None and not (args.run / "checkpoint.pt").is_file():
        parser.error(f"--run {args.run}: no checkpoint.pt there (train one first)")

    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="crystalgfn-restricted-") as folder:
        scratch = Path(folder)
        run = args.run or one_step_run(scratch)
        commands = whole_commands(run, args.n, args.repeats, args.threads, scratch)
        parts = in_process(run, args.n, args.threads)
    load_after = os.getloadavg()

    result = {
        "machine": machine_record(load_before, load_after),
        "run": str(args.run) if args.run else f"{CONFIG.name}, trained 1 step",
        "n": args.n,
        "repeats": args.repeats,
        "threads": args.threads or f"one per core ({os.cpu_count()})",
        "statistic": "median wall-clock seconds of the whole process",
        "commands": commands,
        "in_process": parts,
    }
    args.out.write_text(json.dumps(result, indent=2) + "\n")
    print(f"wrote {args.out} (load average before {load_before[0]:.2f}, "
          f"after {load_after[0]:.2f})")


if __name__ == "__main__":
    main()
