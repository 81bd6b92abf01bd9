import json
import math

import numpy as np
import pytest
import torch
from crystalgfn_mlp import DENSE_NAMES, CrystalMLP, MLPProxy, UnsupportedElementError, featurize
from crystalgfn_mlp.data import crystal_system, lattice_parameters, table_to_arrays
from crystalgfn_mlp.features import cell_volume, to_flat
from crystalgfn_mlp.train import split_ids


def _batch(n=5, seed=0):
    g = torch.Generator().manual_seed(seed)
    comp = torch.zeros(n, 119)
    for i in range(n):
        zs = torch.randperm(94, generator=g)[: 1 + i % 4] + 1
        comp[i, zs] = torch.randint(1, 9, (len(zs),), generator=g).float()
    lat = torch.cat([3 + 5 * torch.rand(n, 3, generator=g),
                     80 + 20 * torch.rand(n, 3, generator=g)], 1)
    sg = torch.randint(1, 231, (n,), generator=g)
    return {"spacegroup": sg, "composition": comp, "lattice": lat}


def test_featurize_shapes_and_finite():
    f = featurize(_batch(7))
    assert f.dense.shape == (7, len(DENSE_NAMES))
    assert torch.isfinite(f.dense).all()
    assert torch.allclose(f.fractions.sum(1), torch.ones(7))
    assert f.spacegroup.min() >= 0 and f.spacegroup.max() <= 229
    flat = to_flat(f)
    assert flat.shape == (7, len(DENSE_NAMES) + 120)


def test_featurize_nacl_values():
    comp = torch.zeros(1, 119)
    comp[0, 11] = comp[0, 17] = 4
    batch = {"spacegroup": torch.tensor([225]), "composition": comp,
             "lattice": torch.tensor([[5.69169] * 3 + [90.0] * 3])}
    f = featurize(batch)
    d = dict(zip(DENSE_NAMES, f.dense[0].tolist(), strict=True))
    assert d["crystal_system_6"] == 1.0  # cubic
    assert d["n_elements"] == 2
    assert math.isclose(d["ln_atoms"], math.log(8), rel_tol=1e-6)
    assert math.isclose(d["density"], 2.1053, rel_tol=1e-3)
    assert math.isclose(d["ln_volume"], math.log(5.69169 ** 3), rel_tol=1e-6)


def test_featurize_empty_batch():
    batch = {"spacegroup": torch.zeros(0, dtype=torch.int64), "composition": torch.zeros(0, 119),
             "lattice": torch.zeros(0, 6)}
    f = featurize(batch)
    assert f.dense.shape == (0, len(DENSE_NAMES))


def test_model_forward():
    f = featurize(_batch(4))
    model = CrystalMLP(f.dense.shape[1], hidden=(32, 16))
    out = model(f)
    assert out.shape == (4,)


def test_volume_and_lattice_parameters_roundtrip():
    m = np.array([[4.0, 0, 0], [1.0, 5.0, 0], [0.5, 0.3, 6.0]])
    params = lattice_parameters(m)
    vol = cell_volume(torch.tensor([params], dtype=torch.float64))
    assert math.isclose(float(vol[0]), abs(np.linalg.det(m)), rel_tol=1e-10)


def test_crystal_system_boundaries():
    assert [crystal_system(n) for n in (1, 2, 3, 16, 75, 143, 168, 195, 230)] == [
        "triclinic", "triclinic", "monoclinic", "orthorhombic", "tetragonal", "trigonal",
        "hexagonal", "cubic", "cubic"]
    with pytest.raises(ValueError):
        crystal_system(231)


def test_split_is_seeded_disjoint_and_80_10_10():
    ids = [f"mp-{i}" for i in range(1000)]
    a, b = split_ids(ids, 0), split_ids(ids, 0)
    assert all((a[k] == b[k]).all() for k in a)
    assert [len(a[k]) for k in ("train", "val", "test")] == [800, 100, 100]
    assert not set(a["train"]) & set(a["test"]) and not set(a["val"]) & set(a["test"])
    assert not (split_ids(ids, 1)["test"] == a["test"]).all()


