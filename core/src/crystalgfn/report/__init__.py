"""Reports on sampled crystals: measured validity, diversity, property statistics against a
reference set, top-k tables and plots (``crystalgfn report``; see ``docs/report.md``).

Plots need matplotlib (``pip install 'crystalgfn[report]'``); everything else needs only
the core dependencies.
"""

from crystalgfn.report.build import build_report, load_reference
from crystalgfn.report.io import Crystals, parse_formula, read_crystals, required_columns
from crystalgfn.report.metrics import diversity, row_validity, summary, validity_metrics
from crystalgfn.report.parts import Column, ReportPart
from crystalgfn.report.reference import ReferenceFormat, reference_from_table

__all__ = [
    "Column",
    "Crystals",
    "ReferenceFormat",
    "ReportPart",
    "build_report",
    "diversity",
    "load_reference",
    "parse_formula",
    "read_crystals",
    "reference_from_table",
    "required_columns",
    "row_validity",
    "summary",
    "validity_metrics",
]
