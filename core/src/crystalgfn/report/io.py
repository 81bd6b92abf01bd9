"""Reading sample tables (and reference tables in the same format) for reports.

A table is read with the stdlib :mod:`csv` module into :class:`Crystals`: the raw text of
every column, the crystals as environment values (each part read back by the report part
its plugin registers, :mod:`crystalgfn.report.parts`) and every numeric column as a float64
numpy array. Bad input raises :class:`crystalgfn.errors.ConfigError` naming the file, the
row and the value.
"""

from __future__ import annotations

import csv
import io
import math
import os
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crystalgfn.elements import atomic_number
from crystalgfn.errors import ConfigError
from crystalgfn.report.parts import ReportPart, report_parts
from crystalgfn.table import describing_names

#: Columns a report adds or ranks by; not material properties.
NON_PROPERTY = ("reward", "log_reward", "rank", "valid")
#: Suffixes of the uncertainty columns ``<proxy>_std`` and ``<proxy>_uncertain`` that
#: ``crystalgfn sample`` writes next to a proxy that reports its uncertainty.
UNCERTAINTY_SUFFIXES = ("_std", "_uncertain")


def required_columns(parts: Sequence[str] | None = None) -> list[str]:
    """Columns a samples (or reference) table of ``parts`` must have (default: of every part
    a report part is registered for), as those report parts declare them."""
    return [column.name for part in report_parts(parts) for column in part.columns]


_TOKEN = re.compile(r"([A-Z][a-z]?)(\d*)")


def parse_formula(text: str) -> dict[str, int]:
    """Atom counts of a unit-cell formula such as ``"Fe4O6"`` or ``"Li10Co8"``.

    A missing count means 1 (``"NaCl"``); an element written twice is summed. Raises
    :class:`ValueError` for anything else (lower-case start, fractional or zero counts,
    stray characters) and :class:`crystalgfn.errors.UnknownNameError` for unknown elements.
    """
    if not isinstance(text, str) or not text.strip():
        raise ValueError("empty formula")
    text = text.strip()
    counts: dict[str, int] = {}
    position = 0
    for match in _TOKEN.finditer(text):
        if match.start() != position:
            break
        symbol, number = match.group(1), match.group(2)
        atomic_number(symbol)  # raises UnknownNameError with a did-you-mean
        count = int(number) if number else 1
        if count < 1:
            raise ValueError(
                f"element {symbol} has count {count}; counts must be positive integers"
            )
        counts[symbol] = counts.get(symbol, 0) + count
        position = match.end()
    if position != len(text):
        raise ValueError(
            f"cannot read {text[position:]!r} at character {position + 1}: expected an element "
            "symbol followed by an integer count, e.g. Fe4O6"
        )
    return counts


@dataclass
class Crystals:
    """Rows of a samples or reference table, parsed."""

    path: Path
    columns: dict[str, list[str]]
    values: dict[str, torch.Tensor]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    #: number of rows (a table may hold none of the known parts, so it is kept apart)
    rows: int = -1
    #: columns that describe a crystal rather than a property of it (those the report parts
    #: declare), never summarised as properties
    structure: frozenset[str] = frozenset()

    def __post_init__(self) -> None:
        if self.rows < 0:
            self.rows = len(next(iter(self.columns.values()), []))

    @property
    def n(self) -> int:
        return self.rows

    def has(self, *names: str) -> bool:
        """Whether every name is a parsed part or a column of the table."""
        return all(name in self.values or name in self.columns for name in names)

    @property
    def names(self) -> list[str]:
        return list(self.columns)

    def text(self, column: str) -> list[str]:
        return self.columns[column]

    def properties(self) -> list[str]:
        """Numeric columns holding material properties (proxy values, DFT targets, density);
        not the uncertainty columns of a proxy (:meth:`uncertainty_columns`)."""
        uncertainty = {
            column for names in self.uncertainty_columns().values() for column in names.values()
        }
        return [
            name
            for name in self.numeric
            if name not in self.structure and name not in NON_PROPERTY
            and name not in uncertainty
        ]

    def uncertainty_columns(self) -> dict[str, dict[str, str]]:
        """``{proxy: {"std": column, "uncertain": column}}`` for each proxy column with
        ``<proxy>_std`` or ``<proxy>_uncertain`` next to it (tables written before proxies
        reported their uncertainty have none)."""
        out: dict[str, dict[str, str]] = {}
        for name in self.numeric:
            for suffix in UNCERTAINTY_SUFFIXES:
                proxy = name[: -len(suffix)]
                if name.endswith(suffix) and proxy in self.numeric:
                    out.setdefault(proxy, {})[suffix[1:]] = name
        return out

    def select(self, rows: Sequence[int]) -> Crystals:
        index = torch.as_tensor(list(rows), dtype=torch.long)
        array_index = np.asarray(list(rows), dtype=np.int64)
        return Crystals(
            path=self.path,
            columns={name: [column[i] for i in rows] for name, column in self.columns.items()},
            values={key: value[index] for key, value in self.values.items()},
            numeric={name: column[array_index] for name, column in self.numeric.items()},
            rows=len(rows),
            structure=self.structure,
        )


def read_csv_text(path: Path, what: str) -> str:
    """The text of a CSV file, or a :class:`ConfigError` saying it is not one (binary data,
    another encoding, NUL bytes) instead of a ``UnicodeDecodeError`` deep in the reader."""
    data = path.read_bytes()
    try:
        text = data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ConfigError(
            f"{what} file {str(path)!r} is not a text CSV: byte {data[error.start]:#04x} at "
            f"offset {error.start} is not UTF-8 (expected a CSV as 'crystalgfn sample' writes)"
        ) from None
    if "\0" in text:
        raise ConfigError(
            f"{what} file {str(path)!r} is not a text CSV: it holds NUL bytes, at offset "
            f"{text.index(chr(0))} first (expected a CSV as 'crystalgfn sample' writes)"
        )
    return text


