"""The S.U.N. judge's section of a report (``crystalgfn report --evaluation``): a rates
table, a proxy-vs-oracle scatter of formation energies and a histogram of energies above the
hull with the stability threshold, for every evaluation side by side.

Each evaluation is a dict as :func:`crystalgfn.report.evaluation.load_evaluation` gives it
(``label``, ``path``, ``summary`` and the ``rows`` of ``evaluation.csv``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np
from crystalgfn.report.plots import new_figure, save

from crystalgfn_mlip.judge import STABLE_THRESHOLD

#: rates shown in the report, in order, with their labels
RATES = (
    ("built", "built"),
    ("relaxed", "relaxed"),
    ("converged", "converged"),
    ("stable", f"stable (E_hull ≤ {STABLE_THRESHOLD:g})"),
    ("stable_strict", "stable (E_hull ≤ 0)"),
    ("unique", "unique"),
    ("novel", "novel"),
    ("sun", "S.U.N."),
    ("symmetry_kept", "symmetry kept"),
)
COLORS = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd")


CAPTIONS = {
    "judge_e_above_hull.png": "energy above the oracle's own hull after relaxation.",
    "judge_proxy_vs_oracle.png": "formation energy in the input (proxy prediction for sampled "
    "crystals, DFT for reference crystals) against the oracle's after relaxation.",
}


def _float(text) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def _columns(evaluation: dict) -> dict:
    """The judged values the plots need, as float arrays (NaN where a row has none)."""

    def column(name):
        return np.array([_float(r.get(name)) for r in evaluation["rows"]], dtype=float)

    return {"formation_energy": column("formation_energy_per_atom"),
            "e_above_hull": column("e_above_hull"), "proxy": column("proxy_formation_energy")}


def draw(out_dir: Path, evaluations: list[dict]) -> list[str]:
    """The judge's plots; returns their file names."""
    evaluations = [{**e, **_columns(e)} for e in evaluations]
    names = [_hull_histogram(out_dir, evaluations)]
    if any(np.isfinite(e["proxy"]).any() and np.isfinite(e["formation_energy"]).any()
           for e in evaluations):
        names.append(_proxy_scatter(out_dir, evaluations))
    return names


def _hull_histogram(out_dir: Path, evaluations: list[dict]) -> str:
    figure, (ax,) = new_figure()
    data = [e["e_above_hull"][np.isfinite(e["e_above_hull"])] for e in evaluations]
    present = [d for d in data if d.size]
    if present:
        high = max(float(np.percentile(d, 99)) for d in present)
        edges = np.linspace(min(-0.2, min(float(d.min()) for d in present)), max(high, 0.5), 41)
        for i, (e, values) in enumerate(zip(evaluations, data, strict=True)):
            color = COLORS[i % len(COLORS)]
            if values.size:
                ax.hist(np.clip(values, edges[0], edges[-1]), bins=edges, histtype="step",
                        linewidth=2, color=color, density=True,
                        label=f"{e['label']} (n={values.size})")
    ax.axvline(STABLE_THRESHOLD, color="black", linestyle="--", linewidth=1,
               label=f"stable: ≤ {STABLE_THRESHOLD:g} eV/atom")
    oracle = evaluations[0]["summary"].get("oracle", "oracle")
    ax.set_xlabel(f"energy above hull after relaxation ({oracle}), eV/atom")
    ax.set_ylabel("probability density")
    ax.set_title("Stability judged by the oracle (its own hull)")
    ax.legend(fontsize="small")
    return save(figure, out_dir, "judge_e_above_hull.png")


def _proxy_scatter(out_dir: Path, evaluations: list[dict]) -> str:
    figure, (ax,) = new_figure(width=5.5, height=5.0)
    low, high = math.inf, -math.inf
    for i, e in enumerate(evaluations):
        color = COLORS[i % len(COLORS)]
        keep = np.isfinite(e["proxy"]) & np.isfinite(e["formation_energy"])
        if not keep.any():
            continue
        x, y = e["proxy"][keep], e["formation_energy"][keep]
        mae = float(np.abs(x - y).mean())
        ax.scatter(x, y, s=10, alpha=0.6, color=color,
                   label=f"{e['label']} (n={keep.sum()}, MAE {mae:.2f})")
        low, high = min(low, x.min(), y.min()), max(high, x.max(), y.max())
    ax.plot([low, high], [low, high], color="black", linewidth=1)
    oracle = evaluations[0]["summary"].get("oracle", "oracle")
    ax.set_xlabel("formation energy in the input (proxy, or DFT for MP crystals), eV/atom")
    ax.set_ylabel(f"formation energy after relaxation ({oracle}), eV/atom")
    ax.set_title("Input value vs the oracle's judgement")
    ax.legend(fontsize="small")
    return save(figure, out_dir, "judge_proxy_vs_oracle.png")


