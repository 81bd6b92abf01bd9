"""Gradient-boosting baseline on the same features and the same split as the MLP.

    python -m crystalgfn_mlp.baseline --target formation_energy \
        --table /work/cache/mp_table.csv.gz --seed 0 --out baseline_formation_energy.json

Model: ``sklearn.ensemble.HistGradientBoostingRegressor`` on :func:`crystalgfn_mlp.features.to_flat`
(the dense block, the 119 composition fractions, and the space-group number as a categorical
feature), absolute-error loss, early stopping on the validation split. Needs
``pip install crystalgfn-mlp[train]``.
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np

from crystalgfn_mlp.data import TARGETS
from crystalgfn_mlp.features import to_flat
from crystalgfn_mlp.train import prepare


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m crystalgfn_mlp.baseline")
    parser.add_argument("--target", required=True, choices=sorted(TARGETS))
    parser.add_argument("--table", required=True)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--max-iter", type=int, default=2000)
    parser.add_argument("--learning-rate", type=float, default=0.1)
    parser.add_argument("--max-leaf-nodes", type=int, default=63)
    parser.add_argument("--out", default=None, help="write metrics JSON here")
    args = parser.parse_args(argv)
    try:
        from sklearn.ensemble import HistGradientBoostingRegressor
    except ImportError as error:  # pragma: no cover
        raise ImportError(
            "the baseline needs scikit-learn: pip install crystalgfn-mlp[train]"
        ) from error

    frame, arrays, feats, y, split, masks = prepare(args.table, args.target, args.seed)
    x = to_flat(feats).numpy().astype(np.float64)
    y = y.numpy().astype(np.float64)
    m = {k: v.numpy() for k, v in masks.items()}
    categorical = np.zeros(x.shape[1], dtype=bool)
    categorical[-1] = True  # space-group number
    x[:, -1] -= 1  # categories 0..229 (< max_bins=255)
    start = time.perf_counter()
    # Boost on train, stop on the validation split (same ids as the MLP's validation split).
    model = HistGradientBoostingRegressor(
        loss="absolute_error", learning_rate=args.learning_rate, max_iter=args.max_iter,
        max_leaf_nodes=args.max_leaf_nodes, min_samples_leaf=10, l2_regularization=1e-3,
        categorical_features=categorical, early_stopping=False, random_state=args.seed)
    model.fit(x[m["train"]], y[m["train"]])
    # choose the number of iterations on validation MAE
    val_curve = [np.abs(p - y[m["val"]]).mean() for p in model.staged_predict(x[m["val"]])]
    best = int(np.argmin(val_curve)) + 1
    seconds = time.perf_counter() - start
    for i, staged in enumerate(model.staged_predict(x)):
        if i + 1 == best:
            pred = staged
            break
    if args.target == "band_gap":
        pred = np.clip(pred, 0.0, None)
    metrics = {f"{k}_mae": round(float(np.abs(pred[v] - y[v]).mean()), 5) for k, v in m.items()}
    result = {
        "target": args.target, "model": "HistGradientBoostingRegressor(loss=absolute_error)",
        "features": "to_flat: dense block + 119 composition fractions + space group (categorical)",
        "split": {"by": "material_id", "seed": args.seed,
                  "sizes": {k: int(v.sum()) for k, v in m.items()}},
        "hyperparameters": {"learning_rate": args.learning_rate,
                            "max_leaf_nodes": args.max_leaf_nodes,
                            "min_samples_leaf": 10, "l2_regularization": 1e-3,
                            "n_iter_selected_on_val": best, "max_iter": args.max_iter},
        "metrics": metrics, "fit_seconds": round(seconds, 1),
    }
    print(json.dumps(result, indent=1))
    if args.out:
        with open(args.out, "w") as handle:
            json.dump(result, handle, indent=1)
    return result


if __name__ == "__main__":
    main()
