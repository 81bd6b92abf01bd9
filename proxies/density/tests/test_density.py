import math
import zlib

import numpy as np
import pytest
import torch
from crystalgfn.errors import ConfigError
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
    return params, dict(zip(zs.tolist(), counts.tolist(), strict=True))


@pytest.mark.parametrize("system", sorted(LATTICE_SYSTEMS))
def test_density_matches_pymatgen(system):
    # crc32, not hash(): str hashes change from process to process (PYTHONHASHSEED).
    rng = np.random.default_rng(zlib.crc32(system.encode()))
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


#: Real crystals: formula unit, formula units per cell, a b c α β γ (Å, °) and the published
#: X-ray density (g/cm³). One per lattice system, the rhombohedral one in its primitive setting.
KNOWN_CRYSTALS = {
    "silicon (cubic)": ("Si", 8, (5.4310, 5.4310, 5.4310, 90, 90, 90), 2.329),
    "halite (cubic)": ("NaCl", 4, (5.6402, 5.6402, 5.6402, 90, 90, 90), 2.165),
    "rutile (tetragonal)": ("TiO2", 2, (4.5937, 4.5937, 2.9587, 90, 90, 90), 4.25),
    "forsterite (orthorhombic)": ("Mg2SiO4", 4, (4.7535, 10.1943, 5.9807, 90, 90, 90), 3.22),
    "corundum (hexagonal)": ("Al2O3", 6, (4.7589, 4.7589, 12.991, 90, 90, 120), 3.99),
    "quartz (hexagonal)": ("SiO2", 3, (4.9134, 4.9134, 5.4052, 90, 90, 120), 2.65),
    "calcite (rhombohedral)": ("CaCO3", 2, (6.375, 6.375, 6.375, 46.08, 46.08, 46.08), 2.71),
    "gypsum (monoclinic)": ("CaSO4H4O2", 4, (5.679, 15.202, 6.522, 90, 118.43, 90), 2.31),
    "kyanite (triclinic)": ("Al2SiO5", 4, (7.1262, 7.8520, 5.5724, 89.99, 101.11, 106.03), 3.67),
}

#: Avogadro's number (exact since 2019) and 1 Å³ in cm³.
AVOGADRO = 6.02214076e23
CUBIC_ANGSTROM_IN_CM3 = 1e-24


@pytest.mark.parametrize("crystal", sorted(KNOWN_CRYSTALS))
def test_density_of_real_crystals(crystal):
    formula, units, params, published = KNOWN_CRYSTALS[crystal]
    cell = pymatgen_core.Composition(formula) * units
    row = torch.zeros(1, 119)
    for element, count in cell.items():
        row[0, element.Z] = count
    got = float(Density()({"composition": row, "lattice": torch.tensor([params])})[0])
    # Independently: the cell's mass from pymatgen's atomic weights, its volume from pymatgen's
    # lattice matrix (a determinant, not the closed formula the proxy uses).
    mass_g = float(cell.weight) / AVOGADRO
    volume_cm3 = pymatgen_core.Lattice.from_parameters(*params).volume * CUBIC_ANGSTROM_IN_CM3
    assert math.isclose(got, mass_g / volume_cm3, rel_tol=1e-6)
    assert math.isclose(got, published, rel_tol=5e-3)


def test_bad_batches_are_refused_with_what_is_wrong():
    proxy = Density()
    composition, lattice = torch.zeros(2, 119), torch.tensor([[5.0, 5, 5, 90, 90, 90]] * 2)
    with pytest.raises(ConfigError, match=r"needs the state parts \['composition', 'lattice'\], "
                       r"but the batch lacks \['lattice'\]"):
        proxy({"composition": composition})
    with pytest.raises(ConfigError, match="lacks \\['composition'\\]"):
        proxy({"spacegroup": torch.ones(2, dtype=torch.int64), "lattice": lattice})
    with pytest.raises(ConfigError, match="different batch sizes"):
        proxy({"composition": composition[:1], "lattice": lattice})
    with pytest.raises(ValueError, match=r"composition must have shape \(batch, 119\).*"
                       r"got shape \(2, 118\)"):
        proxy({"composition": torch.zeros(2, 118), "lattice": lattice})
    with pytest.raises(ValueError, match=r"lattice must have shape \(batch, 6\).*"
                       r"got shape \(2, 3\)"):
        proxy({"composition": composition, "lattice": lattice[:, :3]})


def test_lattice_without_volume_gives_infinite_density():
    composition = torch.zeros(2, 119)
    composition[:, 14] = 8
    # A flat cell (γ = 180°), and angles no cell has (α + β < γ: negative squared volume).
    flat = torch.tensor([[5.0, 5.0, 5.0, 90.0, 90.0, 180.0], [5.0, 5.0, 5.0, 60.0, 60.0, 150.0]])
    assert torch.isinf(Density()({"composition": composition, "lattice": flat})).all()


def test_installed_plugin_registers_the_proxy():
    import importlib.metadata

    import crystalgfn

    try:
        importlib.metadata.distribution("crystalgfn-density")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("crystalgfn-density is not installed (no entry point to load)")
    entry = crystalgfn.get_plugins().proxies.get("density")
    assert entry.factory is Density
    assert entry.distribution == "crystalgfn-density"
