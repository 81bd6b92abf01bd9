"""Every shipped weights file of an MLP proxy package is small enough for the repository and
the wheels (< 5 MiB), loads with ``torch.load(..., weights_only=True)`` and is what its
``metadata.json`` says (storage dtype, size); the members predict in float32."""

import json
from pathlib import Path

import pytest
import torch

ROOT = Path(__file__).resolve().parents[3]
SHIPPED = sorted(ROOT.glob("proxies/*/src/*/weights/model.pt"))
LIMIT = 5 * 1024 * 1024  # bytes: the repository's and the wheels' per-file limit


def test_the_shipped_weights_are_found():
    if not (ROOT / "proxies").is_dir():
        pytest.skip("not a source checkout")
    names = {path.parents[1].name for path in SHIPPED}
    assert {"crystalgfn_formation_energy", "crystalgfn_band_gap"} <= names, SHIPPED


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parents[1].name for p in SHIPPED])
def test_shipped_model_is_small_and_loads_weights_only(path):
    size = path.stat().st_size
    assert size < LIMIT, f"{path} is {size / 2**20:.2f} MiB, over the 5 MiB limit"
    blob = torch.load(path, map_location="cpu", weights_only=True)
    assert {"config", "stacked"} <= set(blob), sorted(blob)
    meta = json.loads((path.parent / "metadata.json").read_text())
    weights = meta["weights"]
    assert weights["bytes"] == size, (weights["bytes"], size)
    assert blob.get("storage_dtype") == weights["storage_dtype"]
    stored = getattr(torch, weights["storage_dtype"])
    for name, tensor in blob["stacked"].items():
        expected = torch.float32 if name in weights["float32_buffers"] else stored
        assert tensor.dtype == expected, (name, tensor.dtype, expected)
    assert weights["inference_dtype"] == "float32"
    # The compact storage costs (almost) nothing: its test MAE is the float32 members' one.
    for split in ("val", "test"):
        recorded, float32 = meta["metrics"][f"{split}_mae"], weights["float32_metrics"][
            f"{split}_mae"]
        assert abs(recorded - float32) <= 1e-3, (split, recorded, float32)


@pytest.mark.parametrize("path", SHIPPED, ids=[p.parents[1].name for p in SHIPPED])
def test_shipped_members_are_float32(path):
    from crystalgfn_mlp import MLPProxy

    class Shipped(MLPProxy):
        name = "shipped"
        unit = ""

    proxy = Shipped(weights_path=path.parent)
    members = proxy._load()
    assert len(members) == json.loads((path.parent / "metadata.json").read_text())[
        "hyperparameters"]["ensemble"]
    assert all(t.dtype == torch.float32 for m in members for t in m.state_dict().values())
