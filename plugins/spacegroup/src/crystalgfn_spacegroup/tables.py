"""Space-group facts (230 groups) loaded lazily from ``data/spacegroups.json``.

All accessors are cached; returned objects are immutable (frozen dataclasses,
tuples, or read-only numpy arrays). Class indices follow the order of
:data:`CRYSTAL_SYSTEMS`, :data:`LATTICE_SYSTEMS` and :data:`POINT_SYMMETRIES`.

Runtime dependencies: numpy and the standard library only.
"""

from __future__ import annotations

import functools
import hashlib
import json
from dataclasses import dataclass
from importlib import resources

import numpy as np
from crystalgfn.parts import CRYSTAL_SYSTEMS, LATTICE_SYSTEMS

N_SPACE_GROUPS = 230

POINT_SYMMETRIES: tuple[str, ...] = (
    "centrosymmetric",
    "non-centrosymmetric",
    "enantiomorphic",
    "polar",
    "enantiomorphic-polar",
)
"""The 5 point-symmetry classes of Crystal-GFN."""


@dataclass(frozen=True)
class WyckoffPosition:
    """One Wyckoff position of a space group (standard conventional setting).

    Attributes:
        letter: Wyckoff letter ("a", "b", ..., "z", "A").
        multiplicity: number of equivalent sites per conventional cell.
        dof: number of free coordinate parameters (0..3).
        free: ``dof > 0``; a free position can host any number of orbits.
    """

    letter: str
    multiplicity: int
    dof: int
    free: bool


@dataclass(frozen=True)
class SpaceGroup:
    """Facts about one space group.

    Attributes:
        number: international number, 1..230.
        symbol: Hermann-Mauguin symbol as tabulated by pyxtal (e.g. "P63/mmc").
        crystal_system: one of :data:`CRYSTAL_SYSTEMS`.
        lattice_system: one of :data:`LATTICE_SYSTEMS`.
        point_group: Hermann-Mauguin point-group symbol (e.g. "6/mmm").
        point_symmetry: one of :data:`POINT_SYMMETRIES`.
        wyckoff: Wyckoff positions in alphabetical (ITA) order.
    """

    number: int
    symbol: str
    crystal_system: str
    lattice_system: str
    point_group: str
    point_symmetry: str
    wyckoff: tuple[WyckoffPosition, ...]

    @property
    def crystal_system_index(self) -> int:
        """Index of :attr:`crystal_system` in :data:`CRYSTAL_SYSTEMS`."""
        return CRYSTAL_SYSTEMS.index(self.crystal_system)

    @property
    def lattice_system_index(self) -> int:
        """Index of :attr:`lattice_system` in :data:`LATTICE_SYSTEMS`."""
        return LATTICE_SYSTEMS.index(self.lattice_system)

    @property
    def point_symmetry_index(self) -> int:
        """Index of :attr:`point_symmetry` in :data:`POINT_SYMMETRIES`."""
        return POINT_SYMMETRIES.index(self.point_symmetry)


@functools.cache
def _raw_text() -> str:
    path = resources.files(__package__).joinpath("data/spacegroups.json")
    return path.read_text(encoding="utf-8")


@functools.cache
def _raw_table() -> dict:
    return json.loads(_raw_text())


def data_digest() -> str:
    """SHA-256 of the space-group data file: part of the key of tables cached on disk."""
    return hashlib.sha256(_raw_text().encode()).hexdigest()


@functools.cache
def provenance() -> dict[str, str]:
    """How the data table was generated (package versions, setting)."""
    return dict(_raw_table()["provenance"])


@functools.cache
def all_space_groups() -> tuple[SpaceGroup, ...]:
    """All 230 space groups; element ``i`` is group number ``i + 1``."""
    raw = _raw_table()
    if (
        tuple(raw["lattice_systems"]) != LATTICE_SYSTEMS
        or tuple(raw["point_symmetries"]) != POINT_SYMMETRIES
    ):
        raise RuntimeError(
            "spacegroups.json class names do not match this module; rebuild the table"
        )
    groups = []
    for row in raw["space_groups"]:
        wyckoff = tuple(
            WyckoffPosition(w["letter"], int(w["multiplicity"]), int(w["dof"]), bool(w["free"]))
            for w in row["wyckoff"]
        )
        groups.append(
            SpaceGroup(
                number=int(row["number"]),
                symbol=row["symbol"],
                crystal_system=row["crystal_system"],
                lattice_system=row["lattice_system"],
                point_group=row["point_group"],
                point_symmetry=row["point_symmetry"],
                wyckoff=wyckoff,
            )
        )
    if [g.number for g in groups] != list(range(1, N_SPACE_GROUPS + 1)):
        raise RuntimeError("spacegroups.json must list groups 1..230 in order")
    return tuple(groups)


def _check_number(number: int) -> int:
    if (
        isinstance(number, bool)
        or not isinstance(number, (int, np.integer))
        or not 1 <= number <= N_SPACE_GROUPS
    ):
        raise ValueError(
            f"space group number must be an int in 1..{N_SPACE_GROUPS}, got {number!r}"
        )
    return int(number)


def space_group(number: int) -> SpaceGroup:
    """The :class:`SpaceGroup` with international ``number`` (1..230)."""
    return all_space_groups()[_check_number(number) - 1]


def wyckoff_positions(number: int) -> tuple[WyckoffPosition, ...]:
    """Wyckoff positions of space group ``number`` in alphabetical order."""
    return space_group(number).wyckoff


def _index_array(attribute: str) -> np.ndarray:
    out = np.full(N_SPACE_GROUPS + 1, -1, dtype=np.int64)
    for group in all_space_groups():
        out[group.number] = getattr(group, attribute)
    out.setflags(write=False)
    return out


@functools.cache
def lattice_system_of() -> np.ndarray:
    """Lattice-system index per group number: int64 (231,); entry 0 is -1 (unused)."""
    return _index_array("lattice_system_index")


@functools.cache
def point_symmetry_of() -> np.ndarray:
    """Point-symmetry index per group number: int64 (231,); entry 0 is -1 (unused)."""
    return _index_array("point_symmetry_index")


@functools.cache
def crystal_system_of() -> np.ndarray:
    """Crystal-system index per group number: int64 (231,); entry 0 is -1 (unused)."""
    return _index_array("crystal_system_index")


@functools.cache
def symbols() -> tuple[str, ...]:
    """Hermann-Mauguin symbols indexed by number: tuple of length 231, entry 0 is ""."""
    return ("",) + tuple(g.symbol for g in all_space_groups())


@functools.cache
def groups_in_lattice_system(lattice_system: str) -> tuple[int, ...]:
    """Group numbers (ascending) in ``lattice_system`` (a name from :data:`LATTICE_SYSTEMS`)."""
    if lattice_system not in LATTICE_SYSTEMS:
        raise ValueError(
            f"unknown lattice system {lattice_system!r}; expected one of {LATTICE_SYSTEMS}"
        )
    return tuple(g.number for g in all_space_groups() if g.lattice_system == lattice_system)


@functools.cache
def groups_with_point_symmetry(point_symmetry: str) -> tuple[int, ...]:
    """Group numbers (ascending) in class ``point_symmetry`` (from :data:`POINT_SYMMETRIES`)."""
    if point_symmetry not in POINT_SYMMETRIES:
        raise ValueError(
            f"unknown point symmetry {point_symmetry!r}; expected one of {POINT_SYMMETRIES}"
        )
    return tuple(g.number for g in all_space_groups() if g.point_symmetry == point_symmetry)
