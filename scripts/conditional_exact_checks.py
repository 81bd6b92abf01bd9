"""Measure a conditional Crystal-GFN against R/Z on restrictions it never saw in training.

One conditional model is trained once on the enumerable stack of tests/test_gflownet_exact.py
("spacegroup 1-12 + composition Li-O, <= 3 atoms"), conditioned on the space groups (any
subset of the 11 that fit Li-O) and the maximum atoms per element (1-3), over a pool of
training restrictions. Then, for the unrestricted space and 24 restrictions drawn from the
same family but *not* in the pool, the exact distribution of the sampler (by enumerating every
trajectory) is compared with R/Z restricted exactly: total variation, and the model's
log Z(r) against the true one. Prints one line per restriction and writes the JSON given by
--out.

Run: .venv/bin/python scripts/conditional_exact_checks.py [--pool 256 --steps 4000 ...]
(about 11 minutes on one core with the defaults)
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import crystalgfn
import torch
from crystalgfn.config import conditional_env
from crystalgfn.errors import InfeasibleError
from crystalgfn.evaluation import conditional_exact_check
from crystalgfn.trainer import TrainSettings


def stack():
    return crystalgfn.make_env(
        "spacegroup+composition",
        spacegroup={"space_groups": "1-12"},
        composition={"elements": ["Li", "O"], "max_atoms_per_element": 3},
    )


def log_reward(values):
    return 0.4 * torch.cos(values["spacegroup"].double()) + 0.3 * values[
        "composition"
    ].double().sum(1)


def unseen_restrictions(env, count: int, seed: int) -> list[dict]:
    """``count`` distinct feasible members of ``env``'s family outside its training pool."""
    generator = torch.Generator().manual_seed(seed)
    found, keys = [], set()
    while len(found) < count:
        restriction = env.family.draw(generator)
        key = env.family.key(restriction)
        if key in keys or env.trained_on(restriction):
            continue
        try:
            env.base.restrict(**env.family.arguments(restriction))
        except InfeasibleError:
            continue
        keys.add(key)
        found.append(env.family.arguments(restriction))
    return found


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=4000)
    parser.add_argument("--pool", type=int, default=256)
    parser.add_argument("--per-batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--batch-size", type=int, default=128)
    parser.add_argument("--lr", type=float, default=5e-3)
    parser.add_argument("--unseen", type=int, default=24)
    parser.add_argument("--seen", type=int, default=8)
    parser.add_argument(
        "--hide-settled", action=argparse.BooleanOptionalAction, default=True,
        help="hide the space groups from the policy once one is chosen ([conditioning] "
        "hide_settled; default on)",
    )
    parser.add_argument("--out")
    args = parser.parse_args()
    torch.set_num_threads(1)
    env = conditional_env(
        stack(),
        {
            "restrictions": ["space_groups", "max_atoms_per_element"],
            "pool": args.pool,
            "per_batch": args.per_batch,
            "hide_settled": args.hide_settled,
        },
    )
    # A few training restrictions too: whether a gap on unseen ones is generalisation or
    # training.
    seen = [env.family.arguments(env.restriction(i)) for i in env.pool[1 : 1 + args.seen]]
    restrictions = [{}, *seen, *unseen_restrictions(env, args.unseen, seed=12345)]
    settings = TrainSettings(
        steps=args.steps, batch_size=args.batch_size, lr=args.lr, lr_log_z=0.1,
        lr_schedule="cosine", hidden=args.hidden, layers=2, seed=0,
    )
    load = os.getloadavg()
    start = time.perf_counter()
    results = conditional_exact_check(
        env, log_reward, "tb", settings, restrictions, sampled=1000
    )
    seconds = time.perf_counter() - start
    print(f"{'TV exact':>9} {'dlog Z':>8} {'sampled':>8} {'support':>7}  restriction")
    for r in results:
        seen = "" if r["trained_on"] else "  (unseen)"
        print(
            f"{r['tv_exact']:9.4f} {r['log_z'] - r['true_log_z']:+8.4f} "
            f"{r['sampled_log_z'] - r['true_log_z']:+8.4f} {r['support']:7d}  "
            f"{r['restriction']}{seen}"
        )
    unseen = [r for r in results if not r["trained_on"]]
    trained = [r for r in results if r["trained_on"]]
    tv = [r["tv_exact"] for r in unseen]
    summary = {
        "settings": vars(args),
        "seconds": round(seconds, 1),
        "load_average_start": load,
        "unseen": len(unseen),
        "unseen_tv_median": statistics.median(tv),
        "unseen_tv_max": max(tv),
        "unseen_within_0.03": sum(t <= 0.03 for t in tv),
        "unseen_log_z_error_max": max(abs(r["log_z"] - r["true_log_z"]) for r in unseen),
        "unseen_sampled_log_z_error_max": max(
            abs(r["sampled_log_z"] - r["true_log_z"]) for r in unseen
        ),
        "trained_tv_max": max(r["tv_exact"] for r in trained),
        "trained_tv_median": statistics.median(r["tv_exact"] for r in trained),
        "results": results,
    }
    print({k: v for k, v in summary.items() if k != "results"})
    if args.out:
        with open(args.out, "w", encoding="utf-8") as handle:
            json.dump(summary, handle, indent=1)
            handle.write("\n")


if __name__ == "__main__":
    main()
