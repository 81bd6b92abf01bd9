"""The shipped formation energy proxy: the MLP-proxy contract and known compounds."""

from pathlib import Path

import pytest
from crystalgfn_formation_energy import FormationEnergy
from crystalgfn_mlp.testing import check_shipped_proxy, one_crystal

SLICE = Path(__file__).resolve().parents[3] / "tests" / "data" / "mp_slice.csv"


@pytest.fixture(scope="module")
def proxy():
    return FormationEnergy()


def test_shipped_proxy_contract():
    pytest.importorskip("pandas")
    check_shipped_proxy(
        FormationEnergy, "formation_energy_per_atom", "crystalgfn_formation_energy.plugin", SLICE
    )


def test_installed_plugin_registers_the_proxy():
    """The entry point, loaded by crystalgfn's plugin manager, registers this very class,
    attributed to this distribution (a wrong or missing entry point fails here)."""
    import importlib.metadata

    import crystalgfn

    try:
        version = importlib.metadata.version("crystalgfn-formation-energy")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("crystalgfn-formation-energy is not installed (no entry point to load)")
    plugins = crystalgfn.get_plugins()
    assert not [f for f in plugins.failures if f.distribution == "crystalgfn-formation-energy"]
    entry = plugins.proxies.get("formation_energy")
    assert entry.factory is FormationEnergy
    assert entry.distribution == "crystalgfn-formation-energy"
    assert plugins.versions["crystalgfn-formation-energy"] == version


def test_sanity_known_compounds(proxy):
    nacl = proxy(one_crystal(225, {"Na": 4, "Cl": 4}, [5.69169, 5.69169, 5.69169, 90, 90, 90]))
    al2o3 = proxy(one_crystal(167, {"Al": 12, "O": 18}, [4.80503, 4.80503, 13.11625, 90, 90, 120]))
    si = proxy(one_crystal(227, {"Si": 8}, [5.46873, 5.46873, 5.46873, 90, 90, 90]))
    assert float(nacl) < -1.5  # DFT -2.105 eV/atom
    assert float(al2o3) < -2.8  # DFT -3.436 eV/atom
    assert abs(float(si)) < 0.3  # elemental reference: 0
