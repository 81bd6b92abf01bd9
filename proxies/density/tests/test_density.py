import math

import numpy as np
import pytest
import torch

from crystalgfn_density import Density, cell_volume, density

pymatgen_core = pytest.importorskip("pymatgen.core")

# (name, generator of a, b, c, alpha, beta, gamma)
LATTICE_SYSTEMS = {
    "cubic": lambda r: (x := r.uniform(3, 12), x, x, 90.0, 90.0, 90.0),
    "tetragonal": lambda r: (x := r.uniform(3, 12), x, r.uniform(3, 15), 90.0, 90.0, 90.0),
    "orthorhombic": lambda r: (*r.uniform(3, 15, 3), 90.0, 90.0, 90.0),
    "hexagonal": lambda r: (x := r.uniform(3, 12), x, r.uniform(3, 15), 90.0, 90.0, 120.0),
    "rhombohedral": lambda r: (x := r.uniform(3, 10), x, x, *([r.uniform(50, 100)] * 3)),
    "monoclinic": lambda r: (*r.uniform(3, 15, 3), 90.0, r.uniform(95, 130), 90.0),
    "triclinic": lambda r: (*r.uniform(3, 15, 3), *r.uniform(70, 110, 3)),
}


def _random_cell(rng, system):
    params = [float(v) for v in LATTICE_SYSTEMS[system](rng)]
    n_elements = int(rng.integers(1, 5))
    zs = rng.choice(np.arange(1, 95), n_elements, replace=False)
    counts = rng.integers(1, 9, n_elements)
    return params, dict(zip(zs.tolist(), counts.tolist()))


@pytest.mark.parametrize("system", sorted(LATTICE_SYSTEMS))
def test_density_matches_pymatgen(system):
    rng = np.random.default_rng(abs(hash(system)) % 2**32)
    comps, lats, expected = [], [], []
    for _ in range(20):
        params, comp = _random_cell(rng, system)
        lattice = pymatgen_core.Lattice.from_parameters(*params)
        species = [z for z, c in comp.items() for _ in range(c)]
        coords = rng.random((len(species), 3))
        structure = pymatgen_core.Structure(lattice, species, coords)
        row = torch.zeros(119, dtype=torch.int64)
        for z, c in comp.items():
            row[z] = c
        comps.append(row)
        lats.append(torch.tensor(params, dtype=torch.float64))
        expected.append(structure.density)
    batch = {"composition": torch.stack(comps), "lattice": torch.stack(lats)}
    got = Density()(batch)
    assert got.shape == (20,) and got.dtype == torch.float64
    np.testing.assert_allclose(got.numpy(), np.array(expected, dtype=float), rtol=1e-6)


def test_volume_matches_pymatgen_triclinic():
    params = (4.1, 5.3, 7.7, 81.0, 97.5, 104.2)
    vol = cell_volume(torch.tensor([params], dtype=torch.float64))
    assert math.isclose(float(vol[0]), pymatgen_core.Lattice.from_parameters(*params).volume,
                        rel_tol=1e-12)


def test_nacl_and_float32_inputs():
    comp = torch.zeros(1, 119)
    comp[0, 11] = 4
    comp[0, 17] = 4
    lat = torch.tensor([[5.69169, 5.69169, 5.69169, 90.0, 90.0, 90.0]], dtype=torch.float32)
    rho = density(comp, lat)
    assert rho.dtype == torch.float64
    # 4 × (22.98977 + 35.453) g/mol in 5.69169³ Å³ (Materials Project PBE cell of NaCl)
    assert abs(float(rho[0]) - 2.1053) < 1e-3


def test_requires_and_registration():
    assert Density.requires == ("composition", "lattice")
    assert Density.unit == "g/cm^3"
    with pytest.raises(Exception, match="lattice"):
        Density()({"composition": torch.zeros(2, 119)})
