"""What ``crystalgfn evaluate`` judges: rows of a samples CSV, or CIF files."""

from __future__ import annotations

import csv
import io
import math
import random
from dataclasses import dataclass
from pathlib import Path

from crystalgfn.errors import ConfigError


@dataclass(frozen=True)
class Item:
    """One input. ``row`` numbers data rows (CSV) or files in name order (folder) from 1.

    Exactly one of ``sample`` (the CSV row, as strings) and ``cif`` (a path) is set.
    """

    row: int
    formula: str
    space_group: int | None
    sample: dict | None = None
    cif: str | None = None
    #: the samples' value of the judge's ``prediction_column`` (a proxy's prediction), if any
    prediction: float | None = None

    @property
    def input(self) -> str:
        return Path(self.cif).name if self.cif else ""


def read_items(source: str | Path, judge) -> tuple[list[Item], str]:
    """The items of ``source`` (a samples CSV, a CIF file or a folder of CIF files) and its
    kind (``"samples"`` or ``"cif"``); ``judge``: the :class:`~crystalgfn.judge.base.Judge`
    class, whose declared columns are read. Raises :class:`ConfigError` for unusable input."""
    path = Path(source)
    if path.is_dir():
        files = sorted(p for p in path.iterdir() if p.suffix.lower() == ".cif")
        if not files:
            raise ConfigError(f"folder {str(path)!r} holds no .cif files")
        return [Item(i, "", None, cif=str(p)) for i, p in enumerate(files, start=1)], "cif"
    if not path.is_file():
        raise ConfigError(
            f"input {str(path)!r} does not exist; give a samples CSV (crystalgfn sample), "
            "a CIF file or a folder of CIF files"
        )
    if path.suffix.lower() == ".cif":
        return [Item(1, "", None, cif=str(path))], "cif"
    return _read_samples(path, judge), "samples"


def _read_samples(path: Path, judge) -> list[Item]:
    from crystalgfn.report.io import read_csv_text  # names binary and NUL-holding files

    reader = csv.DictReader(io.StringIO(read_csv_text(path, "samples"), newline=""))
    header = reader.fieldnames or []
    rows = [row for row in reader if any((v or "").strip() for v in row.values())]
    missing = [name for name in judge.sample_columns if name not in header]
    if missing:
        raise ConfigError(
            f"samples file {str(path)!r} lacks the column(s) {missing} needed to judge it "
            f"(found {header}); or give a folder of CIF files"
        )
    if not rows:
        raise ConfigError(f"samples file {str(path)!r} has no rows")
    items = []
    for number, row in enumerate(rows, start=1):
        # formula and space group, where the samples have them, name the input in progress
        # lines and let --elements filter it; a judge of other objects needs neither
        items.append(Item(number, (row.get("formula") or "").strip(),
                          _group(row.get("space_group")),
                          sample=dict(row),
                          prediction=_number(row.get(judge.prediction_column))))
    return items


def _group(text) -> int | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return int(value) if value == int(value) and 1 <= value <= 230 else None


def _number(text) -> float | None:
    try:
        value = float(text)
    except (TypeError, ValueError):
        return None
    return value if math.isfinite(value) else None


def within_elements(items: list[Item], elements) -> list[Item]:
    """The CSV items whose formula uses only ``elements`` (element symbols; unknown symbols
    raise with a did-you-mean). CIF items are kept: their formula is read later."""
    import re

    from crystalgfn.elements import atomic_number

    allowed = set()
    for symbol in elements:
        atomic_number(symbol)
        allowed.add(symbol)
    kept = [i for i in items if i.cif or set(re.findall(r"[A-Z][a-z]?", i.formula)) <= allowed]
    if not kept:
        raise ConfigError(f"no input uses only the elements {sorted(allowed)}")
    return kept


def subsample(items: list[Item], n: int | None, seed: int) -> list[Item]:
    """``n`` items drawn without replacement (seeded), in input order; all when ``n`` is
    ``None`` or at least the number of items."""
    if n is None or n >= len(items):
        return list(items)
    chosen = random.Random(seed).sample(range(len(items)), n)
    return [items[i] for i in sorted(chosen)]
