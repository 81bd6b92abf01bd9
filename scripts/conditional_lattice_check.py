"""Measure a conditional lattice sampler with a KS test on length ranges it never saw.

A cubic lattice (a in [2, 8] Å, target a ~ normal(4, 0.8) truncated, as in
tests/test_gflownet_exact.py) conditioned on ``lengths``, trained once over a pool of ranges;
then, for 20 sub-ranges outside the pool, 20,000 samples are compared with the truncated
normal on that range (Kolmogorov–Smirnov at the 1 % level) and log Z(range) with the true one.

Run: .venv/bin/python scripts/conditional_lattice_check.py [--steps 7000 --pool 512 --per-batch 16
--hidden 128 --lr 3e-3 --lr-schedule cosine]   (about 3 minutes on one core)
"""

from __future__ import annotations

import argparse
import math
import time

import crystalgfn
import torch
from crystalgfn.config import conditional_env
from crystalgfn.trainer import Trainer, TrainSettings, sample_policy

LOW, HIGH, MU, SIGMA = 2.0, 8.0, 4.0, 0.8


def reward(values):
    a = values["lattice"][:, 0].double()
    return -((a - MU) ** 2) / (2 * SIGMA**2), {}


def truncated_cdf(x: torch.Tensor, low: float, high: float) -> torch.Tensor:
    scale = SIGMA * math.sqrt(2)
    at_low, at_high = math.erf((low - MU) / scale), math.erf((high - MU) / scale)
    return (torch.erf((x - MU) / scale) - at_low) / (at_high - at_low)


def true_log_z(low: float, high: float) -> float:
    """log of ∫ R da / (high - low): densities are against the uniform measure on the range."""
    scale = SIGMA * math.sqrt(2)
    mass = (
        SIGMA * math.sqrt(math.pi / 2)
        * (math.erf((high - MU) / scale) - math.erf((low - MU) / scale))
    )
    return math.log(mass / (high - low))


def ks_statistic(sample: torch.Tensor, low: float, high: float) -> float:
    a = sample.double().sort().values
    n = a.shape[0]
    empirical = torch.arange(1, n + 1, dtype=torch.float64) / n
    cdf = truncated_cdf(a, low, high)
    return max(float((empirical - cdf).abs().max()), float((cdf - empirical + 1 / n).abs().max()))


def conditional_trainer(
    steps: int = 7000,
    pool: int = 512,
    per_batch: int = 16,
    hidden: int = 128,
    lr: float = 3e-3,
    lr_schedule: str = "cosine",
) -> Trainer:
    """The check's model, untrained: the cubic lattice conditioned on ``lengths`` over a pool
    of ``pool`` ranges, ``per_batch`` of them a batch of 128 (0: the lattice without
    conditioning, as a reference for bench/conditional_step_cost.py)."""
    env = crystalgfn.make_env("lattice", lattice_system="cubic", min_length=LOW, max_length=HIGH)
    if per_batch:
        env = conditional_env(
            env, {"restrictions": ["lengths"], "pool": pool, "per_batch": per_batch}
        )
    settings = TrainSettings(
        steps=steps, batch_size=128, lr=lr, lr_log_z=0.05, hidden=hidden, layers=2,
        lr_schedule=lr_schedule,
    )
    return Trainer(env, reward, crystalgfn.make_loss("tb"), settings)


def check(ranges: int = 20, samples: int = 20_000, **model) -> list[dict]:
    """Train one conditional model (``model``: the arguments of :func:`conditional_trainer`)
    and measure it on ``ranges`` unseen length ranges: one dict per range with ``lengths``,
    ``ks``, ``critical`` (1 % level) and ``log_z_error``."""
    trainer = conditional_trainer(**model)
    env = trainer.env
    trainer.train()
    generator = torch.Generator().manual_seed(7)
    unseen = []
    while len(unseen) < ranges:
        drawn = env.family.draw(generator)
        if not env.trained_on(drawn) and drawn["lengths"] != env.family.full()["lengths"]:
            unseen.append(drawn["lengths"])
    results = []
    for low, high in unseen:
        pinned = env.restrict(lengths=(low, high))
        generator = torch.Generator().manual_seed(1)
        done = sample_policy(pinned, trainer.policy, samples, 5_000, generator)
        log_z = trainer.loss.estimate_log_z(pinned, trainer.policy, "cpu")
        results.append({
            "lengths": (low, high),
            "ks": ks_statistic(pinned.values(done)["lattice"][:, 0], low, high),
            "critical": 1.63 / math.sqrt(samples),
            "log_z_error": log_z - true_log_z(low, high),
        })
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=7000)
    parser.add_argument("--pool", type=int, default=512)
    parser.add_argument("--ranges", type=int, default=20)
    parser.add_argument("--per-batch", type=int, default=16)
    parser.add_argument("--hidden", type=int, default=128)
    parser.add_argument("--lr", type=float, default=3e-3)
    parser.add_argument("--lr-schedule", default="cosine", choices=["constant", "cosine"])
    args = parser.parse_args()
    torch.set_num_threads(1)
    start = time.perf_counter()
    results = check(
        args.ranges, steps=args.steps, pool=args.pool, per_batch=args.per_batch,
        hidden=args.hidden, lr=args.lr, lr_schedule=args.lr_schedule,
    )
    print(f"trained and measured in {time.perf_counter() - start:.0f} s")
    for r in results:
        low, high = r["lengths"]
        verdict = "pass" if r["ks"] < r["critical"] else "FAIL"
        print(
            f"lengths {low:.3f}-{high:.3f} Å: KS {r['ks']:.4f} (1 % critical {r['critical']:.4f}) "
            f"{verdict}; log Z error {r['log_z_error']:+.4f}"
        )
    passed = sum(r["ks"] < r["critical"] for r in results)
    print(f"{passed} of {len(results)} unseen ranges pass")


if __name__ == "__main__":
    main()
