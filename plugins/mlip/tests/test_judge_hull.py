"""Hulls and formation energies from an oracle's own competing phases (the S.U.N. judge)."""

import pytest

pytest.importorskip("pymatgen.core")

from crystalgfn.oracle import ReferenceEntry  # noqa: E402
from crystalgfn_mlip.judge.hull import HullError, Hulls, elements_with_reference  # noqa: E402
from pymatgen.core import Composition  # noqa: E402

# a toy energy scale: Na at -1 and Cl at -3 eV/atom, NaCl 0.5 eV/atom below the line
ENTRIES = (
    ReferenceEntry("na", "Na1", -1.0),
    ReferenceEntry("cl", "Cl2", -3.0),
    ReferenceEntry("na-high", "Na4", -0.9),  # a higher polymorph of Na: not its reference
    ReferenceEntry("nacl", "Na1 Cl1", -2.5),
)


def toy_hulls():
    return Hulls(ENTRIES), ENTRIES


def test_formation_energy_uses_the_lowest_elemental_entries():
    hulls, _ = toy_hulls()
    formation, distance = hulls.score(Composition("NaCl"), -2.5)
    assert formation == pytest.approx(-2.5 - (-1.0 - 3.0) / 2)
    assert distance == pytest.approx(0.0, abs=1e-9)


def test_distance_to_the_hull_is_signed():
    hulls, _ = toy_hulls()
    assert hulls.score(Composition("NaCl"), -2.3)[1] == pytest.approx(0.2)
    assert hulls.score(Composition("NaCl"), -2.7)[1] == pytest.approx(-0.2)
    # the hull at x_Cl = 1/4 is halfway between Na (x = 0, -1) and NaCl (x = 1/2, -2.5)
    assert hulls.score(Composition("Na3Cl"), -1.5)[1] == pytest.approx(0.25)


def test_a_missing_elemental_reference_is_named():
    hulls, entries = toy_hulls()
    assert elements_with_reference(entries) == {"Na", "Cl"}
    with pytest.raises(HullError, match=r"no elemental reference for \['O'\]"):
        hulls.score(Composition("Na2O"), -2.0)
