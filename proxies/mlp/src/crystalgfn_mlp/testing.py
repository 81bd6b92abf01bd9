"""Contract checks of a shipped MLP proxy, for the tests of the packages that ship one.

``check_shipped_proxy`` verifies what every MLP proxy package promises: recorded metadata
(data set, split, metrics), batched predictions of the right shape and type that do not depend
on the chunk size, the recorded test MAE reproduced on a real slice, a clear error for elements
outside the training data, empty batches, and registration through its plugin module.
Raises ``AssertionError`` describing the first violation.
"""

from __future__ import annotations

import importlib
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
