"""Reports on sampled crystals: measured validity, diversity, property statistics against a
reference set, top-k tables and plots (``crystalgfn report``; see ``docs/report.md``).

Plots need matplotlib (``pip install 'crystalgfn[report]'``); everything else needs only
the core dependencies.
"""

from crystalgfn.report.build import build_report, load_reference
from crystalgfn.report.io import (
    REQUIRED_COLUMNS,
    Crystals,
    parse_formula,
    read_crystals,
    reference_from_table,
)
from crystalgfn.report.metrics import diversity, row_validity, summary, validity_metrics

__all__ = [
    "REQUIRED_COLUMNS",
    "Crystals",
    "build_report",
    "diversity",
    "load_reference",
    "parse_formula",
    "read_crystals",
    "reference_from_table",
    "row_validity",
    "summary",
    "validity_metrics",
]
