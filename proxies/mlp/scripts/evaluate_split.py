"""Measure a shipped MLP proxy on a split of the converted Materials Project table, through
the runtime path (``make_proxy`` → packaged weights → ``predict_with_uncertainty``).

Development-time script (the table is built from ``../shared/data``, see
``rebuild_ensembles.py``)::

    python proxies/mlp/scripts/evaluate_split.py --proxy formation_energy --split test \\
        [--table /work/cache/mp_table.csv.gz]

Prints the ensemble-mean MAE and RMSE, each member's MAE, and how many crystals the
uncertainty flag marks, on the split ids recorded next to the weights (``split.json``).
"""

from __future__ import annotations

import argparse
import json

import torch


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--proxy", required=True, choices=["formation_energy", "band_gap"])
    parser.add_argument("--split", default="test", choices=["val", "test"])
    parser.add_argument("--table", default="/work/cache/mp_table.csv.gz")
    args = parser.parse_args()
    torch.set_num_threads(1)
    import pandas as pd
    from crystalgfn import make_proxy
    from crystalgfn_mlp.data import TARGETS, table_to_arrays

    proxy = make_proxy(args.proxy)
    split = json.loads(proxy._read("split.json"))
    frame = pd.read_csv(args.table)
    frame = frame[frame["material_id"].isin(set(split[args.split]))].reset_index(drop=True)
    batch = {k: torch.from_numpy(v.copy()) for k, v in table_to_arrays(frame).items()}
    y = torch.tensor(frame[TARGETS[args.proxy]].to_numpy(), dtype=torch.float32)
    members = proxy.member_predictions(batch)
    mean, std = proxy.predict_with_uncertainty(batch)
    err = (mean - y).abs()
    threshold = proxy.uncertainty.threshold if proxy.uncertainty else float("inf")
    flagged = std > threshold
    print(json.dumps({
        "proxy": args.proxy, "split": args.split, "n": len(frame),
        "mae": round(float(err.mean()), 5), "rmse": round(float(err.pow(2).mean().sqrt()), 5),
        "member_mae": [round(float((m - y).abs().mean()), 5) for m in members],
        "threshold": threshold, "flagged": int(flagged.sum()),
        "mae_flagged": round(float(err[flagged].mean()), 5) if flagged.any() else None,
        "mae_not_flagged": round(float(err[~flagged].mean()), 5),
    }, indent=1))


if __name__ == "__main__":
    main()
