"""Measure a conditional Crystal-GFN against R/Z on restrictions it never saw in training.

Two cases (``--case``):

* ``stack`` (default): one conditional model on the enumerable stack of
  tests/test_gflownet_exact.py ("spacegroup 1-12 + composition Li-O, <= 3 atoms"),
  conditioned on the space groups (any subset of the 11 that fit Li-O) and the maximum atoms
  per element (1-3), over a pool of training restrictions.
* ``systems``: the space-group environment on 26 groups spanning the 7 crystal systems,
  conditioned on the crystal systems (any of the 127 non-empty subsets; the paper's "only
  cubic groups" is one), over a pool of 64 of them. The test suite runs this case with its
  defaults.

Then, for the unrestricted space, a few training restrictions (``--seen``) and ``--unseen``
restrictions drawn from the same family but *not* in the pool, the exact distribution of the
sampler (by enumerating every trajectory) is compared with R/Z restricted exactly: total
variation, and the model's log Z(r) against the true one. Prints one line per restriction
and writes the JSON given by --out.

Run: .venv/bin/python scripts/conditional_exact_checks.py [--case systems] [--pool 256 ...]
(about 11 minutes on one core with the stack's defaults; about a minute for systems)
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


#: Two to four groups of each crystal system: triclinic 1-2, monoclinic 3-6, orthorhombic
#: 16-19, tetragonal 75-78, trigonal 143-146, hexagonal 168-171, cubic 195-198.
SYSTEM_GROUPS = "1-6,16-19,75-78,143-146,168-171,195-198"


def systems():
    return crystalgfn.make_env("spacegroup", space_groups=SYSTEM_GROUPS)


def systems_log_reward(values):
    return 1.5 * torch.sin(values["spacegroup"].double())


#: case -> (environment, restriction names, log-reward, default settings)
CASES = {
    "stack": (
        stack, ["space_groups", "max_atoms_per_element"], log_reward,
        {"steps": 4000, "pool": 256, "per_batch": 16, "hidden": 128, "batch_size": 128,
         "lr": 5e-3, "unseen": 24, "seen": 8},
    ),
    "systems": (
        systems, ["crystal_systems"], systems_log_reward,
        {"steps": 3000, "pool": 64, "per_batch": 4, "hidden": 64, "batch_size": 64,
         "lr": 1e-2, "unseen": 20, "seen": 4},
    ),
}


def conditional_case(case: str, pool: int, per_batch: int, hide_settled: bool = True):
    """``(env, log_reward)``: the conditional environment of ``case`` and its log-reward."""
    make, names, reward, _ = CASES[case]
    env = conditional_env(
        make(),
        {"restrictions": names, "pool": pool, "per_batch": per_batch,
         "hide_settled": hide_settled},
    )
    return env, reward


def case_settings(steps: int, batch_size: int, lr: float, hidden: int) -> TrainSettings:
    """The training settings of the checks (2-layer MLP, cosine schedule, seed 0)."""
    return TrainSettings(
        steps=steps, batch_size=batch_size, lr=lr, lr_log_z=0.1, lr_schedule="cosine",
        hidden=hidden, layers=2, seed=0,
    )


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
    parser.add_argument("--case", choices=sorted(CASES), default="stack")
    parser.add_argument("--steps", type=int)
    parser.add_argument("--pool", type=int)
    parser.add_argument("--per-batch", type=int)
    parser.add_argument("--hidden", type=int)
    parser.add_argument("--batch-size", type=int)
    parser.add_argument("--lr", type=float)
    parser.add_argument("--unseen", type=int)
    parser.add_argument("--seen", type=int)
    parser.add_argument(
        "--hide-settled", action=argparse.BooleanOptionalAction, default=True,
        help="hide a restriction from the policy where it is settled, e.g. the space groups "
        "once one is chosen ([conditioning] hide_settled; default on)",
    )
    parser.add_argument("--out")
    args = parser.parse_args()
    for key, value in CASES[args.case][3].items():  # the case's defaults
        if getattr(args, key) is None:
            setattr(args, key, value)
    torch.set_num_threads(1)
    env, reward = conditional_case(args.case, args.pool, args.per_batch, args.hide_settled)
    # A few training restrictions too: whether a gap on unseen ones is generalisation or
    # training.
    seen = [env.family.arguments(env.restriction(i)) for i in env.pool[1 : 1 + args.seen]]
    restrictions = [{}, *seen, *unseen_restrictions(env, args.unseen, seed=12345)]
    settings = case_settings(args.steps, args.batch_size, args.lr, args.hidden)
    load = os.getloadavg()
    start = time.perf_counter()
    results = conditional_exact_check(env, reward, "tb", settings, restrictions, sampled=1000)
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
