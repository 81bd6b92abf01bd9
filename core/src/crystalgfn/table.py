"""Tables of sampled objects: one row per done state, written as CSV."""

from __future__ import annotations

import csv
import os
import tempfile
from collections.abc import Mapping
from pathlib import Path

import torch

from crystalgfn.elements import atomic_masses
from crystalgfn.env import Environment
from crystalgfn.geometry import cell_volume
from crystalgfn.states import State

#: Avogadro's number times 1e-24 (Å³ → cm³): g/mol / Å³ → g/cm³ divides by this.
_AVOGADRO_CM3_PER_A3 = 0.602214076


def density(composition: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Density in g/cm³, float64 ``(B,)``, from atom counts ``(B, 119)`` and lattices ``(B, 6)``."""
    mass = composition.double() @ atomic_masses(device=composition.device)
    return mass / (cell_volume(lattice) * _AVOGADRO_CM3_PER_A3)


def describe(env: Environment, done: State) -> dict[str, list]:
    """Columns describing done states: the environment's own columns plus, when both a
    composition and a lattice are present, the cell ``volume`` (Å³) and ``density`` (g/cm³)."""
    values = env.values(done)
    columns = env.describe(values)
    if "composition" in values and "lattice" in values:
        columns["volume"] = cell_volume(values["lattice"]).tolist()
        columns["density"] = density(values["composition"], values["lattice"]).tolist()
    return columns


def write_csv(path: str | os.PathLike, columns: Mapping[str, list]) -> Path:
    """Write columns as CSV atomically (a temporary file renamed into place)."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    names = list(columns)
    rows = zip(*(columns[name] for name in names))
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "w", newline="") as stream:
            writer = csv.writer(stream)
            writer.writerow(names)
            for row in rows:
                writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return path