def _rows(path: Path, what: str) -> list[list[str]]:
    try:
        return list(csv.reader(io.StringIO(read_csv_text(path, what), newline="")))
    except csv.Error as error:
        raise ConfigError(f"{what} file {str(path)!r} is not a readable CSV: {error}") from None


def non_finite_rows(crystals: Crystals, parts: Sequence[ReportPart] = ()) -> dict[str, list[int]]:
    """1-based numbers of the rows with a NaN or infinite value, by what holds it: the parts
    whose report part asks for it (``finite``) and the columns of describing proxies (exact
    properties such as a density). Such rows are kept, but no metric can measure them."""
    out = {}
    for part in parts:
        if part.finite and part.name in crystals.values:
            bad = ~torch.isfinite(crystals.values[part.name].reshape(crystals.n, -1)).all(dim=1)
            out[part.name] = (bad.nonzero().squeeze(1) + 1).tolist()
    for name in describing_names():
        if name in crystals.numeric:
            out[name] = (np.flatnonzero(~np.isfinite(crystals.numeric[name])) + 1).tolist()
    return out


def float_or_nan(text: str | None) -> float:
    """A table cell as a float: NaN when empty (or missing, ``None``, from a short row)."""
    text = (text or "").strip()
    return math.nan if text == "" else float(text)


def _parse_cells(columns, name, parse, fail):
    """Each cell of ``columns[name]`` parsed by ``parse``; a cell it rejects (ValueError)
    raises ``fail(row, name, problem)``."""
    out = []
    for number, text in enumerate(columns[name], start=1):
        try:
            out.append(parse(text))
        except ValueError as error:
            raise fail(number, name, str(error)) from None
    return out


def read_crystals(
    path: str | os.PathLike, what: str = "samples", parts: Sequence[str] | None = None
) -> Crystals:
    """Read a CSV in the sample format.

    ``parts``: the environment parts to read (default: every part a report part is
    registered for); each needs the columns its report part declares, and a part without
    one (a third-party environment's) is not read: every other column is still summarised.
    Columns the report parts derive (e.g. atom counts, a cell volume) and those of
    describing proxies (e.g. a density) are computed when the file lacks them. Raises
    :class:`ConfigError` for a missing file, missing columns (naming them and the required
    ones), an empty table, or a cell a report part cannot read (naming the row and the value).
    """
    path = Path(path)
    known = report_parts()
    readers = report_parts(parts) if parts is not None else known
    required = [column.name for part in readers for column in part.columns]
    if not path.exists():
        raise ConfigError(f"{what} file {str(path)!r} does not exist")
    if not path.is_file():
        raise ConfigError(f"{what} file {str(path)!r} is not a file")
    table = _rows(path, what)
    if not table:
        raise ConfigError(f"{what} file {str(path)!r} is empty: expected a header with {required}")
    header = [name.strip() for name in table[0]]
    rows = [row for row in table[1:] if any(cell.strip() for cell in row)]
    missing = [name for name in required if name not in header]
    if missing:
        raise ConfigError(
            f"{what} file {str(path)!r} lacks the required column(s) {missing}; required columns: "
            f"{required} (found {header})"
        )
    if not rows:
        raise ConfigError(f"{what} file {str(path)!r} has a header but no rows")
    for number, row in enumerate(rows, start=1):
        if len(row) != len(header):
            raise ConfigError(
                f"{what} file {str(path)!r}, row {number}: {len(row)} fields, but the header "
                f"has {len(header)}"
            )
    columns = {name: [row[i].strip() for row in rows] for i, name in enumerate(header)}

    def fail(number: int, column: str, problem: str) -> ConfigError:
        value = columns[column][number - 1]
        return ConfigError(
            f"{what} file {str(path)!r}, row {number}: {column} {value!r}: {problem}"
        )

    def cells(name, parse):
        return _parse_cells(columns, name, parse, fail)

    values = {part.name: part.read(cells) for part in readers}
    # every registered part's columns describe crystals, whether or not this table's
    # environment provides the part: a space-group number is never a property
    declared = [column for part in known for column in (*part.columns, *part.described)]
    text = {column.name for column in declared if column.text}
    numeric: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        if name in text:
            continue
        try:
            numeric[name] = np.array([float_or_nan(text) for text in column], dtype=np.float64)
        except ValueError:
            continue  # a text column this report does not know (e.g. a material id)
    for name, column in _derived(readers, values).items():
        numeric.setdefault(name, column.numpy().astype(np.float64))
    return Crystals(
        path=path, columns=columns, values=values, numeric=numeric, rows=len(rows),
        structure=frozenset(column.name for column in declared),
    )


def _derived(parts: Sequence[ReportPart], values: dict[str, torch.Tensor]) -> dict:
    """Columns computed from the parts a table has: those each report part derives, and
    the values of every describing proxy whose parts are all there."""
    from crystalgfn.table import describing_proxies

    out = {}
    for part in parts:
        out.update(part.derived(values[part.name]))
    for proxy in describing_proxies(values):
        out[proxy.name] = proxy(values).double().cpu()
    return out


def write_rows(path: str | os.PathLike, header: Iterable[str], rows: Iterable[Iterable]) -> Path:
    """Write rows as CSV (text cells are written as they are)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(list(header))
        for row in rows:
            writer.writerow(list(row))
    return path
