"""Metrics of a set of crystals: measured validity, diversity, summaries, reference comparison."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import torch

from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError
from crystalgfn.report.io import Crystals
from crystalgfn.report.parts import ReportPart, report_parts


def _as_bool(result: dict, n: int, where: str) -> dict[str, np.ndarray]:
    out = {}
    for name, passed in result.items():
        array = np.asarray(passed.cpu() if isinstance(passed, torch.Tensor) else passed, dtype=bool)
        if array.shape != (n,):
            raise ConfigError(
                f"validity check {name!r} of {where} returned shape {array.shape}, expected ({n},)"
            )
        out[name] = array
    return out


def row_validity(env: Environment, values: dict[str, torch.Tensor]) -> dict[str, np.ndarray]:
    """Per-row results of the environment's validity checks (its parts' and, for a stack,
    its cross-environment constraints'): check name -> float ``(B,)``, 1 passed, 0 failed."""
    missing = [key for key in env.provides if key not in values]
    if missing:
        raise ConfigError(
            f"environment {getattr(env, 'spec', env.name)!r} needs values {list(env.provides)}; "
            f"a samples table gives only {sorted(values)}"
        )
    n = int(next(iter(values.values())).shape[0])
    where = getattr(env, "spec", env.name)
    checks = env.validity({key: values[key] for key in env.provides})
    return {name: passed.astype(np.float64) for name, passed in _as_bool(checks, n, where).items()}


def share(column: np.ndarray) -> float | None:
    """Share of evaluated rows (not NaN) that pass; None if none was evaluated."""
    evaluated = ~np.isnan(column)
    return float(column[evaluated].mean()) if evaluated.any() else None


def validity_metrics(checks: dict[str, np.ndarray]) -> dict:
    """``{"shares": {check: share, "all": share}, "evaluated": {check: rows}}``; ``all`` is the
    share of rows passing every check among rows on which every check was evaluated."""
    shares = {name: share(column) for name, column in checks.items()}
    evaluated = {name: int((~np.isnan(column)).sum()) for name, column in checks.items()}
    if checks:
        stacked = np.stack(list(checks.values()))
        shares["all"] = share(
            np.where(np.isnan(stacked).any(axis=0), math.nan, stacked.min(axis=0))
        )
        evaluated["all"] = int((~np.isnan(stacked).any(axis=0)).sum())
    return {"shares": shares, "evaluated": evaluated}


def all_valid(checks: dict[str, np.ndarray], n: int) -> np.ndarray:
    """Per row: 1 if every check passed, 0 if one failed, NaN if one was not evaluated."""
    if not checks:
        return np.full(n, math.nan)
    stacked = np.stack(list(checks.values()))
    return np.where(
        (stacked == 0).any(axis=0), 0.0, np.where(np.isnan(stacked).any(axis=0), math.nan, 1.0)
    )


def inside_space(checks: dict[str, np.ndarray], n: int) -> list[int] | None:
    """Rows no check rejects (a check not evaluated on a row does not reject it): the rows
    the environment could have sampled. None without checks (nothing to restrict by)."""
    if not checks:
        return None
    failed = (np.stack(list(checks.values())) == 0).any(axis=0)
    return np.flatnonzero(~failed).tolist()


# -- diversity ------------------------------------------------------------------------------------
def _parts(crystals: Crystals) -> dict[str, ReportPart]:
    """The report part of each part the table holds (a part without one: the default)."""
    registered = {part.name: part for part in report_parts(list(crystals.values))}
    return {name: registered.get(name, ReportPart()) for name in crystals.values}


def unique_keys(crystals: Crystals, decimals: int = 3) -> list[tuple]:
    """One hashable key per row from every part the table holds (each as its report part
    keys it, e.g. floats rounded to ``decimals``); a table without a known part falls back
    to all of its cells."""
    if not crystals.values:
        return list(zip(*crystals.columns.values(), strict=True))
    parts = _parts(crystals)
    per_part = [parts[name].keys(value, decimals) for name, value in crystals.values.items()]
    return list(zip(*per_part, strict=True))