def test_table_to_arrays_on_slice(data_dir):
    pd = pytest.importorskip("pandas")
    frame = pd.read_csv(data_dir / "mp_slice.csv")
    arrays = table_to_arrays(frame)
    assert arrays["composition"].shape == (len(frame), 119)
    assert (arrays["composition"].sum(1) == frame["conv_nsites"].to_numpy()).all()
    nacl = frame.index[frame["material_id"] == "mp-22862"][0]
    assert arrays["composition"][nacl, 11] == 4 and arrays["composition"][nacl, 17] == 4


def test_structure_to_params_agrees_with_slice(data_dir):
    pytest.importorskip("spglib")
    core = pytest.importorskip("pymatgen.core")
    pd = pytest.importorskip("pandas")
    from crystalgfn.elements import symbols
    from crystalgfn_mlp.data import structure_to_params

    table = pd.read_csv(data_dir / "mp_slice.csv").set_index("material_id")
    lines = (data_dir / "mp_slice_structures.jsonl").read_text().splitlines()
    assert len(lines) >= 15
    for line in lines:
        record = json.loads(line)
        params = structure_to_params(core.Structure.from_dict(record["structure"]))
        row = table.loc[record["material_id"]]
        assert params["spacegroup"] == row["spacegroup_number"]
        comp = {symbols()[z]: c for z, c in params["composition"].items()}
        assert comp == json.loads(row["conv_composition"])
        expected = row[["conv_a", "conv_b", "conv_c", "conv_alpha", "conv_beta", "conv_gamma"]]
        np.testing.assert_allclose(params["lattice"], expected.to_numpy(float), atol=2e-4)
        assert record["formation_energy_per_atom"] == pytest.approx(
            row["formation_energy_per_atom"], abs=1e-6)


def test_load_jsonl_structures(data_dir):
    pytest.importorskip("spglib")
    pytest.importorskip("pymatgen.core")
    pytest.importorskip("pandas")
    from crystalgfn_mlp.data import load_jsonl_structures

    frame = load_jsonl_structures(data_dir / "mp_slice_structures.jsonl")
    assert len(frame) == 20
    assert {"material_id", "spacegroup_number", "conv_composition", "band_gap"} <= set(frame)
    arrays = table_to_arrays(frame)
    assert arrays["lattice"].shape == (20, 6)


def test_matbench_loader_error_is_clear(monkeypatch):
    import builtins

    from crystalgfn_mlp import data

    real_import = builtins.__import__

    def fake_import(name, *args, **kwargs):
        if name.startswith("matbench"):
            raise ImportError("no matbench")
        return real_import(name, *args, **kwargs)

    monkeypatch.setattr(builtins, "__import__", fake_import)
    with pytest.raises(ImportError, match="pip install matbench"):
        data.load_matbench("formation_energy")
    with pytest.raises(ValueError, match="unknown target"):
        data.load_matbench("bulk_modulus")


def test_unknown_element_error(tmp_path):
    """An MLPProxy with a tiny untrained model rejects elements outside its training set."""
    f = featurize(_batch(2))
    model = CrystalMLP(f.dense.shape[1], hidden=(8,))
    torch.save({"config": {"n_dense": f.dense.shape[1], "hidden": [8], "dropout": 0.0,
                           "layer_norm": True}, "state_dict": model.state_dict()},
               tmp_path / "model.pt")
    (tmp_path / "metadata.json").write_text(json.dumps(
        {"accepted_elements": ["Na", "Cl", "O"], "nonnegative": True}))

    class Toy(MLPProxy):
        name = "toy"
        unit = "eV"

    proxy = Toy(weights_path=tmp_path)
    comp = torch.zeros(2, 119)
    comp[0, 11] = comp[0, 17] = 1
    batch = {"spacegroup": torch.tensor([225, 225]), "composition": comp,
             "lattice": torch.tensor([[5.6] * 3 + [90.0] * 3] * 2)}
    comp[1, 8] = 2
    out = proxy(batch)
    assert out.shape == (2,) and (out >= 0).all()
    comp[1, 26] = 1  # Fe
    comp[1, 92] = 1  # U
    with pytest.raises(UnsupportedElementError, match=r"Fe, U.*rows \[1\].*Na, Cl, O"):
        proxy(batch)
