"""The periodic table as Crystal-GFN needs it: symbols, atomic numbers and masses.

Loaded lazily from the packaged ``data/elements.json`` (see ``core/scripts/build_elements.py``
for its provenance) and cached.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterable
from importlib import resources

import torch

from crystalgfn.errors import UnknownNameError


@functools.cache
def _table() -> dict:
    return json.loads(resources.files("crystalgfn").joinpath("data/elements.json").read_text())


@functools.cache
def symbols() -> tuple[str, ...]:
    """Element symbols indexed by atomic number Z; index 0 is the empty string."""
    return ("",) + tuple(entry["symbol"] for entry in _table()["elements"])


@functools.cache
def _z_of() -> dict[str, int]:
    return {symbol: z for z, symbol in enumerate(symbols()) if symbol}


def atomic_number(symbol: str) -> int:
    """Atomic number of ``symbol`` (case-sensitive, e.g. ``"Fe"``)."""
    try:
        return _z_of()[symbol]
    except KeyError:
        raise UnknownNameError("element", str(symbol), _z_of()) from None


def atomic_numbers(elements: Iterable[str]) -> list[int]:
    """Atomic numbers of ``elements``; an unknown symbol raises with a did-you-mean."""
    return [atomic_number(symbol) for symbol in elements]


@functools.cache
def _masses() -> torch.Tensor:
    masses = torch.zeros(119, dtype=torch.float64)
    for entry in _table()["elements"]:
        masses[entry["Z"]] = entry["mass"]
    return masses


def atomic_masses(dtype: torch.dtype = torch.float64, device=None) -> torch.Tensor:
    """Standard atomic masses in g/mol, ``(119,)`` indexed by Z (entry 0 is 0)."""
    return _masses().to(dtype=dtype, device=device)


def atom_counts(formulas: Iterable[dict[str, int]]) -> torch.Tensor:
    """Atom counts ``(B, 119)`` (float32, indexed by Z) of formulas given as symbol -> count
    (e.g. parsed from a table); a symbol that repeats in a formula adds up."""
    formulas = list(formulas)
    out = torch.zeros(len(formulas), 119)
    for row, counts in enumerate(formulas):
        for symbol, count in counts.items():
            out[row, atomic_number(symbol)] += count
    return out


def formula(counts: dict[str, int]) -> str:
    """Unit-cell formula with integer counts in the order given, e.g. ``Fe4O6``."""
    return "".join(f"{symbol}{count}" for symbol, count in counts.items() if count > 0)
