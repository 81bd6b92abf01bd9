"""Ensembles of the MLP proxies: mean and std across members, the uncertainty declaration,
the stacked weights file and the bootstrap resamples (tiny untrained members, fast)."""

import json

import pytest
import torch
from crystalgfn.proxy import Uncertainty
from crystalgfn_mlp import CrystalMLP, MLPProxy, featurize
from crystalgfn_mlp.ensemble import bootstrap_rows, member_outputs, stack_members

ELEMENTS = ["Li", "O", "Na", "Cl", "Fe"]


class Toy(MLPProxy):
    name = "toy"
    unit = "eV"


def _batch(n=12, seed=0):
    g = torch.Generator().manual_seed(seed)
    comp = torch.zeros(n, 119)
    for i in range(n):
        zs = torch.tensor([3, 8, 11, 17, 26])[torch.randperm(5, generator=g)[: 1 + i % 3]]
        comp[i, zs] = torch.randint(1, 9, (len(zs),), generator=g).float()
    lat = torch.cat([3 + 5 * torch.rand(n, 3, generator=g),
                     80 + 20 * torch.rand(n, 3, generator=g)], 1)
    sg = torch.randint(1, 231, (n,), generator=g)
    return {"spacegroup": sg, "composition": comp, "lattice": lat}


def _members(k, seed=0, identical=False):
    n_dense = featurize(_batch(2)).dense.shape[1]
    members = []
    for i in range(k):
        torch.manual_seed(seed if identical else seed + i)
        model = CrystalMLP(n_dense, hidden=(16, 8))
        # A spread of target scales, so that members disagree by clearly more than rounding.
        model.set_normalisation(torch.zeros(n_dense), torch.ones(n_dense),
                                torch.tensor(0.3 * i if not identical else 0.0), torch.tensor(1.0))
        members.append(model.eval())
    return members, {"n_dense": n_dense, "hidden": [16, 8], "dropout": 0.0, "layer_norm": True}


def _write(folder, members, config, nonnegative=False, threshold=0.5, fmt="stacked"):
    folder.mkdir(parents=True, exist_ok=True)
    states = [m.state_dict() for m in members]
    if fmt == "stacked":
        blob = {"config": config, "stacked": stack_members(states)}
    elif fmt == "members":
        blob = {"config": config, "members": states}
    else:
        blob = {"config": config, "state_dict": states[0]}
    torch.save(blob, folder / "model.pt")
    metadata = {"accepted_elements": ELEMENTS, "nonnegative": nonnegative}
    if threshold is not None:
        metadata["uncertainty"] = {"threshold": threshold, "threshold_rule": "a test value"}
    (folder / "metadata.json").write_text(json.dumps(metadata))
    return Toy(weights_path=folder)


def _direct(members, batch, nonnegative=False):
    with torch.no_grad():
        out = torch.stack([m(featurize(batch)) for m in members])
    return out.clamp(min=0.0) if nonnegative else out


