"""Acquisition: which sampled crystals the oracle labels.

The rule is an upper confidence bound on the proxy ensemble's prediction, towards the goal:
``score = s · mean + kappa · std`` with ``s = -1`` when lower is better (``goal =
"minimize"``, e.g. a formation energy) and ``+1`` otherwise. A large ``kappa`` favours
crystals the ensemble disagrees on (exploration), ``kappa = 0`` the predicted best
(exploitation). Diversity: the batch is filled greedily by score, taking at most
``per_group`` crystals of one *group* (the values of the ``diversity`` columns of the sample
table, e.g. the formula, or formula and space group); only when the candidates hold too few
groups is the batch completed with the best remaining crystals.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping, Sequence
from functools import reduce

from crystalgfn.errors import ConfigError


def ucb_scores(mean: Sequence[float], std: Sequence[float], kappa: float,
               goal: str = "minimize") -> list[float]:
    """The UCB score of each candidate (``-inf`` where the mean is not finite)."""
    if goal not in ("minimize", "maximize"):
        raise ConfigError(f"goal must be 'minimize' or 'maximize', got {goal!r}")
    if len(mean) != len(std):
        raise ConfigError(f"{len(mean)} means but {len(std)} standard deviations")
    sign = -1.0 if goal == "minimize" else 1.0
    scores = []
    for m, s in zip(mean, std, strict=True):
        m, s = float(m), float(s)
        s = s if math.isfinite(s) else 0.0
        scores.append(sign * m + kappa * s if math.isfinite(m) else -math.inf)
    return scores


def group_keys(columns: Mapping[str, Sequence], names: Sequence[str]) -> list[tuple]:
    """The group of each row: its values in the columns ``names`` (a formula is reduced, so
    that Fe4O6 and Fe2O3 are one group)."""
    missing = [name for name in names if name not in columns]
    if missing:
        raise ConfigError(
            f"acquire.diversity names column(s) {missing} the sample table lacks; it has "
            f"{sorted(columns)}")
    n = len(next(iter(columns.values()))) if columns else 0
    return [tuple(_canonical(name, columns[name][i]) for name in names) for i in range(n)]


def select(scores: Sequence[float], keys: Sequence[tuple], batch: int,
           per_group: int = 1) -> tuple[list[int], int]:
    """Indices of the batch, best score first, and how many of them were added beyond the
    diversity limit (because the candidates held too few groups). Candidates with a score of
    ``-inf`` are never taken. Ties are broken by the lower index."""
    if batch < 1 or per_group < 1:
        raise ConfigError(f"batch and per_group must be >= 1, got {batch} and {per_group}")
    if len(scores) != len(keys):
        raise ConfigError(f"{len(scores)} scores but {len(keys)} group keys")
    order = sorted((i for i, s in enumerate(scores) if s != -math.inf),
                   key=lambda i: (-scores[i], i))
    chosen, taken = [], {}
    for i in order:
        if taken.get(keys[i], 0) < per_group:
            chosen.append(i)
            taken[keys[i]] = taken.get(keys[i], 0) + 1
            if len(chosen) == batch:
                return chosen, 0
    picked = set(chosen)
    extra = [i for i in order if i not in picked][: batch - len(chosen)]
    return chosen + extra, len(extra)


_TERM = re.compile(r"([A-Z][a-z]?)(\d*)")


def reduced_formula(formula: str) -> str:
    """``formula`` (e.g. ``Li4Mn4O8``) with its counts divided by their greatest common
    divisor, elements in the order given (``LiMnO2``); unparsable text is returned as is."""
    terms = _TERM.findall(formula.replace(" ", ""))
    if not terms or "".join(s + c for s, c in terms) != formula.replace(" ", ""):
        return formula
    counts: dict[str, int] = {}
    for symbol, count in terms:
        counts[symbol] = counts.get(symbol, 0) + (int(count) if count else 1)
    divisor = reduce(math.gcd, counts.values())
    return "".join(s + (str(c // divisor) if c // divisor != 1 else "") for s, c in counts.items())


def diversity(formulas: Sequence[str]) -> float | None:
    """The share of distinct reduced formulas in a batch (1: all different)."""
    if not formulas:
        return None
    return len({reduced_formula(f) for f in formulas}) / len(formulas)


def _canonical(name: str, value):
    return reduced_formula(value) if name == "formula" and isinstance(value, str) else value
