"""Rates, medians and the proxy-vs-oracle comparison of an evaluation (``summary.json``)."""

from __future__ import annotations

import collections
import statistics

from crystalgfn_mlip.judge import STABLE_THRESHOLD

#: Units of the medians (those of evaluation.csv), for whoever prints them.
MEDIAN_UNITS = {
    "formation_energy_per_atom": "eV/atom", "e_above_hull": "eV/atom",
    "proxy_formation_energy": "eV/atom", "volume_ratio": "relaxed/initial", "steps": "steps",
}


def _values(rows, column) -> list[float]:
    return [float(r[column]) for r in rows if r.get(column) not in ("", None)]


def _rate(count: int, total: int) -> float | None:
    return count / total if total else None


def _median(values) -> float | None:
    return statistics.median(values) if values else None


def spearman(x: list[float], y: list[float]) -> float | None:
    """Spearman's rank correlation (average ranks for ties); ``None`` below 3 pairs."""
    if len(x) < 3:
        return None

    def ranks(values):
        order = sorted(range(len(values)), key=values.__getitem__)
        result = [0.0] * len(values)
        i = 0
        while i < len(order):
            j = i
            while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
                j += 1
            for k in range(i, j + 1):
                result[order[k]] = (i + j) / 2
            i = j + 1
        return result

    rx, ry = ranks(x), ranks(y)
    mx, my = statistics.fmean(rx), statistics.fmean(ry)
    cov = sum((a - mx) * (b - my) for a, b in zip(rx, ry, strict=True))
    var = (sum((a - mx) ** 2 for a in rx) * sum((b - my) ** 2 for b in ry)) ** 0.5
    return cov / var if var else None


def summarise(rows: list[dict], kind: str) -> dict:
    """The rates (over all inputs, and over relaxed ones), medians and comparisons."""
    n = len(rows)
    built = [r for r in rows if r.get("built") == 1]
    relaxed = [r for r in rows if r.get("relaxed") == 1]
    scored = [r for r in relaxed if r.get("e_above_hull") not in ("", None)]

    def count(column, among=rows):
        return sum(1 for r in among if r.get(column) == 1)

    sun = sum(1 for r in scored if r.get("stable") == 1 and r.get("unique") == 1
              and r.get("novel") == 1)
    pairs = [(float(r["proxy_formation_energy"]), float(r["formation_energy_per_atom"]))
             for r in scored if r.get("proxy_formation_energy") not in ("", None)]
    reasons = collections.Counter(r["reason"].split(":")[0] for r in rows if r.get("reason"))
    symmetry_rows = [r for r in relaxed if r.get("symmetry_kept") in (0, 1)]
    seconds = _values(rows, "seconds")
    summary = {
        "kind": kind,
        "n": n,
        "n_built": len(built),
        "n_relaxed": len(relaxed),
        "n_scored": len(scored),
        "rates": {
            "built": _rate(len(built), n),
            "relaxed": _rate(len(relaxed), n),
            "converged": _rate(count("converged"), n),
            "stable": _rate(count("stable"), n),
            "stable_strict": _rate(count("stable_strict"), n),
            "unique": _rate(count("unique"), n),
            "novel": _rate(count("novel"), n),
            "sun": _rate(sun, n),
            "symmetry_kept": _rate(count("symmetry_kept"), n),
        },
        "rates_of_relaxed": {
            "converged": _rate(count("converged", relaxed), len(relaxed)),
            "stable": _rate(count("stable", scored), len(scored)),
            "stable_strict": _rate(count("stable_strict", scored), len(scored)),
            "unique": _rate(count("unique", relaxed), len(relaxed)),
            "novel": _rate(count("novel", relaxed), len(relaxed)),
            "sun": _rate(sun, len(scored)),
            "symmetry_kept": _rate(count("symmetry_kept", symmetry_rows), len(symmetry_rows)),
        },
        "medians": {
            "formation_energy_per_atom": _median(_values(scored, "formation_energy_per_atom")),
            "e_above_hull": _median(_values(scored, "e_above_hull")),
            "volume_ratio": _median(_values(relaxed, "volume_ratio")),
            "steps": _median(_values(relaxed, "steps")),
            "proxy_formation_energy": _median(_values(rows, "proxy_formation_energy")),
        },
        "median_units": MEDIAN_UNITS,
        "proxy_vs_oracle": {
            "n": len(pairs),
            "mae": statistics.fmean(abs(a - b) for a, b in pairs) if pairs else None,
            "mean_difference_oracle_minus_proxy":
                statistics.fmean(b - a for a, b in pairs) if pairs else None,
            "spearman": spearman([a for a, _ in pairs], [b for _, b in pairs]),
        },
        "reasons": dict(sorted(reasons.items())),
        "thresholds": {"stable": f"e_above_hull <= {STABLE_THRESHOLD} eV/atom",
                       "stable_strict": "e_above_hull <= 0 eV/atom",
                       "sun": "stable and unique and novel"},
        "seconds_per_input": {"mean": statistics.fmean(seconds) if seconds else None,
                              "median": _median(seconds)},
        "seconds_total": sum(seconds),
    }
    return summary