def test_ensemble_mean_is_the_mean_of_the_members(tmp_path):
    members, config = _members(5)
    proxy = _write(tmp_path, members, config)
    batch = _batch()
    each = _direct(members, batch)
    torch.testing.assert_close(proxy(batch), each.mean(0), rtol=1e-6, atol=1e-6)
    mean, std = proxy.predict_with_uncertainty(batch)
    torch.testing.assert_close(mean, proxy(batch), rtol=0, atol=0)
    torch.testing.assert_close(std, each.std(0, unbiased=False), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(proxy.member_predictions(batch), each, rtol=1e-6, atol=1e-6)
    # Chunking does not change the result.
    chunked = Toy(weights_path=tmp_path, chunk_size=5).call_with_uncertainty(batch)
    torch.testing.assert_close(chunked[0], mean, rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(chunked[1], std, rtol=1e-5, atol=1e-6)


def test_nonnegative_members_are_clipped_before_averaging(tmp_path):
    members, config = _members(4)
    proxy = _write(tmp_path, members, config, nonnegative=True)
    batch = _batch(40)
    each = _direct(members, batch, nonnegative=True)
    assert (_direct(members, batch) < 0).any()  # the clip matters for this batch
    mean, std = proxy.predict_with_uncertainty(batch)
    torch.testing.assert_close(mean, each.mean(0), rtol=1e-6, atol=1e-6)
    torch.testing.assert_close(std, each.std(0, unbiased=False), rtol=1e-5, atol=1e-6)
    assert (mean >= 0).all()


def test_std_is_zero_for_identical_members_and_positive_otherwise(tmp_path):
    members, config = _members(5, identical=True)
    same = _write(tmp_path / "same", members, config)
    batch = _batch()
    _, std = same.predict_with_uncertainty(batch)
    assert torch.equal(std, torch.zeros_like(std))
    members, config = _members(5)
    different = _write(tmp_path / "different", members, config)
    _, std = different.predict_with_uncertainty(batch)
    assert (std > 1e-3).all()


def test_uncertainty_is_declared_only_by_ensembles_with_a_threshold(tmp_path):
    members, config = _members(3)
    proxy = _write(tmp_path / "ens", members, config, threshold=0.25)
    assert proxy.uncertainty == Uncertainty(kind="ensemble", members=3, threshold=0.25,
                                            threshold_rule="a test value")
    assert _write(tmp_path / "single", members, config, fmt="single").uncertainty is None
    assert _write(tmp_path / "unmeasured", members, config, threshold=None).uncertainty is None


def test_stacked_and_listed_members_load_the_same(tmp_path):
    members, config = _members(3)
    batch = _batch()
    stacked = _write(tmp_path / "stacked", members, config)
    listed = _write(tmp_path / "listed", members, config, fmt="members")
    assert stacked.members == listed.members == 3
    torch.testing.assert_close(stacked.predict_with_uncertainty(batch),
                               listed.predict_with_uncertainty(batch), rtol=0, atol=0)
    blob = torch.load(tmp_path / "stacked" / "model.pt", weights_only=True)
    assert all(t.shape[0] == 3 and t.dtype == torch.float32 for t in blob["stacked"].values())
    torch.testing.assert_close(member_outputs(members, featurize(batch), False),
                               stacked.member_predictions(batch), rtol=1e-6, atol=1e-6)


def test_bootstrap_resamples_the_training_rows_by_member():
    train = torch.zeros(1000, dtype=torch.bool)
    train[100:900] = True
    first, again = bootstrap_rows(train, 0, 0), bootstrap_rows(train, 0, 0)
    second = bootstrap_rows(train, 0, 1)
    assert torch.equal(first, again) and not torch.equal(first, second)
    assert len(first) == 800 and ((first >= 100) & (first < 900)).all()
    distinct = len(torch.unique(first)) / 800  # with replacement: about 1 - 1/e = 0.632
    assert 0.58 < distinct < 0.68


def test_a_proxy_without_uncertainty_says_so():
    from crystalgfn.errors import ConfigError
    from crystalgfn.proxy import Proxy

    class Plain(Proxy):
        name = "plain"
        requires = ("lattice",)

        def predict(self, batch):
            return batch["lattice"][:, 0]

    assert Plain().uncertainty is None
    with pytest.raises(ConfigError, match="'plain' reports no uncertainty"):
        Plain().call_with_uncertainty({"lattice": torch.ones(2, 6)})


@pytest.mark.parametrize("dtype", ["float16", "bfloat16"])
def test_compact_storage_is_cast_to_float32_on_load(tmp_path, dtype):
    """Parameters stored as float16/bfloat16 (normalisation buffers as float32) load into
    float32 members that predict in float32, close to the float32 members."""
    from crystalgfn_mlp.ensemble import FLOAT32_BUFFERS, STORAGE_DTYPES, unstack_members

    members, config = _members(3)
    stacked = stack_members([m.state_dict() for m in members], dtype)
    for name, tensor in stacked.items():
        buffer = name.split(".")[-1] in FLOAT32_BUFFERS
        expected = torch.float32 if buffer else STORAGE_DTYPES[dtype]
        assert tensor.dtype == expected, (name, tensor.dtype)
    assert all(v.dtype == torch.float32 for s in unstack_members(stacked) for v in s.values())
    (tmp_path / "compact").mkdir()
    torch.save({"config": config, "stacked": stacked, "storage_dtype": dtype},
               tmp_path / "compact" / "model.pt")
    (tmp_path / "compact" / "metadata.json").write_text(json.dumps(
        {"accepted_elements": ELEMENTS, "nonnegative": False,
         "uncertainty": {"threshold": 0.5, "threshold_rule": "a test value"}}))
    compact = Toy(weights_path=tmp_path / "compact")
    full = _write(tmp_path / "full", members, config)
    batch = _batch()
    assert compact.members == 3
    assert all(p.dtype == torch.float32 for m in compact._load() for p in m.state_dict().values())
    out = compact.member_predictions(batch)
    assert out.dtype == torch.float32
    tol = 2e-2 if dtype == "bfloat16" else 2e-3  # 8 / 11 significant bits
    torch.testing.assert_close(out, full.member_predictions(batch), rtol=tol, atol=tol)
    assert not torch.equal(out, full.member_predictions(batch))  # it was rounded


@pytest.mark.skipif(not torch.cuda.is_available(), reason="no CUDA device")
def test_compact_storage_predicts_in_float32_on_cuda(tmp_path):
    members, config = _members(3)
    (tmp_path / "w").mkdir()
    torch.save({"config": config,
                "stacked": stack_members([m.state_dict() for m in members], "float16")},
               tmp_path / "w" / "model.pt")
    (tmp_path / "w" / "metadata.json").write_text(json.dumps(
        {"accepted_elements": ELEMENTS, "nonnegative": False}))
    cpu = Toy(weights_path=tmp_path / "w")
    gpu = Toy(device="cuda", weights_path=tmp_path / "w")
    batch = _batch()
    out = gpu.member_predictions(batch)
    assert out.device.type == "cuda" and out.dtype == torch.float32
    assert all(p.dtype == torch.float32 and p.device.type == "cuda"
               for m in gpu._load() for p in m.parameters())
    torch.testing.assert_close(out.cpu(), cpu.member_predictions(batch), rtol=1e-4, atol=1e-5)
