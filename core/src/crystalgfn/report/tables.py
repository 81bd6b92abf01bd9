"""Tables of a report: the top-k CSV files and the top-k table shown in the report."""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from crystalgfn.report.io import Crystals, write_rows
from crystalgfn.report.parts import report_parts


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


def _same(a: str, b: str) -> bool:
    """Equal cells: as numbers when both are numbers (``"225"`` and ``"225.0"``), else as text."""
    try:
        return float(a) == float(b)
    except ValueError:
        return a == b


def _judged_rows(
    crystals: Crystals, evaluations: Sequence[dict], keys: Sequence[str]
) -> dict[int, dict]:
    """0-based sample row -> its ``evaluation.csv`` row, for evaluations of this samples
    file: an evaluation's row numbers (1-based data rows) count only where the ``keys``
    columns the judge copies from the samples (e.g. formula and space group) match, so an
    evaluation of another file joins nothing."""
    out: dict[int, dict] = {}
    if not keys or any(key not in crystals.columns for key in keys):
        return out
    for evaluation in evaluations:
        for entry in evaluation.get("rows", ()):
            try:
                row = int(entry.get("row", "")) - 1
            except ValueError:
                continue
            if 0 <= row < crystals.n and all(
                _same(entry.get(key) or "", crystals.columns[key][row]) for key in keys
            ):
                out.setdefault(row, entry)
    return out


def top_table(
    crystals: Crystals, rows: Sequence[int], valid: np.ndarray, properties: Sequence[str],
    evaluations: Sequence[dict] = (), judge_columns: dict[str, str] | None = None,
    judge_keys: Sequence[str] = (),
) -> dict:
    """``{"header": [...], "rows": [[...], ...]}``: the best rows as the report shows them:
    rank, the columns each part's report part shows (e.g. space group, formula, cell), each
    property (the samples' are proxy predictions), the reward, whether every check passed
    and, for crystals an evaluation judged (joined on ``judge_keys``), its ``judge_columns``
    (``evaluation.csv`` column -> header). Columns the table lacks are left out."""
    judged = {row: entry for row, entry in _judged_rows(crystals, evaluations, judge_keys).items()
              if row in rows}  # judge columns only when a shown crystal was judged
    columns: list[tuple[str, object]] = [("rank", None)]
    for part in report_parts(list(crystals.values)):
        columns += part.top_columns(crystals)
    for name in properties:
        columns.append((f"{name} (proxy)", lambda r, name=name: _number(crystals, name, r)))
    for name in ("reward", "log_reward"):
        if name in crystals.numeric:
            columns.append((name, lambda r, name=name: _number(crystals, name, r)))
    columns.append(("valid", lambda r: _flag(valid[r])))
    if judged:
        for key, label in (judge_columns or {}).items():
            columns.append((label, lambda r, key=key: _judge(judged.get(r), key)))
    table = []
    for rank, row in enumerate(rows, start=1):
        table.append([rank if get is None else get(row) for _, get in columns])
    return {"header": [name for name, _ in columns], "rows": table, "judged": len(judged)}


def _number(crystals: Crystals, name: str, row: int):
    value = float(crystals.numeric[name][row])
    return None if math.isnan(value) else value


def _flag(value: float) -> str:
    return "–" if math.isnan(value) else ("yes" if value else "no")


def _judge(entry: dict | None, key: str):
    if entry is None:
        return None
    text = (entry.get(key) or "").strip()
    try:
        return float(text)
    except ValueError:
        return text or None
