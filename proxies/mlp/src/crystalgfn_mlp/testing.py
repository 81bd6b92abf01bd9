"""Contract checks of a shipped MLP proxy, for the tests of the packages that ship one.

``check_shipped_proxy`` verifies what every MLP proxy package promises: recorded metadata
(data set, split, metrics), batched predictions of the right shape and type that do not depend
on the chunk size, the recorded test MAE reproduced on a real slice, a clear error for elements
outside the training data, empty batches, and registration through its plugin module.
``check_shipped_ensemble`` verifies a shipped ensemble and its uncertainty against numbers
recomputed from the repository's own data files. Both raise ``AssertionError`` describing
the first violation.
"""

from __future__ import annotations

import importlib
import io
from pathlib import Path

import torch
from crystalgfn.elements import atomic_number, symbols
from crystalgfn.registry import Registry

from crystalgfn_mlp.proxy import MLPProxy, UnsupportedElementError


def one_crystal(
    space_group: int, counts: dict[str, int], lattice: list[float]
) -> dict[str, torch.Tensor]:
    """A batch of one crystal: space group, conventional-cell counts, a b c α β γ."""
    composition = torch.zeros(1, 119)
    for symbol, n in counts.items():
        composition[0, atomic_number(symbol)] = n
    return {
        "spacegroup": torch.tensor([space_group]),
        "composition": composition,
        "lattice": torch.tensor([lattice], dtype=torch.float32),
    }


def slice_batch(path: Path):
    """``(frame, batch)`` of a converted Materials Project table (needs pandas)."""
    import pandas as pd

    from crystalgfn_mlp.data import table_to_arrays

    frame = pd.read_csv(path)
    return frame, {k: torch.from_numpy(v.copy()) for k, v in table_to_arrays(frame).items()}


def check_shipped_proxy(
    proxy_class: type[MLPProxy], target_column: str, plugin_module: str, slice_csv: Path
) -> None:
    proxy = proxy_class()
    meta = proxy.metadata
    assert proxy_class.requires == ("spacegroup", "composition", "lattice")
    assert meta["target"] == proxy_class.name and meta["unit"] == proxy_class.unit, meta
    assert meta["split"]["seed"] == 0 and meta["split"]["by"] == "material_id"
    assert set(meta["split"]["sizes"]) == {"train", "val", "test"}
    assert {"val_mae", "test_mae"} <= set(meta["metrics"])
    assert "Materials Project" in meta["provenance"]
    assert len(proxy.accepted_elements) > 60

    frame, batch = slice_batch(slice_csv)
    out = proxy(batch)
    assert out.shape == (len(batch["spacegroup"]),) and out.dtype == torch.float32
    assert torch.isfinite(out).all()
    # int64 counts and a float64 lattice are accepted, and chunking does not change results.
    batch64 = {
        **batch, "composition": batch["composition"].long(), "lattice": batch["lattice"].double()
    }
    torch.testing.assert_close(proxy_class(chunk_size=7)(batch64), out, rtol=1e-4, atol=1e-4)

    test_rows = torch.tensor((frame["split"] == "test").to_numpy())
    assert int(test_rows.sum()) >= 150  # the slice's random rows come from the test split
    target = torch.tensor(frame[target_column].to_numpy(), dtype=torch.float32)
    mae = float((out[test_rows] - target[test_rows]).abs().mean())
    recorded = meta["metrics"]["test_mae"]
    assert mae < 2.0 * recorded + 0.05, (mae, recorded)  # ~200 rows: a loose bound

    accepted = {atomic_number(s) for s in proxy.accepted_elements}
    missing = next(z for z in range(1, 119) if z not in accepted)
    unknown = one_crystal(225, {"Na": 4, "Cl": 4}, [5.69, 5.69, 5.69, 90, 90, 90])
    unknown["composition"][0, missing] = 1
    try:
        proxy(unknown)
    except UnsupportedElementError as error:
        message = str(error)
        assert symbols()[missing] in message and "accepts only" in message and "Na" in message
    else:
        raise AssertionError(
            f"{proxy_class.name} accepted the unknown element {symbols()[missing]}"
        )

    empty = {"spacegroup": torch.zeros(0, dtype=torch.int64), "composition": torch.zeros(0, 119),
             "lattice": torch.zeros(0, 6)}
    assert proxy(empty).shape == (0,)

    # The plugin may register the class itself or a lazy "module:Class" reference.
    registered = Registry("proxy")
    importlib.import_module(plugin_module).register_proxies(
        register=lambda factory, name=None: registered.add(factory, name, distribution="test")
    )
    assert registered.names() == [proxy_class.name], registered.names()
    assert registered.get(proxy_class.name).factory is proxy_class


