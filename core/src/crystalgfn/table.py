"""Tables of sampled objects: one row per done state, written as CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path

import torch

from crystalgfn.atomic import atomic_path
from crystalgfn.elements import atomic_masses
from crystalgfn.env import Environment
from crystalgfn.geometry import cell_volume
from crystalgfn.states import State

#: Avogadro's number times 1e-24 (Å³ → cm³): g/mol / Å³ → g/cm³ divides by this.
_AVOGADRO_CM3_PER_A3 = 0.602214076


def density(composition: torch.Tensor, lattice: torch.Tensor, strict: bool = True) -> torch.Tensor:
    """Density in g/cm³, float64 ``(B,)``, from atom counts ``(B, 119)`` and lattices ``(B, 6)``
    (NaN for impossible cells unless ``strict``, which raises)."""
    mass = composition.double() @ atomic_masses(device=composition.device)
    return mass / (cell_volume(lattice, strict) * _AVOGADRO_CM3_PER_A3)


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
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)  # columns of one table
    with atomic_path(path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(names)
        for row in rows:
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return Path(path)
