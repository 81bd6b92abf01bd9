"""What a conditional training step costs, by how many restrictions one batch mixes.

Usage::

    .venv/bin/python bench/conditional_step_cost.py [--stack enumerable|crystal|lattice]
        [--per-batch 0,1,8,32] [--steps 100] [--per-restriction-draws]
        [--out bench/conditional_step_cost.json]

A conditional batch runs each of its restrictions' environments on that restriction's rows
(``ConditionalEnv`` groups the rows), so a step's cost grows with the number of restrictions
in the batch, not with the batch size. This times ``Trainer.train`` for ``--steps`` steps of
128 trajectories (one thread, the pool drawn and built before the clock starts) at each
``--per-batch`` (0: the same run without ``[conditioning]``), on the enumerable stack of
``scripts/conditional_exact_checks.py`` (``enumerable``) or on the crystal stack of
``configs/conditional.toml`` with a pool as large as the largest ``--per-batch``
(``crystal``), or on the cubic lattice conditioned on its length range of
``scripts/conditional_lattice_check.py`` with its pool of 512 ranges (``lattice``), and records
the load average around each measurement. Compare numbers only when the loads are alike and
below the core count.

``--per-restriction-draws`` turns off the base environment's ``restriction_free_params`` (the
lattice stack only), so that each restriction's rows draw their continuous parameters in a
call of their own, as every conditional step did before 2026-12-08: the same run, timed both
ways, measures what drawing a batch in one call saves. Its rows are recorded under
``lattice-per-restriction-draws``.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import sys
import time
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]


def _per_batch_list(text: str) -> list[int]:
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        values = []
    if not values or min(values) < 0:
        raise SystemExit(
            f"--per-batch must be integers >= 0 separated by commas (0: the same run without "
            f"conditioning), got {text!r}"
        )
    return values


def enumerable_trainer(per_batch: int, steps: int):
    sys.path.insert(0, str(ROOT / "scripts"))
    from conditional_exact_checks import log_reward, stack
    from crystalgfn.builders import make_loss
    from crystalgfn.config import conditional_env
    from crystalgfn.trainer import Trainer, TrainSettings

    env = stack()
    if per_batch:
        env = conditional_env(
            env,
            {"restrictions": ["space_groups", "max_atoms_per_element"], "pool": 256,
             "per_batch": per_batch},
        )
    settings = TrainSettings(
        steps=steps, batch_size=128, lr=5e-3, lr_log_z=0.1, lr_schedule="cosine", hidden=128,
        layers=2, seed=0,
    )
    return Trainer(env, lambda values: (log_reward(values), {}), make_loss("tb"), settings)


def crystal_trainer(per_batch: int, steps: int, pool: int):
    from crystalgfn.config import RunConfig
    from crystalgfn.run import build_trainer

    config = RunConfig.from_file(ROOT / "configs" / "conditional.toml")
    if per_batch:
        config.raw["conditioning"] = {**config.raw["conditioning"], "pool": pool,
                                      "per_batch": per_batch}
    else:
        del config.raw["conditioning"]
    return build_trainer(config, None, steps=steps)


def lattice_trainer(per_batch: int, steps: int, per_restriction_draws: bool):
    sys.path.insert(0, str(ROOT / "scripts"))
    from conditional_lattice_check import conditional_trainer

    trainer = conditional_trainer(steps=steps, per_batch=per_batch)
    if per_restriction_draws and per_batch:
        # Shadows the lattice class's True: one sample_params call per restriction group.
        trainer.env.base.restriction_free_params = False
    return trainer


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--stack", choices=["enumerable", "crystal", "lattice"], default="enumerable"
    )
    parser.add_argument("--per-batch", default="0,1,8,32")
    parser.add_argument("--steps", type=int, default=100)
    parser.add_argument("--per-restriction-draws", action="store_true")
    parser.add_argument("--out", default=str(ROOT / "bench" / "conditional_step_cost.json"))
    args = parser.parse_args()
    if args.steps < 1:
        raise SystemExit(f"--steps must be an integer >= 1, got {args.steps}")
    if args.per_restriction_draws and args.stack != "lattice":
        raise SystemExit(f"--per-restriction-draws applies to --stack lattice, not {args.stack}")
    per_batch = _per_batch_list(args.per_batch)
    torch.set_num_threads(1)
    rows = []
    for count in per_batch:
        if args.stack == "enumerable":
            trainer = enumerable_trainer(count, args.steps)
        elif args.stack == "lattice":
            trainer = lattice_trainer(count, args.steps, args.per_restriction_draws)
        else:
            trainer = crystal_trainer(count, args.steps, pool=max(max(per_batch), 1))
        # The pool is drawn and its restricted environments built before the clock starts.
        pool = len(trainer.env.pool) if count else 0
        load_before = os.getloadavg()
        start = time.perf_counter()
        trainer.train()
        seconds = time.perf_counter() - start
        row = {
            "per_batch": count, "pool": pool, "steps": args.steps, "batch_size": 128,
            "seconds_per_step": round(seconds / args.steps, 4),
            "load_before": [round(x, 2) for x in load_before],
            "load_after": [round(x, 2) for x in os.getloadavg()],
        }
        print(json.dumps(row), flush=True)
        rows.append(row)
    out = Path(args.out)
    results = json.loads(out.read_text()) if out.exists() else {}
    key = args.stack + ("-per-restriction-draws" if args.per_restriction_draws else "")
    results[key] = {
        "command": " ".join(["bench/conditional_step_cost.py", *sys.argv[1:]]),
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, torch {torch.__version__}",
        "rows": rows,
    }
    out.write_text(json.dumps(results, indent=1) + "\n")


if __name__ == "__main__":
    main()
