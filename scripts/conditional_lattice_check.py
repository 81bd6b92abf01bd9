"""Measure a conditional lattice sampler with a KS test on length ranges it never saw.

A cubic lattice (a in [2, 8] Å, target a ~ normal(4, 0.8) truncated, as in
tests/test_gflownet_exact.py) conditioned on ``lengths``, trained once over a pool of ranges;
then, for 20 sub-ranges outside the pool, 20,000 samples are compared with the truncated
normal on that range (Kolmogorov–Smirnov at the 1 % level) and log Z(range) with the true one.

Run: .venv/bin/python scripts/conditional_lattice_check.py [--steps 1500 --pool 32]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps", type=int, default=1500)
    parser.add_argument("--pool", type=int, default=32)
    parser.add_argument("--ranges", type=int, default=20)
    args = parser.parse_args()
    torch.set_num_threads(1)
    base = crystalgfn.make_env("lattice", lattice_system="cubic", min_length=LOW, max_length=HIGH)
    env = conditional_env(base, {"restrictions": ["lengths"], "pool": args.pool, "per_batch": 8})
    settings = TrainSettings(
        steps=args.steps, batch_size=128, lr=3e-3, lr_log_z=0.05, hidden=64, layers=2
    )
    trainer = Trainer(env, reward, crystalgfn.make_loss("tb"), settings)
    start = time.perf_counter()
    trainer.train()
    print(f"trained in {time.perf_counter() - start:.0f} s")
    generator = torch.Generator().manual_seed(7)
    ranges = []
    while len(ranges) < args.ranges:
        drawn = env.family.draw(generator)
        if not env.trained_on(drawn) and drawn["lengths"] != env.family.full()["lengths"]:
            ranges.append(drawn["lengths"])
    passed = 0
    for low, high in ranges:
        pinned = env.restrict(lengths=(low, high))
        generator = torch.Generator().manual_seed(1)
        done = sample_policy(pinned, trainer.policy, 20_000, 5_000, generator)
        statistic = ks_statistic(pinned.values(done)["lattice"][:, 0], low, high)
        critical = 1.63 / math.sqrt(20_000)
        log_z = trainer.loss.estimate_log_z(pinned, trainer.policy, "cpu")
        passed += statistic < critical
        print(
            f"lengths {low:.3f}-{high:.3f} Å: KS {statistic:.4f} (1 % critical {critical:.4f}) "
            f"{'pass' if statistic < critical else 'FAIL'}; "
            f"log Z error {log_z - true_log_z(low, high):+.4f}"
        )
    print(f"{passed} of {len(ranges)} unseen ranges pass")


if __name__ == "__main__":
    main()
