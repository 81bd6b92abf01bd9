"""The judge's section of a report: evaluations written by ``crystalgfn evaluate``.

Each evaluation is a folder (``summary.json`` and ``evaluation.csv``) with a label, e.g.
``samples``, ``uniform``, ``validation``; they are shown side by side. What the section holds
(tables, plots, the judge's columns next to the top-k crystals) is drawn by the installed
judge (:class:`crystalgfn.judge.base.Judge`), which knows its columns.
"""

from __future__ import annotations

import csv
import json
from collections.abc import Sequence
from pathlib import Path

from crystalgfn.errors import ConfigError


def parse_evaluation_argument(text: str) -> tuple[str, Path]:
    """``LABEL=DIR`` or ``DIR`` (label: the folder's name) → ``(label, path)``."""
    label, _, path = text.rpartition("=") if "=" in text else ("", "", text)
    path = Path(path)
    return (label or path.name), path


def parse_samples_argument(text: str, default: str | None) -> tuple[str, Path]:
    """``LABEL=CSV`` or ``CSV`` (label: ``default``, else the file name without ``.csv``)
    → ``(label, path)``; the file is checked when it is read."""
    label, path = parse_evaluation_argument(text)
    if "=" not in text:
        label = default or path.stem
    return label, path


def load_evaluation(label: str, path: Path) -> dict:
    """Summary and per-row values of one evaluation folder."""
    summary_path, rows_path = path / "summary.json", path / "evaluation.csv"
    if not summary_path.is_file() or not rows_path.is_file():
        raise ConfigError(
            f"evaluation folder {str(path)!r} lacks summary.json or evaluation.csv; write it "
            "with 'crystalgfn evaluate INPUT --out DIR' (an interrupted evaluation finishes "
            "when the same command is run again)"
        )
    summary = json.loads(summary_path.read_text())
    with open(rows_path, newline="") as stream:
        rows = list(csv.DictReader(stream))
    return {"label": label, "path": str(path), "summary": summary, "rows": rows}


def evaluation_metrics(evaluations: list[dict]) -> dict:
    """What ``metrics.json`` keeps of the evaluations (their summaries, by label)."""
    return {e["label"]: {"path": e["path"], **{k: e["summary"].get(k) for k in (
        "n", "rates", "rates_of_relaxed", "medians", "proxy_vs_oracle", "reasons", "oracle",
        "energy_scale", "versions", "thresholds", "seconds_per_input", "settings")}}
        for e in evaluations}


def judge():
    """The installed judge, whose declarations and drawings the section is made of."""
    from crystalgfn.judge.evaluate import judge_class

    return judge_class()


def draw(out_dir: Path, evaluations: list[dict]) -> list[str]:
    """The judge's plots; returns their file names."""
    return judge().report_plots(out_dir, evaluations)


def blocks(metrics: dict, judged: Sequence[dict] = ()) -> list[tuple]:
    """The report's section on the evaluations (blocks of :mod:`crystalgfn.report.render`);
    ``judged``: tables of the judged crystals (:func:`judged_table`)."""
    return judge().report_blocks(metrics, judged)


def judged_table(evaluation: dict) -> dict:
    """``{"label", "header", "rows"}``: every input of one evaluation as the judge shows it."""
    return judge().judged_table(evaluation)


def top_columns() -> tuple[dict[str, str], tuple[str, ...]]:
    """The judge's ``evaluation.csv`` columns shown next to a judged top-k crystal (column
    -> header), and the columns that join a judged row to its sample."""
    kind = judge()
    return dict(kind.top_columns), tuple(kind.key_columns)
