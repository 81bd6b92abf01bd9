"""Training throughput of the main job's config (trajectories per second).

Usage::

    .venv/bin/python bench/train_throughput.py [--config configs/formation_energy.toml]
        [--steps 40] [--warmup 10] [--repeats 2] [--checkpoint RUN/checkpoint.pt]
        [--label after] [--out bench/train_throughput.json]

Builds the trainer of ``--config`` as ``crystalgfn train`` does (one torch thread), runs
``--warmup`` untimed steps, then times ``--steps`` steps of ``Trainer.train`` and reports
seconds per step and trajectories per second (median of ``--repeats`` repeats, each a fresh
trainer, in this process). ``--checkpoint`` starts from a trained run's model, optimiser and
replay buffer: a trained policy's batches differ from those of a fresh one (the main job's
3,000 steps are mostly the former). The step count of the config is not used, but the
learning-rate schedule is the short one of the timed steps (it does not change the cost).

A "before" measurement of the plugins is the same script with the older plugin sources put
ahead on ``PYTHONPATH`` (see docs/performance.md, "Training throughput of the main job").
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import sys
import time
from pathlib import Path

import attrs
import torch
from crystalgfn.checkpoint import load_checkpoint
from crystalgfn.config import RunConfig
from crystalgfn.run import build_trainer


def measure(config: RunConfig, steps: int, warmup: int, checkpoint: str | None) -> float:
    trainer = build_trainer(config, None, steps=1)
    if checkpoint:
        trainer.load_state_dict(load_checkpoint(checkpoint))
    trainer.settings = attrs.evolve(trainer.settings, steps=trainer.step + warmup)
    trainer.train()
    trainer.settings = attrs.evolve(trainer.settings, steps=trainer.step + steps)
    start = time.perf_counter()
    trainer.train()
    return (time.perf_counter() - start) / steps


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--config", default="configs/formation_energy.toml")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--warmup", type=int, default=10)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--checkpoint")
    parser.add_argument("--label", default="current")
    parser.add_argument("--out")
    args = parser.parse_args()
    config = RunConfig.from_file(args.config)
    batch = int(config.raw.get("batch_size", 64))
    load_start = os.getloadavg()
    seconds = [
        measure(config, args.steps, args.warmup, args.checkpoint) for _ in range(args.repeats)
    ]
    per_step = statistics.median(seconds)
    result = {
        "label": args.label,
        "config": args.config,
        "checkpoint": args.checkpoint,
        "batch_size": batch,
        "steps": args.steps,
        "warmup": args.warmup,
        "s_per_step": [round(s, 4) for s in seconds],
        "median_s_per_step": round(per_step, 4),
        "trajectories_per_s": round(batch / per_step, 1),
        "projected_3000_steps_s": round(3000 * per_step, 1),
        "load_average_start": load_start,
        "load_average_end": os.getloadavg(),
        "machine": {
            "python": platform.python_version(),
            "torch": torch.__version__,
            "threads": torch.get_num_threads(),
            "cpus": os.cpu_count(),
            "plugins_from": sys.modules["crystalgfn_lattice"].__file__
            if "crystalgfn_lattice" in sys.modules else None,
        },
    }
    print(json.dumps(result))
    if args.out:
        out = Path(args.out)
        runs = json.loads(out.read_text()) if out.exists() else []
        out.write_text(json.dumps([*runs, result], indent=1) + "\n")


if __name__ == "__main__":
    main()
