"""The shipped band gap proxy: the MLP-proxy contract and known compounds."""

from pathlib import Path

import pytest
from crystalgfn_band_gap import BandGap
from crystalgfn_mlp.testing import check_shipped_proxy, one_crystal, slice_batch

SLICE = Path(__file__).resolve().parents[3] / "tests" / "data" / "mp_slice.csv"


@pytest.fixture(scope="module")
def proxy():
    return BandGap()


def test_shipped_proxy_contract():
    pytest.importorskip("pandas")
    check_shipped_proxy(BandGap, "band_gap", "crystalgfn_band_gap.plugin", SLICE)


def test_installed_plugin_registers_the_proxy():
    """The entry point, loaded by crystalgfn's plugin manager, registers this very class,
    attributed to this distribution (a wrong or missing entry point fails here)."""
    import importlib.metadata

    import crystalgfn

    try:
        version = importlib.metadata.version("crystalgfn-band-gap")
    except importlib.metadata.PackageNotFoundError:
        pytest.skip("crystalgfn-band-gap is not installed (no entry point to load)")
    plugins = crystalgfn.get_plugins()
    assert not [f for f in plugins.failures if f.distribution == "crystalgfn-band-gap"]
    entry = plugins.proxies.get("band_gap")
    assert entry.factory is BandGap
    assert entry.distribution == "crystalgfn-band-gap"
    assert plugins.versions["crystalgfn-band-gap"] == version


def test_sanity_known_compounds(proxy):
    nacl = proxy(one_crystal(225, {"Na": 4, "Cl": 4}, [5.69169, 5.69169, 5.69169, 90, 90, 90]))
    fe = proxy(one_crystal(229, {"Fe": 2}, [2.84, 2.84, 2.84, 90, 90, 90]))
    assert float(nacl) > 3.0  # DFT 5.00 eV
    assert float(fe) < 0.3  # metal
    pytest.importorskip("pandas")
    _, batch = slice_batch(SLICE)
    assert (proxy(batch) >= 0).all()  # predictions are clipped at 0
