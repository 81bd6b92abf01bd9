"""Materials Project tables as a report reference (``crystalgfn report --reference``).

A converted Materials Project table (``tests/data/mp_slice.csv``) has a conventional cell
per row: ``spacegroup_number``, ``conv_composition`` (JSON), ``conv_a`` .. ``conv_gamma`` and
DFT targets. It is converted into the sample format that ``crystalgfn sample`` writes for the
crystal stack, with each DFT target under the name of the proxy it is the ground truth of.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping
from pathlib import Path

import torch
from crystalgfn.elements import atom_counts, atomic_number, formula
from crystalgfn.errors import ConfigError, UnknownNameError
from crystalgfn.geometry import cell_volume
from crystalgfn.report.io import float_or_nan, read_csv_text
from crystalgfn.report.reference import ReferenceFormat

CELL = ("a", "b", "c", "alpha", "beta", "gamma")
#: DFT targets of such a table -> the proxy value they are the ground truth of.
TARGETS = {"formation_energy_per_atom": "formation_energy", "band_gap": "band_gap"}


class MaterialsProjectTable(ReferenceFormat):
    """``spacegroup_number``, ``conv_composition`` JSON, ``conv_a`` .. ``conv_gamma``,
    optionally ``formation_energy_per_atom`` and ``band_gap``."""

    name = "materials_project"
    columns = ("spacegroup_number", "conv_composition", *(f"conv_{name}" for name in CELL))

    def convert(self, path: Path) -> dict[str, list]:
        """Columns of the sample format: the space-group columns (from the registered
        ``spacegroup`` environment), ``formula``, atom and element counts, the cell, its
        volume, every describing proxy's column (e.g. ``density``) and the DFT targets."""
        from crystalgfn.compose import make_env
        from crystalgfn.table import describing_proxies

        reader = csv.DictReader(io.StringIO(read_csv_text(path, "reference table"), newline=""))
        try:
            header = reader.fieldnames or []
            missing = [name for name in self.columns if name not in header]
            if missing:
                raise ConfigError(
                    f"reference table {str(path)!r} lacks the column(s) {missing}; required: "
                    f"{list(self.columns)}"
                )
            rows = list(reader)
        except csv.Error as error:
            raise ConfigError(
                f"reference table {str(path)!r} is not a readable CSV: {error}") from None
        if not rows:
            raise ConfigError(f"reference table {str(path)!r} has no rows")
        formulas, groups, cells = [], [], []
        for number, row in enumerate(rows, start=1):
            try:
                counts = json.loads(row["conv_composition"])
                if not isinstance(counts, Mapping) or not counts:
                    raise ValueError("expected a JSON object of element -> count")
                counts = {str(symbol): int(count) for symbol, count in counts.items()}
                for symbol in counts:
                    atomic_number(symbol)
                groups.append(int(row["spacegroup_number"]))
                cells.append([float(row[f"conv_{name}"]) for name in CELL])
            except (ValueError, TypeError, UnknownNameError) as error:
                message = error.args[0] if isinstance(error, UnknownNameError) else str(error)
                raise ConfigError(
                    f"reference table {str(path)!r}, row {number}: {message}") from None
            formulas.append(counts)
        groups_tensor = torch.tensor(groups, dtype=torch.long)
        cell = torch.tensor(cells, dtype=torch.float64)
        counts_tensor = atom_counts(formulas)
        values = {"spacegroup": groups_tensor, "composition": counts_tensor, "lattice": cell}
        columns: dict[str, list] = dict(make_env("spacegroup").describe(values))
        columns["formula"] = [formula(counts) for counts in formulas]
        columns["n_atoms"] = counts_tensor.sum(dim=1).long().tolist()
        columns["n_elements"] = (counts_tensor > 0).sum(dim=1).tolist()
        for i, name in enumerate(CELL):
            columns[name] = cell[:, i].tolist()
        columns["volume"] = cell_volume(cell, strict=False).tolist()
        for proxy in describing_proxies(values):  # exact properties, e.g. the density
            columns.setdefault(proxy.name, proxy(values).double().tolist())
        for source, target in TARGETS.items():
            if source in header:
                columns[target] = [float_or_nan(row[source]) for row in rows]
        return columns