def blocks(metrics: dict, judged: Sequence[dict] = ()) -> list[tuple]:
    """The report's section on the evaluations (blocks of :mod:`crystalgfn.report.render`);
    ``judged``: tables of the judged crystals (:func:`judged_table`)."""
    evaluations = metrics
    labels = list(evaluations)
    first = evaluations[labels[0]]
    out: list[tuple] = [("h2", "Judged by an independent oracle")]
    versions = first.get("versions") or {}
    out.append(("p",
        f"Atoms placed on Wyckoff positions, then relaxed with **{first.get('oracle')}** "
        f"({', '.join(f'{name} {version}' for name, version in versions.items())}): "
        f"energy scale {first.get('energy_scale')}. Formation energies and E above hull use "
        f"the oracle's own competing phases, never DFT energies. Stable: E_hull ≤ "
        f"{STABLE_THRESHOLD:g} eV/atom; "
        "S.U.N.: stable, unique (within its set) and novel (no known Materials Project "
        "crystal matches). Rates are over all inputs of each set."
    ))
    settings = first.get("settings") or {}
    if settings:
        out.append(("p",
            f"Relaxation: FIRE, fmax {settings.get('fmax')} eV/Å, at most "
            f"{settings.get('steps')} steps and {settings.get('max_seconds')} s per structure; "
            f"{settings.get('placements')} placement(s) per sample, seed {settings.get('seed')}."
        ))
    rows = [[label_text, *(evaluations[label]["rates"].get(key) for label in labels)]
            for key, label_text in RATES]
    rows.append(["median formation energy (oracle, eV/atom)",
                 *(evaluations[label]["medians"].get("formation_energy_per_atom")
                   for label in labels)])
    rows.append(["median E above hull (eV/atom)",
                 *(evaluations[label]["medians"].get("e_above_hull") for label in labels)])
    rows.append(["median input formation energy (eV/atom)",
                 *(evaluations[label]["medians"].get("proxy_formation_energy")
                   for label in labels)])
    rows.append(["input vs oracle MAE (eV/atom)",
                 *(evaluations[label]["proxy_vs_oracle"].get("mae") for label in labels)])
    rows.append(["input vs oracle Spearman",
                 *(evaluations[label]["proxy_vs_oracle"].get("spearman") for label in labels)])
    rows.append(["inputs", *(evaluations[label]["n"] for label in labels)])
    out.append(("table", ["", *labels], rows))
    out.append(("p", "The input formation energy is the proxy's prediction for sampled "
                "crystals and the DFT value for Materials Project crystals."))
    for table in judged:
        shown = table["rows"][:JUDGED_SHOWN]
        more = len(table["rows"]) - len(shown)
        out.append(("h3", f"Crystals judged in '{table['label']}'"
                    + (f" (first {len(shown)} of {len(table['rows'])})" if more else "")))
        out.append(("table", table["header"], shown))
    return out


#: rows of each judged-crystals table shown in the report (all are in evaluation.csv)
JUDGED_SHOWN = 20
#: evaluation.csv column -> header, shown next to a top-k crystal the evaluation judged
TOP_JUDGE_COLUMNS = {
    "formation_energy_per_atom": "E_f oracle (eV/atom)",
    "e_above_hull": "E_hull oracle (eV/atom)",
    "stable": "stable (oracle)",
}
#: evaluation.csv column -> header of the judged-crystals table
JUDGED_COLUMNS = {
    "row": "row", "formula": "formula", "space_group": "group",
    "proxy_formation_energy": "E_f input (eV/atom)",
    "formation_energy_per_atom": "E_f oracle (eV/atom)", "e_above_hull": "E_hull (eV/atom)",
    "stable": "stable", "novel": "novel", "symmetry_kept": "symmetry kept", "reason": "note",
}


def judged_table(evaluation: dict) -> dict:
    """``{"label", "header", "rows"}``: every crystal of one evaluation with what the oracle
    found (numbers as floats, empty cells as None)."""
    def cell(text):
        text = (text or "").strip()
        try:
            return float(text) if text and text not in ("True", "False") else (text or None)
        except ValueError:
            return text
    return {
        "label": evaluation["label"],
        "header": list(JUDGED_COLUMNS.values()),
        "rows": [[cell(entry.get(key)) for key in JUDGED_COLUMNS] for entry in evaluation["rows"]],
    }
