"""The one-backward CHGNet calculator gives chgnet's own energies, forces and stresses."""

import contextlib
import io

import numpy as np
import pytest

pytest.importorskip("chgnet")

from chgnet.model.dynamics import CHGNetCalculator  # noqa: E402
from crystalgfn_mlip import load_model  # noqa: E402
from crystalgfn_mlip.calculator import OneBackwardChgnetCalculator  # noqa: E402
from pymatgen.core import Lattice, Structure  # noqa: E402
from pymatgen.io.ase import AseAtomsAdaptor  # noqa: E402


def distorted_crystals():
    """Low-symmetry cells with nonzero forces and every stress component: a triclinic
    lattice and rattled atoms, so that a transposed lattice or a wrong sign shows."""
    rng = np.random.default_rng(0)
    lattice = Lattice.from_parameters(5.1, 5.6, 6.3, 81.0, 97.0, 104.0)
    mixed = Structure(lattice, ["Li", "Mn", "O", "O", "F", "Fe"],
                      rng.uniform(size=(6, 3)))
    spinel_like = Structure.from_spacegroup(
        "Fd-3m", Lattice.cubic(8.1), ["Mn", "Li", "O"],
        [[0.5, 0.5, 0.5], [0.125, 0.125, 0.125], [0.26, 0.26, 0.26]])
    spinel_like.apply_strain([0.04, -0.03, 0.02])
    spinel_like.perturb(0.15, min_distance=0.05)
    return [mixed, spinel_like]


@pytest.mark.parametrize("index", [0, 1])
def test_forces_and_stress_are_chgnets_own(index):
    structure = distorted_crystals()[index]
    model = load_model("cpu")
    with contextlib.redirect_stdout(io.StringIO()):  # chgnet prints its device
        reference = CHGNetCalculator(model=model, use_device="cpu", on_isolated_atoms="ignore")
    results = []
    for calculator in (reference, OneBackwardChgnetCalculator(model)):
        atoms = AseAtomsAdaptor.get_atoms(structure)
        atoms.calc = calculator
        results.append((atoms.get_potential_energy(), atoms.get_forces(), atoms.get_stress()))
    (energy, forces, stress), (energy_new, forces_new, stress_new) = results
    assert np.abs(forces).max() > 0.1 and np.abs(stress).min() > 1e-5  # a real test case
    assert energy_new == pytest.approx(energy, abs=1e-5)
    np.testing.assert_allclose(forces_new, forces, atol=1e-4 * np.abs(forces).max())
    np.testing.assert_allclose(stress_new, stress, atol=1e-4 * np.abs(stress).max())
