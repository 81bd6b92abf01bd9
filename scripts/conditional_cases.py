"""The paper's restricted cases A–D from one conditional model, against per-restriction models.

For each case (a per-restriction run, trained with ``[restrictions]`` from
``configs/restricted_*.toml``), draws ``-n`` crystals from

* the conditional run, given the case's restriction at sampling time (timed: restricted
  environment built, crystals sampled, importance weights measured);
* the per-restriction run;
* optionally a replicate of the per-restriction run (the same config, another seed): the
  distance between the two per-restriction models is the noise a conditional model is measured
  against ("within noise": its distance to the per-restriction model is at most the replicate's;
  its distance to the replicate is recorded too).

and compares their distributions: formation energy (the proxy's mean; KS statistic and
medians), elements present (total variation of the element frequencies), space groups and
crystal systems (TV of the histograms), lattice lengths a, b, c pooled (KS); and, against R/Z
itself rather than another model, each model's KL divergence to R/Z on the restriction
(``divergence_to_target``: from ``-n`` trajectories of its own, importance-weighted; see
``crystalgfn.conditioning.quality``). Whether each
sample satisfies its restriction is checked from its table row (elements, counts, crystal
system, lengths and free angles), not by the environment's own validity checks.

Usage::

    python scripts/conditional_cases.py --conditional RUN \\
        --case A=RUN_A --case B=RUN_B ... [--replicate A=RUN_A2 ...] [-n 2000] [--out FILE]
        [--conditional-replicate RUN2]   (the conditional config trained with another seed)
"""

from __future__ import annotations

import argparse
import json
import math
import re
import time
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from crystalgfn import run
from crystalgfn.conditioning.quality import importance_summary, importance_weights
from crystalgfn.config import RunConfig
from crystalgfn.devices import make_generator
from crystalgfn.restrictions import from_config

FORMULA = re.compile(r"([A-Z][a-z]?)(\d*)")


def counts(formula: str) -> dict[str, int]:
    return {element: int(n or 1) for element, n in FORMULA.findall(formula)}


def ks(x, y) -> float:
    """Two-sample Kolmogorov–Smirnov statistic."""
    x, y = np.sort(np.asarray(x, float)), np.sort(np.asarray(y, float))
    grid = np.concatenate([x, y])
    return float(
        np.max(np.abs(np.searchsorted(x, grid, "right") / len(x)
                      - np.searchsorted(y, grid, "right") / len(y)))
    )


def ks_critical(n: int, m: int, alpha: float = 0.05) -> float:
    return math.sqrt(-0.5 * math.log(alpha / 2)) * math.sqrt((n + m) / (n * m))


def tv(p: Counter, q: Counter) -> float:
    sp, sq = sum(p.values()), sum(q.values())
    return 0.5 * sum(abs(p[k] / sp - q[k] / sq) for k in set(p) | set(q))


def element_frequency(columns) -> Counter:
    return Counter(e for f in columns["formula"] for e in counts(f))


def lengths(columns) -> list[float]:
    return list(columns["a"]) + list(columns["b"]) + list(columns["c"])


def satisfied(columns, restriction: dict) -> float:
    """Share of rows inside ``restriction``, checked from the table itself."""
    ok = np.ones(len(columns["formula"]), dtype=bool)
    if "elements" in restriction:
        allowed = set(restriction["elements"])
        ok &= [set(counts(f)) <= allowed for f in columns["formula"]]
    if "max_atoms_per_element" in restriction:
        bound = restriction["max_atoms_per_element"]
        ok &= [max(counts(f).values()) <= bound for f in columns["formula"]]
    if "crystal_systems" in restriction:
        systems = restriction["crystal_systems"]
        systems = {systems} if isinstance(systems, str) else set(systems)
        ok &= [s in systems for s in columns["crystal_system"]]
    if "lengths" in restriction:
        low, high = restriction["lengths"]
        for key in "abc":
            length = np.asarray(columns[key])
            ok &= (length >= low - 1e-6) & (length <= high + 1e-6)
    if "angles" in restriction:
        low, high = restriction["angles"]
        for key in ("alpha", "beta", "gamma"):
            angle = np.asarray(columns[key])
            fixed = np.isclose(angle, 90.0) | np.isclose(angle, 120.0)  # set by the lattice system
            ok &= fixed | ((angle >= low - 1e-6) & (angle <= high + 1e-6))
    return float(ok.mean())


def distances(x, y) -> dict:
    energy = "formation_energy"
    return {
        "formation_energy_ks": ks(x[energy], y[energy]),
        "formation_energy_median": [float(np.median(x[energy])), float(np.median(y[energy]))],
        "elements_tv": tv(element_frequency(x), element_frequency(y)),
        "space_group_tv": tv(Counter(x["space_group"]), Counter(y["space_group"])),
        "crystal_system_tv": tv(Counter(x["crystal_system"]), Counter(y["crystal_system"])),
        "lengths_ks": ks(lengths(x), lengths(y)),
    }


def weights(model, restriction: dict | None, n: int, seed: int):
    """Log-weights ``log w`` of ``n`` trajectories of ``model`` on ``restriction`` (``None``:
    the model's own space)."""
    env = model.env.restrict(**restriction) if restriction else model.env
    return importance_weights(
        env, model.policy, model.reward, n, make_generator(seed, model.device), model.device
    )


