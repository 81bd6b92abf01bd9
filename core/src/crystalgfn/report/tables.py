"""Tables of a report: the top-k CSV files and the Markdown summary ``report.md``."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crystalgfn.report.io import Crystals, write_rows


def write_top(path: Path, crystals: Crystals, rows: Sequence[int], valid: np.ndarray) -> Path:
    """The given rows (best first) with their original cells, a leading ``rank`` and a
    trailing ``valid`` column (1: every validity check passed, 0: one failed, empty: not
    every check could be evaluated)."""
    names = crystals.names
    header = ["rank", *names, "valid"]

    def cells(rank: int, row: int) -> list:
        flag = valid[row]
        return [
            rank,
            *(crystals.columns[name][row] for name in names),
            "" if math.isnan(flag) else int(flag),
        ]

    return write_rows(path, header, (cells(rank, row) for rank, row in enumerate(rows, start=1)))


def _fmt(value) -> str:
    if value is None:
        return "–"
    if isinstance(value, float):
        if math.isnan(value):
            return "–"
        return f"{value:.4g}"
    return str(value)


def markdown_table(header: Sequence[str], rows: Sequence[Sequence]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(_fmt(cell) for cell in row) + " |" for row in rows]
    return "\n".join(lines)


def uncertainty_lines(metrics: dict) -> list[str]:
    """The report's uncertainty section: per proxy, the samples flagged uncertain."""
    block = metrics.get("uncertainty") or {}
    out = ["## Uncertain samples", ""]
    if not block:
        return out + [
            "No uncertainty columns in the samples (no proxy reported its uncertainty, or "
            "the table predates them).",
            "",
        ]
    top = metrics["top_k"].get("uncertainty") or {}
    for proxy, entry in block.items():
        if "uncertain" not in entry:
            continue
        line = (
            f"- `{proxy}`: **{entry['uncertain']} of {entry['evaluated']} samples uncertain** "
            f"({_fmt(100.0 * entry['share'] if entry['share'] is not None else None)} %; "
            f"ensemble std above the proxy's threshold)"
        )
        if proxy in top and "uncertain" in top[proxy]:
            line += f", {top[proxy]['uncertain']} of {top[proxy]['evaluated']} in the top-k"
        if entry.get("std_median") is not None:
            line += f"; std median {_fmt(entry['std_median'])}, p95 {_fmt(entry['std_p95'])}"
        out.append(line + ".")
    return out + [""]


def markdown_report(metrics: dict) -> str:
    """A human-readable summary of ``metrics`` with the plots embedded."""
    samples = metrics["samples"]
    reference = metrics.get("reference")
    top = metrics["top_k"]
    out = [f"# Crystal-GFN report: {samples['path']}", ""]
    out.append(
        f"{samples['n']} samples, environment `{metrics['env']}`"
        + (
            f", reference {reference['path']} ({reference['n']} crystals)."
            if reference
            else ", no reference."
        )
    )
    for label, block in (("sample", samples), ("reference", reference or {})):
        bad = block.get("non_finite") or {}
        if bad.get("n"):
            rows = ", ".join(map(str, bad["rows"][:10])) + (" ..." if bad["n"] > 10 else "")
            out += ["", f"**{bad['n']} {label} row(s) have a NaN or infinite lattice or density** "
                    f"(row {rows}): counted, but not measured."]
    out += ["", "## Validity (measured)", ""]
    checks = [name for name in metrics["validity"]]
    header = (
        ["check", "samples"]
        + (["top-k"] if "validity" in top else [])
        + (["reference"] if reference else [])
    )

    def cell(block: dict, name: str) -> str:
        value, evaluated = block["validity"].get(name), block["validity_evaluated"].get(name, 0)
        text = _fmt(value)
        return (
            text
            if evaluated == block["diversity"]["n"]
            else f"{text} ({evaluated}/{block['diversity']['n']} evaluated)"
        )

    rows = []
    for name in checks:
        row = [name, cell(metrics, name)]
        if "validity" in top:
            row.append(cell(top, name))
        if reference:
            row.append(cell(reference, name))
        rows.append(row)
    out += [markdown_table(header, rows), ""]
    out += ["## Diversity", ""]
    keys = list(metrics["diversity"])
    header = (
        ["", "samples"]
        + (["top-k"] if "diversity" in top else [])
        + (["reference"] if reference else [])
    )
    rows = []
    for key in keys:
        row = [key, metrics["diversity"][key]]
        if "diversity" in top:
            row.append(top["diversity"].get(key))
        if reference:
            row.append(reference["diversity"].get(key))
        rows.append(row)
    out += [markdown_table(header, rows), ""]
    if "skipped" in top:
        out += [f"Top-k metrics skipped: {top['skipped']}.", ""]
    out += uncertainty_lines(metrics)
    out += ["## Summary statistics (samples)", ""]
    stats = ("mean", "median", "p5", "p95")
    out += [
        markdown_table(
            ["column", *stats], [[n, *(s[k] for k in stats)] for n, s in metrics["summary"].items()]
        ),
        "",
    ]
    if reference:
        out += ["## Summary statistics (reference)", ""]
        out += [
            markdown_table(
                ["column", *stats],
                [[n, *(s[k] for k in stats)] for n, s in reference["summary"].items()],
            ),
            "",
        ]
    if metrics.get("comparison"):
        out += ["## Samples against the reference distribution", ""]
        fields = (
            "sample_median",
            "reference_p5",
            "reference_median",
            "reference_p95",
            "fraction_below_reference_p5",
            "fraction_above_reference_p95",
        )
        out += [
            markdown_table(
                ["property", *fields],
                [[n, *(c[k] for k in fields)] for n, c in metrics["comparison"].items()],
            ),
            "",
        ]
    if metrics.get("evaluation"):
        from crystalgfn.report.evaluation import markdown as evaluation_markdown

        out += evaluation_markdown(metrics["evaluation"])
    out += ["## Plots", ""]
    out += [f"![{name}]({name})" for name in metrics["plots"]]
    return "\n".join(out) + "\n"
