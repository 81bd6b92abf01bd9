"""Sanity checks of the space-group table (no dev-only dependencies needed)."""

from __future__ import annotations

import collections

import numpy as np
import pytest
from crystalgfn_spacegroup import tables
from crystalgfn_spacegroup.tables import (
    CRYSTAL_SYSTEMS,
    LATTICE_SYSTEMS,
    POINT_SYMMETRIES,
    all_space_groups,
    lattice_system_of,
    point_symmetry_of,
    space_group,
)

# Textbook classification of the 32 crystallographic point groups (pyxtal spells -6m2 as -62m).
POINT_GROUP_CLASS = {
    **dict.fromkeys(
        ["-1", "2/m", "mmm", "4/m", "4/mmm", "-3", "-3m", "6/m", "6/mmm", "m-3", "m-3m"],
        "centrosymmetric",
    ),
    **dict.fromkeys(["1", "2", "3", "4", "6"], "enantiomorphic-polar"),
    **dict.fromkeys(["222", "422", "32", "622", "23", "432"], "enantiomorphic"),
    **dict.fromkeys(["m", "mm2", "4mm", "3m", "6mm"], "polar"),
    **dict.fromkeys(["-4", "-42m", "-6", "-62m", "-43m"], "non-centrosymmetric"),
}


def test_230_rows_in_order():
    groups = all_space_groups()
    assert len(groups) == 230
    assert [g.number for g in groups] == list(range(1, 231))


@pytest.mark.parametrize(
    ("number", "symbol", "crystal_system", "lattice_system", "point_symmetry"),
    [
        (1, "P1", "triclinic", "triclinic", "enantiomorphic-polar"),
        (2, "P-1", "triclinic", "triclinic", "centrosymmetric"),
        (14, "P21/c", "monoclinic", "monoclinic", "centrosymmetric"),
        (164, "P-3m1", "trigonal", "trigonal-hexagonal", "centrosymmetric"),
        (166, "R-3m", "trigonal", "trigonal-rhombohedral", "centrosymmetric"),
        (186, "P63mc", "hexagonal", "hexagonal", "polar"),
        (194, "P63/mmc", "hexagonal", "hexagonal", "centrosymmetric"),
        (216, "F-43m", "cubic", "cubic", "non-centrosymmetric"),
        (225, "Fm-3m", "cubic", "cubic", "centrosymmetric"),
        (198, "P213", "cubic", "cubic", "enantiomorphic"),
    ],
)
def test_known_groups(number, symbol, crystal_system, lattice_system, point_symmetry):
    group = space_group(number)
    assert group.symbol.replace("_", "") == symbol
    assert group.crystal_system == crystal_system
    assert group.lattice_system == lattice_system
    assert group.point_symmetry == point_symmetry


def test_class_counts():
    groups = all_space_groups()
    assert collections.Counter(g.point_symmetry for g in groups) == {
        "centrosymmetric": 92,
        "non-centrosymmetric": 25,
        "enantiomorphic": 45,
        "polar": 48,
        "enantiomorphic-polar": 20,
    }
    assert collections.Counter(g.lattice_system for g in groups) == {
        "triclinic": 2,
        "monoclinic": 13,
        "orthorhombic": 59,
        "tetragonal": 68,
        "trigonal-rhombohedral": 7,
        "trigonal-hexagonal": 18,
        "hexagonal": 27,
        "cubic": 36,
    }
    assert tables.groups_in_lattice_system("trigonal-rhombohedral") == (
        146,
        148,
        155,
        160,
        161,
        166,
        167,
    )
    assert (
        len(tables.groups_with_point_symmetry("enantiomorphic"))
        + len(tables.groups_with_point_symmetry("enantiomorphic-polar"))
        == 65
    )  # Sohncke groups


def test_point_symmetry_follows_point_group():
    groups = all_space_groups()
    assert {g.point_group for g in groups} == set(POINT_GROUP_CLASS)
    for g in groups:
        assert g.point_symmetry == POINT_GROUP_CLASS[g.point_group], g


def test_index_arrays():
    lattice, point = lattice_system_of(), point_symmetry_of()
    assert lattice.shape == point.shape == tables.crystal_system_of().shape == (231,)
    assert lattice[0] == point[0] == -1
    for g in all_space_groups():
        assert LATTICE_SYSTEMS[lattice[g.number]] == g.lattice_system
        assert POINT_SYMMETRIES[point[g.number]] == g.point_symmetry
        assert CRYSTAL_SYSTEMS[tables.crystal_system_of()[g.number]] == g.crystal_system
    with pytest.raises(ValueError):
        lattice[1] = 0  # read-only


def test_wyckoff_positions_sane():
    for g in all_space_groups():
        letters = [w.letter for w in g.wyckoff]
        assert letters == list("abcdefghijklmnopqrstuvwxyzA"[: len(letters)])
        general = max(g.wyckoff, key=lambda w: w.multiplicity)
        assert general.dof == 3 and general.free  # the general position
        assert all(general.multiplicity % w.multiplicity == 0 for w in g.wyckoff)
        assert all(w.free == (w.dof > 0) for w in g.wyckoff)
    assert [(w.letter, w.multiplicity, w.free) for w in space_group(225).wyckoff[:4]] == [
        ("a", 4, False),
        ("b", 4, False),
        ("c", 8, False),
        ("d", 24, False),
    ]
    assert len(space_group(47).wyckoff) == 27  # Pmmm: a..z, A


@pytest.mark.parametrize("bad", [0, 231, -1, 1.0, "1", True])
def test_bad_number(bad):
    with pytest.raises(ValueError, match="space group number"):
        space_group(bad)


def test_provenance_and_int_numpy_number():
    assert "pyxtal" in tables.provenance()["source"]
    assert space_group(np.int64(5)).symbol == "C2"