def divergences(log_ws: dict) -> dict:
    """How far each model is from R/Z on one restriction, from its own trajectories.

    ``log_ws`` maps a model's role to its log-weights. Per model: ``elbo`` (mean log w = log Z
    − KL, nats) with its standard error, and ``kl_lower`` = log Ẑ − elbo, where log Ẑ is the
    log mean of every model's weights pooled (each weight has mean Z whatever its sampler, so
    the pooled mean is the better estimate; the log of a mean of heavy-tailed weights falls
    short of log Z, so these are lower bounds). ``kl_minus_per_restriction``: each model's KL
    minus the per-restriction model's, ``elbo`` difference, which needs no estimate of Z
    (positive: further from R/Z than the per-restriction model), with its standard error."""
    pooled = torch.cat(list(log_ws.values()))
    log_z = float(torch.logsumexp(pooled, dim=0) - math.log(pooled.shape[0]))
    summaries = {role: importance_summary(log_w) for role, log_w in log_ws.items()}
    reference = summaries["per_restriction"]
    out = {"log_z_pooled": log_z, "n": {role: s["n"] for role, s in summaries.items()}}
    for role, summary in summaries.items():
        out[role] = {
            "elbo": summary["elbo"],
            "elbo_stderr": summary["elbo_stderr"],
            "kl_lower": log_z - summary["elbo"],
            "ess_fraction": summary["ess_fraction"],
        }
        if role != "per_restriction":
            out[role]["kl_minus_per_restriction"] = reference["elbo"] - summary["elbo"]
            out[role]["kl_minus_per_restriction_stderr"] = math.hypot(
                reference["elbo_stderr"], summary["elbo_stderr"]
            )
    return out


def pairs(values: list[str], flag: str) -> dict[str, Path]:
    out = {}
    for value in values:
        name, sep, path = value.partition("=")
        if not sep:
            raise SystemExit(f"{flag} takes NAME=RUN, got {value!r}")
        out[name] = Path(path)
    return out


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--conditional", type=Path, required=True)
    parser.add_argument("--case", action="append", default=[], help="NAME=per-restriction RUN")
    parser.add_argument("--replicate", action="append", default=[], help="NAME=replicate RUN")
    parser.add_argument(
        "--conditional-replicate", type=Path,
        help="the conditional run trained with another seed: its distances measure the "
        "conditional model's own seed-to-seed noise",
    )
    parser.add_argument("-n", type=int, default=2000)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--out", type=Path)
    args = parser.parse_args()
    cases, replicates = pairs(args.case, "--case"), pairs(args.replicate, "--replicate")

    conditional = run.load_run(args.conditional)
    conditional_replicate = (
        run.load_run(args.conditional_replicate) if args.conditional_replicate else None
    )
    results = {"n": args.n, "conditional_run": str(args.conditional), "cases": {}}
    for name, case_run in cases.items():
        config = RunConfig.from_file(case_run / "config.toml")
        restriction = from_config(config.raw.get("restrictions", {}))
        start = time.perf_counter()
        drawn = run.sample_model(conditional, args.n, restriction, seed=args.seed)
        seconds = time.perf_counter() - start
        own = run.load_run(case_run)
        reference = run.sample_model(own, args.n, seed=args.seed + 1).columns
        own_log_w = weights(own, None, run.QUALITY_SAMPLES, args.seed + 3)
        row = {
            "restriction": restriction,
            "trained_on": bool(conditional.env.trained_on(restriction)),
            "sampling_seconds": round(seconds, 2),
            "ess_fraction": drawn.quality["ess_fraction"],
            # The same measure of the per-restriction model on its own space.
            "ess_fraction_per_restriction": importance_summary(own_log_w)["ess_fraction"],
            "satisfied": {
                "conditional": satisfied(drawn.columns, restriction),
                "per_restriction": satisfied(reference, restriction),
            },
            "conditional_vs_per_restriction": distances(drawn.columns, reference),
            "ks_critical_0.05": ks_critical(args.n, args.n),
        }
        # The target-referenced measure: each model's KL to R/Z from n trajectories of its own.
        log_ws = {
            "conditional": weights(conditional, restriction, args.n, args.seed + 5),
            "per_restriction": weights(own, None, args.n, args.seed + 6),
        }
        if name in replicates:
            replicate_model = run.load_run(replicates[name])
            replicate = run.sample_model(replicate_model, args.n, seed=args.seed + 2).columns
            row["replicate_vs_per_restriction"] = distances(replicate, reference)
            # The replicate as a second reference: a conditional model within noise is about
            # as far from it as from the first.
            row["conditional_vs_replicate"] = distances(drawn.columns, replicate)
            log_ws["replicate"] = weights(replicate_model, None, args.n, args.seed + 7)
        if conditional_replicate is not None:
            again = run.sample_model(conditional_replicate, args.n, restriction, seed=args.seed + 4)
            row["conditional_replicate_vs_conditional"] = distances(again.columns, drawn.columns)
            row["conditional_replicate_vs_per_restriction"] = distances(again.columns, reference)
            log_ws["conditional_replicate"] = weights(
                conditional_replicate, restriction, args.n, args.seed + 8
            )
        row["divergence_to_target"] = divergences(log_ws)
        results["cases"][name] = row
        print(name, json.dumps(row, default=str), flush=True)
    if args.out:
        args.out.write_text(json.dumps(results, indent=1, default=str) + "\n")


if __name__ == "__main__":
    main()
