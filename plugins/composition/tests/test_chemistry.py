"""Element tables and SMACT-validity reproduction (cross-checks need smact + pymatgen)."""

from __future__ import annotations

import itertools
import random
import warnings

import numpy as np
import pytest
from crystalgfn_composition import chemistry
from crystalgfn_composition.chemistry import (
    atomic_masses,
    electronegativities,
    element_chemistry,
    elements,
    is_valid_composition,
    metal_flags,
    oxidation_state_set_names,
    oxidation_states_of,
    symbol_to_z,
)

ELEMENTS_22 = "H Li B C N O F Na Mg Al Si P S Cl K V Mn Fe Co Ni Cu Se".split()


def random_compositions(n: int, seed: int, symbols=ELEMENTS_22, max_elements=5, max_count=16):
    rng = random.Random(seed)
    for _ in range(n):
        chosen = rng.sample(symbols, rng.randint(1, max_elements))
        yield {s: rng.randint(1, max_count) for s in chosen}


def test_element_tables():
    assert len(chemistry.ELEMENTS) == 104 and chemistry.ELEMENTS == elements()
    assert elements()[0] == "" and elements()[1] == "H" and elements()[103] == "Lr"
    assert symbol_to_z("Fe") == 26
    masses = atomic_masses()
    assert masses.shape == (119,) and masses.dtype == np.float64
    assert masses[0] == 0 and not masses[104:].any() and (masses[1:104] > 0).all()
    assert masses[26] == pytest.approx(55.845, abs=1e-3)
    eneg = electronegativities()
    assert eneg[symbol_to_z("F")] == pytest.approx(3.98) and np.isnan(eneg[symbol_to_z("He")])
    flags = metal_flags()
    assert flags[symbol_to_z("Fe")] and not flags[symbol_to_z("O")]
    assert "icsd24" in oxidation_state_set_names()
    assert oxidation_states_of("Fe") == (-4, 1, 2, 3, 4, 5, 6)
    assert oxidation_states_of("He") == ()
    assert chemistry.provenance()["smact"]


def test_element_chemistry_arrays():
    info = element_chemistry(["Fe", "O", "He"])
    assert info.oxidation_states.shape == info.oxidation_mask.shape == (3, 7)
    assert info.oxidation_states[1][info.oxidation_mask[1]].tolist() == [-2, -1, 2]
    assert not info.oxidation_mask[2].any()
    assert info.is_metal.tolist() == [True, False, False]
    assert np.isnan(info.electronegativity[2])


@pytest.mark.parametrize(
    ("counts", "expected"),
    [
        ({"Na": 1, "Cl": 1}, True),
        ({"Na": 1, "K": 1}, True),  # alloy fast path
        ({"Fe": 2, "O": 3}, True),
        ({"Na": 1, "O": 1}, True),  # peroxide O(-1)
        ({"Na": 1, "O": 2}, False),
        ({"Na": 1, "Cl": 2}, False),
        ({"Fe": 3, "O": 4}, False),  # mixed valence is off by default
        ({"He": 1}, True),  # single element
        ({"He": 1, "O": 1}, False),  # no oxidation states for He
        ({"Pm": 1, "Cl": 3}, False),  # Pm has no Pauling electronegativity
        ({"O": 1, "F": 2}, True),
        ({"Na": 2, "Cl": 2, "K": 0}, True),  # zeros ignored, ratios reduced
    ],
)
def test_known_cases(counts, expected):
    assert is_valid_composition(counts) is expected


def test_options():
    assert is_valid_composition({"Na": 1, "K": 1}, alloys=False) is False
    assert is_valid_composition({"Na": 1, "Cl": 1}, oxidation_states="smact14") is True
    assert is_valid_composition({"Pm": 1, "Cl": 3}, pauling=False) is True


@pytest.mark.parametrize(
    "bad",
    [{"Xx": 1}, {"Na": -1}, {"Na": 1.5}, {"Na": True}, {}, {"Na": 0}, [("Na", 1)]],
)
def test_bad_input(bad):
    with pytest.raises(ValueError):
        is_valid_composition(bad)


def test_bad_set():
    with pytest.raises(ValueError, match="oxidation-state set"):
        is_valid_composition({"Na": 1, "Cl": 1}, oxidation_states="nope")


def _smact_validity():
    screening = pytest.importorskip("smact.screening")
    composition = pytest.importorskip("pymatgen.core").Composition

    def validity(counts, **kwargs):
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return screening.smact_validity(composition(counts), **kwargs)

    return validity


@pytest.mark.slow
def test_agrees_with_smact_default():
    validity = _smact_validity()
    mismatches = [
        c for c in random_compositions(6000, seed=0) if is_valid_composition(c) != validity(c)
    ]
    assert mismatches == []


def test_agrees_with_smact_all_elements_and_options():
    validity = _smact_validity()
    symbols = [s for s in elements()[1:]]
    mismatches = []
    for i, c in enumerate(
        random_compositions(1500, seed=1, symbols=symbols, max_elements=4, max_count=8)
    ):
        pauling, alloys = bool(i % 2), bool(i % 3)
        if is_valid_composition(c, pauling=pauling, alloys=alloys) != validity(
            c, use_pauling_test=pauling, include_alloys=alloys
        ):
            mismatches.append((c, pauling, alloys))
    assert mismatches == []


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        ("smact14", "smact14"),
        ("icsd16", "icsd16"),
        ("pymatgen_sp", "pymatgen_sp"),
        ("icsd24_element", "icsd24"),
    ],
)
def test_agrees_with_smact_named_sets(ours, theirs):
    validity = _smact_validity()
    mismatches = [
        c
        for c in random_compositions(800, seed=2, max_elements=4)
        if is_valid_composition(c, oxidation_states=ours)
        != validity(c, oxidation_states_set=theirs)
    ]
    assert mismatches == []


def test_binary_acceptance_share():
    """Share of binary compositions (22 elements) accepted; printed for the record."""
    shares = {}
    for max_count in (8, 16):
        grid = list(itertools.product(range(1, max_count + 1), repeat=2))
        accepted = [
            is_valid_composition({a: i, b: j})
            for a, b in itertools.combinations(ELEMENTS_22, 2)
            for i, j in grid
        ]
        shares[max_count] = float(np.mean(accepted))
    print(f"binary acceptance share: counts<=8: {shares[8]:.4f}, counts<=16: {shares[16]:.4f}")
    assert shares[8] == pytest.approx(0.4802, abs=5e-4)
    assert shares[16] == pytest.approx(0.3684, abs=5e-4)


def test_package_exports_the_chemistry_names_lazily():
    import crystalgfn_composition

    assert crystalgfn_composition.__all__ == chemistry.__all__
    for name in chemistry.__all__:
        assert getattr(crystalgfn_composition, name) is getattr(chemistry, name)