def diversity(crystals: Crystals) -> dict:
    """Share of unique crystals, and the numbers of distinct values each part's report part
    counts (e.g. compositions, space groups, elements, crystal systems)."""
    n = crystals.n
    keys = unique_keys(crystals)
    out = {"n": n, "unique": len(set(keys)), "unique_share": len(set(keys)) / n if n else None}
    for part in _parts(crystals).values():
        out.update(part.diversity(crystals))
    return out


# -- summaries -------------------------------------------------------------------------------------
def summary(column: np.ndarray) -> dict:
    """count, mean, std, min, 5th percentile, median, 95th percentile and max of the finite
    entries (None when there are none)."""
    finite = column[np.isfinite(column)]
    if not finite.size:
        return {
            "count": 0,
            "mean": None,
            "std": None,
            "min": None,
            "p5": None,
            "median": None,
            "p95": None,
            "max": None,
        }
    p5, median, p95 = np.percentile(finite, [5, 50, 95])
    return {
        "count": int(finite.size),
        "mean": float(finite.mean()),
        "std": float(finite.std()),
        "min": float(finite.min()),
        "p5": float(p5),
        "median": float(median),
        "p95": float(p95),
        "max": float(finite.max()),
    }


def summaries(crystals: Crystals) -> dict[str, dict]:
    """Summary of every numeric column except the space-group number and report columns."""
    return {
        name: summary(column)
        for name, column in crystals.numeric.items()
        if name not in ("space_group", "rank", "valid")
    }


def uncertainty(crystals: Crystals) -> dict[str, dict]:
    """Per proxy that reported its uncertainty: how many rows are flagged ``uncertain``
    (ensemble std above the proxy's threshold), of how many evaluated, and the std's median
    and 95th percentile. Empty for tables without uncertainty columns."""
    out = {}
    for proxy, names in crystals.uncertainty_columns().items():
        entry: dict = {}
        if "uncertain" in names:
            flags = crystals.numeric[names["uncertain"]]
            evaluated = np.isfinite(flags)
            count = int((flags[evaluated] > 0).sum())
            entry.update({
                "column": names["uncertain"],
                "evaluated": int(evaluated.sum()),
                "uncertain": count,
                "share": count / int(evaluated.sum()) if evaluated.any() else None,
            })
        if "std" in names:
            std = crystals.numeric[names["std"]]
            std = std[np.isfinite(std)]
            entry["std_median"] = float(np.median(std)) if std.size else None
            entry["std_p95"] = float(np.percentile(std, 95)) if std.size else None
        out[proxy] = entry
    return out


def compare(samples: np.ndarray, reference: np.ndarray) -> dict | None:
    """Where sampled values fall in the reference distribution (None if either is empty)."""
    samples = samples[np.isfinite(samples)]
    reference = reference[np.isfinite(reference)]
    if not samples.size or not reference.size:
        return None
    p5, median, p95 = (float(x) for x in np.percentile(reference, [5, 50, 95]))
    sample_median = float(np.median(samples))
    return {
        "sample_median": sample_median,
        "reference_p5": p5,
        "reference_median": median,
        "reference_p95": p95,
        "fraction_below_reference_p5": float((samples < p5).mean()),
        "fraction_above_reference_p95": float((samples > p95).mean()),
        "fraction_within_reference_p5_p95": float(((samples >= p5) & (samples <= p95)).mean()),
        "sample_median_reference_percentile": float(100.0 * (reference <= sample_median).mean()),
    }


def comparisons(samples: Crystals, reference: Crystals, columns: Sequence[str]) -> dict[str, dict]:
    out = {}
    for name in columns:
        if name in samples.numeric and name in reference.numeric:
            result = compare(samples.numeric[name], reference.numeric[name])
            if result is not None:
                out[name] = result
    return out


def top_rows(crystals: Crystals, k: int, by: str = "reward") -> list[int]:
    """Indices of the ``k`` rows with the largest ``by`` (NaN last, ties in file order)."""
    values = crystals.numeric[by]
    keyed = np.where(np.isnan(values), -np.inf, values)
    order = sorted(range(crystals.n), key=lambda i: (-keyed[i], i))
    return order[: min(k, crystals.n)]
