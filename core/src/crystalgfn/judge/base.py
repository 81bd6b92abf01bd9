"""What a judge is: the part of ``crystalgfn evaluate`` that knows the objects it judges.

Core runs an evaluation (inputs, resume log, worker processes, progress, ``evaluation.csv``
and ``summary.json``) without knowing what is judged or how; a judge registered with the
``register_judges`` hook knows that (e.g. the first-party S.U.N. judge of crystals, in
``crystalgfn-mlip``). Its class declares the columns it reads and writes, so that core and
the reports that show its results read them by what it declares.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar


@dataclass
class Outcome:
    """A judged input: its ``evaluation.csv`` row (without what needs every row, such as
    ``unique``) and the judged object to save (or ``None``)."""

    row: dict
    structure: object = None


class Judge(abc.ABC):
    """Base class of judges (register subclasses with the ``register_judges`` hook).

    Core builds one with ``Judge(oracle, builders)`` (an :class:`crystalgfn.oracle.Oracle`
    and one structure builder per placement, none for files) and calls it on each
    :class:`crystalgfn.judge.inputs.Item`, in worker processes when ``--jobs`` > 1.
    """

    name: ClassVar[str] = ""
    #: columns of ``evaluation.csv``, in order
    columns: ClassVar[tuple[str, ...]] = ()
    #: columns a samples CSV needs so that the judge can build its objects
    sample_columns: ClassVar[tuple[str, ...]] = ()
    #: the samples column holding the prediction the judge compares its own value with
    #: (kept as :attr:`Item.prediction <crystalgfn.judge.inputs.Item.prediction>`)
    prediction_column: ClassVar[str] = ""
    #: the ``evaluation.csv`` column of the judge's value that a proxy predicts: what an
    #: active-learning campaign refits its proxy on
    label_column: ClassVar[str] = ""
    #: file suffix of the judged objects saved in ``relaxed/`` (``relaxed/<row><suffix>``)
    suffix: ClassVar[str] = ""
    #: the 0/1 column whose count progress lines show ("<column> so far"); none: ""
    progress_column: ClassVar[str] = ""
    #: thresholds and tolerances, recorded in ``settings.json``
    thresholds: ClassVar[dict] = {}

    # -- what reports show (``crystalgfn report --evaluation``) -----------------------------
    #: ``evaluation.csv`` columns copied from the samples row: a judged row joins the sample
    #: whose cells of these columns it holds
    key_columns: ClassVar[tuple[str, ...]] = ()
    #: ``evaluation.csv`` column -> header, shown next to a top-k crystal that was judged
    top_columns: ClassVar[dict[str, str]] = {}
    #: captions of the plots :meth:`report_plots` draws, by file name
    captions: ClassVar[dict[str, str]] = {}

    @classmethod
    def report_plots(cls, out_dir: Path, evaluations: list[dict]) -> list[str]:
        """Draw the plots of the evaluations (each as
        :func:`crystalgfn.report.evaluation.load_evaluation` gives it); their file names."""
        return []

    @classmethod
    def report_blocks(cls, metrics: dict, judged) -> list[tuple]:
        """The report's section (blocks of :mod:`crystalgfn.report.render`) from the
        evaluations' ``metrics.json`` entries (label -> summary) and ``judged`` tables."""
        labels = list(metrics)
        rows = [[key, *(metrics[label]["rates"].get(key) for label in labels)]
                for key in metrics[labels[0]]["rates"]]
        return [("h2", f"Judged by {cls.name}"), ("table", ["", *labels], rows)]

    @classmethod
    def judged_table(cls, evaluation: dict) -> dict:
        """``{"label", "header", "rows"}``: every judged input of one evaluation."""
        return {"label": evaluation["label"], "header": list(cls.columns),
                "rows": [[entry.get(key) for key in cls.columns] for entry in evaluation["rows"]]}

    @abc.abstractmethod
    def __init__(self, oracle, builders): ...

    @abc.abstractmethod
    def __call__(self, item) -> Outcome:
        """Judge one input; a failure is a row with a ``reason``, not an exception."""

    @classmethod
    @abc.abstractmethod
    def check_file(cls, path: str, oracle) -> None:
        """Raise :class:`crystalgfn.errors.ConfigError` when the single input file ``path``
        cannot be judged at all (so that one bad file is an error, not a row)."""

    @staticmethod
    @abc.abstractmethod
    def save(structure, path: Path) -> None:
        """Write a judged object to ``path``."""

    @classmethod
    @abc.abstractmethod
    def finish(cls, out_dir: Path, rows: list[dict]) -> None:
        """Fill in, in place, the columns that need every row (e.g. uniqueness within the
        set), reading the saved objects under ``out_dir``."""

    @classmethod
    @abc.abstractmethod
    def summarise(cls, rows: list[dict], kind: str) -> dict:
        """``summary.json`` of the rows: at least ``n`` and ``rates`` (name -> share)."""
