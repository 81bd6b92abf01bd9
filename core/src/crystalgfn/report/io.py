"""Reading sample tables (and reference tables in the same format) for reports.

A table is read with the stdlib :mod:`csv` module into :class:`Crystals`: the raw text of
every column, the crystals as environment values (``spacegroup``, ``composition``,
``lattice``) and every numeric column as a float64 numpy array. Bad input raises
:class:`crystalgfn.errors.ConfigError` naming the file, the row and the value.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from crystalgfn.elements import atomic_masses, atomic_number, symbols
from crystalgfn.errors import ConfigError, UnknownNameError
from crystalgfn.geometry import cell_volume

#: Avogadro's number times 1e-24 (Å³ → cm³): g/mol / Å³ → g/cm³ divides by this.
_AVOGADRO_CM3_PER_A3 = 0.602214076


def density(composition: torch.Tensor, lattice: torch.Tensor, strict: bool = True) -> torch.Tensor:
    """Density in g/cm³, float64 ``(B,)``, from atom counts ``(B, 119)`` and lattices ``(B, 6)``
    (NaN for impossible cells unless ``strict``, which raises), for tables (e.g. a reference
    CSV) that lack a density column; sampled tables get theirs from the density proxy."""
    mass = composition.double() @ atomic_masses(device=composition.device)
    return mass / (cell_volume(lattice, strict) * _AVOGADRO_CM3_PER_A3)


LATTICE_COLUMNS = ("a", "b", "c", "alpha", "beta", "gamma")
#: The table columns a report reads each known environment part from. A part the report's
#: environment provides needs its columns; a part it does not provide (e.g. a run on a
#: third-party environment) is not read, and the sections that need it are skipped.
PART_COLUMNS = {
    "spacegroup": ("space_group", "crystal_system", "lattice_system", "point_symmetry"),
    "composition": ("formula",),
    "lattice": LATTICE_COLUMNS,
}
#: The parts a report reads when no environment says otherwise (the crystal stack's).
DEFAULT_PARTS = tuple(PART_COLUMNS)
#: Columns a samples (or reference) CSV of the default parts must have.
REQUIRED_COLUMNS = tuple(column for part in DEFAULT_PARTS for column in PART_COLUMNS[part])
#: Text columns (never summarised as numbers).
TEXT_COLUMNS = ("symbol", "crystal_system", "lattice_system", "point_symmetry", "formula")
#: Numeric columns that describe the structure rather than a property of the material.
STRUCTURE_NUMERIC = ("space_group", "n_atoms", "n_elements", *LATTICE_COLUMNS, "volume")
#: Columns a report adds or ranks by; not material properties.
NON_PROPERTY = ("reward", "log_reward", "rank", "valid")
#: Suffixes of the uncertainty columns ``<proxy>_std`` and ``<proxy>_uncertain`` that
#: ``crystalgfn sample`` writes next to a proxy that reports its uncertainty.
UNCERTAINTY_SUFFIXES = ("_std", "_uncertain")
#: Columns of the sample format, in order (``crystalgfn sample`` writes these).
SAMPLE_COLUMNS = (
    "space_group",
    "symbol",
    "crystal_system",
    "lattice_system",
    "point_symmetry",
    "formula",
    "n_atoms",
    "n_elements",
    *LATTICE_COLUMNS,
    "volume",
    "density",
)

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


def compositions(formulas: Sequence[dict[str, int]]) -> torch.Tensor:
    """Atom counts ``(B, 119)`` (float32, indexed by Z) of parsed formulas."""
    out = torch.zeros(len(formulas), 119)
    for row, counts in enumerate(formulas):
        for symbol, count in counts.items():
            out[row, atomic_number(symbol)] += count
    return out


@dataclass
class Crystals:
    """Rows of a samples or reference table, parsed."""

    path: Path
    columns: dict[str, list[str]]
    values: dict[str, torch.Tensor]
    numeric: dict[str, np.ndarray] = field(default_factory=dict)
    #: number of rows (a table may hold none of the known parts, so it is kept apart)
    rows: int = -1

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
            if name not in STRUCTURE_NUMERIC and name not in NON_PROPERTY
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


def non_finite_rows(crystals: Crystals) -> dict[str, list[int]]:
    """1-based numbers of the rows whose lattice (any of a .. gamma) or density is NaN or
    infinite, by what is missing: such rows are kept, but no metric can measure them."""
    out = {}
    if "lattice" in crystals.values:
        lattice = ~torch.isfinite(crystals.values["lattice"]).all(dim=1)
        out["lattice"] = (lattice.nonzero().squeeze(1) + 1).tolist()
    if "density" in crystals.numeric:
        density = ~np.isfinite(crystals.numeric["density"])
        out["density"] = (np.flatnonzero(density) + 1).tolist()
    return out


def _float_or_nan(text: str) -> float:
    text = text.strip()
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


def _group(text: str) -> int:
    try:
        group = int(float(text))
    except ValueError:
        raise ValueError("not an integer") from None
    if not 1 <= group <= 230 or group != float(text):
        raise ValueError("space groups are integers 1-230")
    return group


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        raise ValueError("not a number") from None


def _formula(text: str) -> dict[str, int]:
    try:
        return parse_formula(text)
    except (ValueError, UnknownNameError) as error:
        message = error.args[0] if isinstance(error, UnknownNameError) else str(error)
        raise ValueError(f"cannot parse the formula ({message})") from None


def _part_values(part: str, columns: dict[str, list[str]], fail) -> torch.Tensor:
    """The environment value of one known part, parsed from its table columns."""
    if part == "spacegroup":
        return torch.tensor(_parse_cells(columns, "space_group", _group, fail), dtype=torch.long)
    if part == "composition":
        return compositions(_parse_cells(columns, "formula", _formula, fail))
    by_column = [_parse_cells(columns, name, _number, fail) for name in LATTICE_COLUMNS]
    return torch.tensor(list(zip(*by_column, strict=True)), dtype=torch.float64)


def read_crystals(
    path: str | os.PathLike, what: str = "samples", parts: Sequence[str] | None = None
) -> Crystals:
    """Read a CSV in the sample format.

    ``parts``: the environment parts to read (default :data:`DEFAULT_PARTS`); each needs its
    :data:`PART_COLUMNS`, and a part not known to reports (a third-party environment's) is
    not read: every other column is still summarised. ``n_atoms``, ``n_elements``, ``volume``
    and ``density`` are computed from the formula and the cell when the file lacks them and
    has those parts. Raises :class:`ConfigError` for a missing file, missing columns (naming
    them and the required ones), an empty table, unreadable formulas, space groups or cell
    parameters (naming the row and the value).
    """
    path = Path(path)
    parts = [part for part in (DEFAULT_PARTS if parts is None else parts) if part in PART_COLUMNS]
    required = [column for part in parts for column in PART_COLUMNS[part]]
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

    values = {part: _part_values(part, columns, fail) for part in parts}
    numeric: dict[str, np.ndarray] = {}
    for name, column in columns.items():
        if name in TEXT_COLUMNS:
            continue
        try:
            numeric[name] = np.array([_float_or_nan(text) for text in column], dtype=np.float64)
        except ValueError:
            continue  # a text column this report does not know (e.g. a material id)
    for name, column in _derived(values).items():
        numeric.setdefault(name, column.numpy().astype(np.float64))
    return Crystals(path=path, columns=columns, values=values, numeric=numeric, rows=len(rows))


def _derived(values: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    """Columns computed from the parts a table has: atom and element counts from the
    formula, the cell volume (Å³) from the cell, the density (g/cm³) from both."""
    out = {}
    if "composition" in values:
        atoms = values["composition"]
        out["n_atoms"] = atoms.sum(dim=1).double()
        out["n_elements"] = (atoms > 0).sum(dim=1).double()
    if "lattice" in values:
        out["volume"] = cell_volume(values["lattice"], strict=False)
    if "lattice" in values and "composition" in values:
        out["density"] = density(values["composition"], values["lattice"], strict=False)
    return out


# -- reference tables -----------------------------------------------------------------------------
#: Columns of a converted Materials Project table (``tests/data/mp_slice.csv``).
TABLE_COLUMNS = (
    "spacegroup_number",
    "conv_composition",
    "conv_a",
    "conv_b",
    "conv_c",
    "conv_alpha",
    "conv_beta",
    "conv_gamma",
)
#: DFT targets of such a table -> the proxy value they are the ground truth of.
TABLE_TARGETS = {"formation_energy_per_atom": "formation_energy", "band_gap": "band_gap"}


def is_table_format(path: str | os.PathLike, what: str = "reference") -> bool:
    """Whether a CSV file's header is that of a converted Materials Project table."""
    table = _rows(Path(path), what)
    header = table[0] if table else []
    return all(name in header for name in TABLE_COLUMNS)


def reference_from_table(table_csv: str | os.PathLike) -> dict[str, list]:
    """Convert a Materials Project table (``spacegroup_number``, ``conv_composition`` JSON,
    ``conv_a`` .. ``conv_gamma``, ``formation_energy_per_atom``, ``band_gap``) into columns of
    the sample format (as ``crystalgfn sample`` writes them), with the DFT targets under
    the names of the proxies they train: ``formation_energy``, ``band_gap``; ``density`` is
    computed from the conventional cell. Write the result with
    :func:`crystalgfn.table.write_csv`.

    The space-group columns (``symbol``, ``crystal_system``, ...) come from the registered
    ``spacegroup`` environment.
    """
    from crystalgfn.compose import make_env

    path = Path(table_csv)
    if not path.is_file():
        raise ConfigError(f"reference table {str(path)!r} does not exist")
    reader = csv.DictReader(io.StringIO(read_csv_text(path, "reference table"), newline=""))
    try:
        header = reader.fieldnames or []
        missing = [name for name in TABLE_COLUMNS if name not in header]
        if missing:
            raise ConfigError(
                f"reference table {str(path)!r} lacks the column(s) {missing}; required: "
                f"{list(TABLE_COLUMNS)}"
            )
        rows = list(reader)
    except csv.Error as error:
        raise ConfigError(f"reference table {str(path)!r} is not a readable CSV: {error}") from None
    if not rows:
        raise ConfigError(f"reference table {str(path)!r} has no rows")
    formulas, groups, lattice = [], [], []
    for number, row in enumerate(rows, start=1):
        try:
            counts = json.loads(row["conv_composition"])
            if not isinstance(counts, Mapping) or not counts:
                raise ValueError("expected a JSON object of element -> count")
            counts = {str(symbol): int(count) for symbol, count in counts.items()}
            for symbol in counts:
                atomic_number(symbol)
            groups.append(int(row["spacegroup_number"]))
            lattice.append([float(row[f"conv_{name}"]) for name in LATTICE_COLUMNS])
        except (ValueError, TypeError, UnknownNameError) as error:
            message = error.args[0] if isinstance(error, UnknownNameError) else str(error)
            raise ConfigError(f"reference table {str(path)!r}, row {number}: {message}") from None
        formulas.append(counts)
    spacegroup = torch.tensor(groups, dtype=torch.long)
    composition = compositions(formulas)
    lattice_tensor = torch.tensor(lattice, dtype=torch.float64)
    columns: dict[str, list] = dict(make_env("spacegroup").describe({"spacegroup": spacegroup}))
    columns["formula"] = [
        "".join(f"{s}{n}" for s, n in counts.items() if n > 0) for counts in formulas
    ]
    columns["n_atoms"] = composition.sum(dim=1).long().tolist()
    columns["n_elements"] = (composition > 0).sum(dim=1).tolist()
    for i, name in enumerate(LATTICE_COLUMNS):
        columns[name] = lattice_tensor[:, i].tolist()
    columns["volume"] = cell_volume(lattice_tensor, strict=False).tolist()
    columns["density"] = density(composition, lattice_tensor, strict=False).tolist()
    for source, target in TABLE_TARGETS.items():
        if source in header:
            columns[target] = [_float_or_nan(row[source]) for row in rows]
    return columns


def element_symbols_by_z(composition: torch.Tensor) -> list[str]:
    """Symbols of the elements present in any row of ``composition`` ``(B, 119)``, by Z."""
    present = (composition > 0).any(dim=0).nonzero().squeeze(1).tolist()
    names = symbols()
    return [names[z] for z in present]


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
