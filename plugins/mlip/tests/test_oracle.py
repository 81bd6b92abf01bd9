"""The chgnet oracle: offline loading, the oracle contract, its competing phases."""

import socket

import pytest

pytest.importorskip("chgnet")

from crystalgfn.errors import ConfigError, UnknownNameError  # noqa: E402
from crystalgfn.plugins import get_plugins  # noqa: E402
from crystalgfn.testing import check_oracle  # noqa: E402
from crystalgfn_mlip import ChgnetOracle, load_model, load_reference  # noqa: E402
from crystalgfn_mlip.judge.hull import Hulls  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402

PAPER_ELEMENTS = "H Li B C N O F Na Mg Al Si P S Cl K V Mn Fe Co Ni Cu Se".split()


def nacl(a=5.69):
    return Structure.from_spacegroup("Fm-3m", Lattice.cubic(a), ["Na", "Cl"],
                                     [[0, 0, 0], [0.5, 0.5, 0.5]])


def silicon():
    # diamond: the fcc lattice points and the same shifted by (1/4, 1/4, 1/4)
    fcc = [[0, 0, 0], [0, 0.5, 0.5], [0.5, 0, 0.5], [0.5, 0.5, 0]]
    coords = fcc + [[x + 0.25 for x in point] for point in fcc]
    return Structure(Lattice.cubic(5.47), ["Si"] * 8, coords)


def perovskite():
    # KMgF3, cubic perovskite (mp-3448)
    return Structure.from_spacegroup("Pm-3m", Lattice.cubic(4.0), ["K", "Mg", "F"],
                                     [[0.5, 0.5, 0.5], [0, 0, 0], [0.5, 0, 0]])


@pytest.fixture(scope="module")
def oracle():
    return ChgnetOracle(fmax=0.1, steps=30)


def test_the_weights_load_with_the_network_off(monkeypatch):
    def refuse(*args, **kwargs):
        raise OSError("network access attempted while loading the potential")

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    load_model.cache_clear()
    model = load_model("cpu")
    prediction = model.predict_structure(nacl())
    assert -4.0 < float(prediction["e"]) < -3.3  # eV/atom, NaCl
    load_model.cache_clear()


def test_the_oracle_is_registered_by_its_distribution():
    entry = get_plugins().oracles.get("chgnet")
    assert entry.distribution == "crystalgfn-mlip"
    with pytest.raises(UnknownNameError, match="Did you mean 'chgnet'"):
        get_plugins().oracles.get("chgnte")


def test_the_oracle_contract_on_small_structures(oracle):
    relaxations = check_oracle(oracle, [nacl(), silicon(), perovskite()])
    assert all(r.converged for r in relaxations)
    sodium_chloride, si, kmgf3 = relaxations
    # CHGNet's lattice constants are within a few percent of experiment
    assert sodium_chloride.structure.lattice.a == pytest.approx(5.69, rel=0.04)
    assert si.structure.lattice.a == pytest.approx(5.43, rel=0.03)
    assert kmgf3.structure.lattice.a == pytest.approx(3.99, rel=0.04)


def test_a_compressed_cell_expands_and_loses_energy(oracle):
    relaxation = oracle.relax(nacl(a=5.2))
    assert relaxation.structure.volume > nacl(a=5.2).volume
    assert relaxation.energy_per_atom < relaxation.initial_energy_per_atom - 0.01
    assert relaxation.steps > 0


def test_single_point_does_not_move_the_atoms():
    relaxation = ChgnetOracle(steps=0).relax(nacl())
    assert relaxation.steps == 0
    assert relaxation.energy_per_atom == relaxation.initial_energy_per_atom
    assert relaxation.structure.lattice.a == pytest.approx(5.69)


def test_unknown_elements_and_bad_settings_are_named(oracle):
    og = Structure(Lattice.cubic(4.0), ["Og"], [[0, 0, 0]])
    with pytest.raises(ConfigError, match=r"does not know the element\(s\) \['Og'\]"):
        oracle.relax(og)
    with pytest.raises(ConfigError, match="fmax must be a positive number"):
        ChgnetOracle(fmax=-1)
    with pytest.raises(ConfigError, match="steps must be an integer"):
        ChgnetOracle(steps=2.5)
    with pytest.raises(ConfigError, match="device must be 'cpu' or 'cuda'"):
        ChgnetOracle(device="gpu")


def test_the_shipped_reference_covers_the_paper_elements_on_one_scale():
    reference = load_reference()
    assert set(PAPER_ELEMENTS) <= reference.elements
    assert reference.provenance["potential"] == "CHGNet 0.3.0"
    assert len(reference.entries) > 5000


def test_formation_energies_from_the_shipped_hull_match_dft_for_simple_crystals(oracle):
    hulls = Hulls(load_reference().entries)
    relaxed = oracle.relax(nacl())
    formation, distance = hulls.score(relaxed.structure.composition, relaxed.energy_per_atom)
    assert formation == pytest.approx(-2.105, abs=0.15)  # DFT (MP): -2.105 eV/atom
    assert abs(distance) < 0.05  # rock-salt NaCl is the ground state


def test_a_relaxation_out_of_time_stops_where_it_is_unconverged():
    relaxation = ChgnetOracle(steps=300, max_seconds=1e-9).relax(nacl(a=5.2))
    assert relaxation.steps == 0 and not relaxation.converged  # out of time before a step
    with pytest.raises(ConfigError, match="max_seconds must be a positive number"):
        ChgnetOracle(max_seconds=0)