def check_shipped_ensemble(
    proxy_class: type[MLPProxy], target_column: str, validation_csv: Path, slice_csv: Path,
    members: int = 5,
) -> None:
    """The shipped ensemble and its uncertainty, checked against what ships with it.

    * ``model.pt`` holds ``members`` members, is under 5 MiB (the repository's and the
      wheels' limit) and loads with ``weights_only=True``; its size and storage dtype are the
      metadata's (``weights``), and the members are float32 whatever the storage dtype;
      the metadata records, per member, its seeds, training time and validation/test MAE,
      and the ensemble's (mean) metrics;
    * the proxy declares its uncertainty with the recorded threshold, and the mean of
      ``predict_with_uncertainty`` is ``predict`` and the mean of the members' predictions;
    * recomputed from the repository's own files (``data/mp_validation.csv``: the 3,491
      validation crystals; the test rows of ``tests/data/mp_slice.csv``), the ensemble's MAE,
      each member's MAE, the std statistics and the number of flagged crystals equal the
      numbers recorded when the ensemble was built, and the validation MAE and the flag
      threshold (the 99th percentile of the std) agree with the metadata's, which were
      computed on the full converted table.
    """
    from crystalgfn.proxy import Uncertainty
    from crystalgfn.report.io import read_crystals

    proxy = proxy_class()
    meta = proxy.metadata
    assert proxy.members == members, proxy.members
    raw = proxy._read("model.pt")
    assert len(raw) < 5 * 1024 * 1024, f"model.pt is {len(raw) / 2**20:.2f} MiB, over 5 MiB"
    blob = torch.load(io.BytesIO(raw), map_location="cpu", weights_only=True)
    stored = meta["weights"]
    assert stored["bytes"] == len(raw) and blob["storage_dtype"] == stored["storage_dtype"]
    assert {str(t.dtype).removeprefix("torch.") for t in blob["stacked"].values()} == (
        {stored["storage_dtype"], "float32"} if stored["float32_buffers"]
        else {stored["storage_dtype"]})
    assert all(t.dtype == torch.float32 for m in proxy._load() for t in m.state_dict().values())
    for split in ("val", "test"):  # the compact storage costs at most 1e-3 of MAE
        assert abs(meta["metrics"][f"{split}_mae"] - stored["float32_metrics"][f"{split}_mae"]
                   ) <= 1e-3, (split, meta["metrics"], stored)
    ensemble, recorded = meta["ensemble"], meta["uncertainty"]
    assert len(ensemble["members"]) == members
    seeds = {(m["init_seed"], tuple(m["bootstrap_seed"])) for m in ensemble["members"]}
    assert len(seeds) == members  # distinct initialisations and bootstrap resamples
    for member in ensemble["members"]:
        assert member["train_seconds"] > 0 and member["seconds_per_epoch"] > 0
        assert {"val_mae", "val_rmse", "test_mae", "test_rmse"} <= set(member)
    metrics = meta["metrics"]
    assert {"val_mae", "val_rmse", "test_mae", "test_rmse"} <= set(metrics)
    # The ensemble is better than its average member on the (recorded) test split.
    assert metrics["test_mae"] < metrics["member_mean_test_mae"], metrics
    declared = proxy.uncertainty
    assert isinstance(declared, Uncertainty) and declared.members == members
    assert declared.threshold == recorded["threshold"] > 0

    checks = meta["checks"]
    crystals = read_crystals(validation_csv, "validation")
    column = {"formation_energy_per_atom": "formation_energy"}.get(target_column, target_column)
    each = proxy.member_predictions(crystals.values)
    mean, std = proxy.call_with_uncertainty(crystals.values)
    torch.testing.assert_close(mean, each.mean(0), rtol=1e-5, atol=1e-6)
    torch.testing.assert_close(proxy(crystals.values), mean, rtol=0, atol=0)
    y = torch.tensor(crystals.numeric[column], dtype=torch.float32)
    file_check = checks["validation_file"]
    assert crystals.n == file_check["n"] == meta["split"]["sizes"]["val"]
    mae = float((mean - y).abs().mean())
    assert abs(mae - file_check["mae"]) < 2e-5, (mae, file_check)
    assert abs(mae - metrics["val_mae"]) < 1e-3, (mae, metrics["val_mae"])  # rounding of the file
    p99 = float(torch.quantile(std.double(), 0.99))
    assert abs(p99 - file_check["std_p99"]) < 1e-5 + 1e-4 * p99, (p99, file_check)
    assert abs(p99 - declared.threshold) < 0.02 * declared.threshold, (p99, declared.threshold)
    flagged = int((std > declared.threshold).sum())
    assert abs(flagged - file_check["n_flagged"]) <= 1, (flagged, file_check)
    assert 0.005 * crystals.n <= flagged <= 0.015 * crystals.n  # about 1 % by construction

    frame, batch = slice_batch(slice_csv)
    test = torch.tensor((frame["split"] == "test").to_numpy())
    y = torch.tensor(frame[target_column].to_numpy(), dtype=torch.float32)
    each = proxy.member_predictions(batch)
    mean, std = proxy.predict_with_uncertainty(batch)
    slice_check = checks["test_slice"]
    assert int(test.sum()) == slice_check["n_test_rows"]
    assert abs(float((mean[test] - y[test]).abs().mean()) - slice_check["mae"]) < 2e-5
    member_mae = [float((p[test] - y[test]).abs().mean()) for p in each]
    pairs = zip(member_mae, slice_check["member_mae"], strict=True)
    assert max(abs(a - b) for a, b in pairs) < 2e-5, (member_mae, slice_check)
    assert abs(float(std[test].mean()) - slice_check["std_mean"]) < 1e-5
