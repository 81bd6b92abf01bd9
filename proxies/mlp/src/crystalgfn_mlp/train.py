"""Train an MLP proxy on a converted table and write weights + metadata.

    python -m crystalgfn_mlp.train --target formation_energy --table /work/cache/mp_table.csv.gz \
        --out proxies/formation-energy/src/crystalgfn_formation_energy/weights --seed 0

The split is by material id (sorted unique ids, permuted by ``numpy.random.default_rng(seed)``,
80/10/10 train/validation/test); the validation set picks the best epoch and the test set is
only evaluated once, at the end. Outputs in ``--out``:

* ``model.pt`` — ``{"config": ..., "state_dict": ...}`` (loadable with ``weights_only=True``);
* ``metadata.json`` — data set, provenance, split seed/sizes, hyper-parameters, MAEs, the
  elements seen in training, feature names, versions;
* ``split.json`` — the validation and test material ids.

Needs ``pandas`` (``pip install crystalgfn-mlp[train]``).
"""

from __future__ import annotations

import argparse
import datetime
import hashlib
import json
import math
import os
import platform
import time
from pathlib import Path

import numpy as np
import torch

from crystalgfn_mlp.data import TARGETS, load_table, table_to_arrays
from crystalgfn_mlp.features import DENSE_NAMES, Features, featurize
from crystalgfn_mlp.model import CrystalMLP

UNITS = {"formation_energy": "eV/atom", "band_gap": "eV"}
DEFAULTS = {
    "formation_energy": {"loss": "l1", "nonnegative": False},
    "band_gap": {"loss": "l1", "nonnegative": True},
}
PROVENANCE = (
    "Materials Project (legacy release, about 2018) structures and DFT (PBE/PBE+U) targets as "
    "distributed with MT-CGCNN (Sanyal et al. 2018, arXiv:1811.05660; GitHub kdmsit/mt-cgcnn "
    "commit bdfaf106c3bcc7d49f543da7eabc5fed4fb733b3, data/). Data licence CC BY 4.0; cite "
    "Jain et al., APL Materials 1, 011002 (2013). Converted with crystalgfn_mlp.data "
    "(spglib symprec=0.1, angle tolerance 5 deg; standardised conventional cell)."
)


def split_ids(ids, seed: int, fractions=(0.8, 0.1, 0.1)) -> dict[str, np.ndarray]:
    """Seeded split of unique material ids into train/val/test (sorted ids, then permuted)."""
    unique = np.array(sorted(set(map(str, ids))))
    perm = np.random.default_rng(seed).permutation(len(unique))
    n_train = int(round(fractions[0] * len(unique)))
    n_val = int(round(fractions[1] * len(unique)))
    return {
        "train": unique[perm[:n_train]],
        "val": unique[perm[n_train:n_train + n_val]],
        "test": unique[perm[n_train + n_val:]],
    }


def prepare(table_path: str, target: str, seed: int):
    """Table → features, targets and split masks (shared with the baseline)."""
    frame = load_table(table_path)
    column = TARGETS[target]
    frame = frame[np.isfinite(frame[column].to_numpy(dtype=float))].reset_index(drop=True)
    arrays = table_to_arrays(frame)
    with torch.no_grad():
        feats = featurize({k: torch.tensor(v) for k, v in arrays.items()})
    y = torch.tensor(frame[column].to_numpy(dtype=np.float32))
    split = split_ids(frame["material_id"], seed)
    ids = frame["material_id"].astype(str).to_numpy()
    masks = {name: torch.tensor(np.isin(ids, members)) for name, members in split.items()}
    return frame, arrays, feats, y, split, masks


def _loss(pred, y, kind, weight=None):
    """The mean loss; with ``weight`` (one per row), the weighted mean Σ w·loss / B."""
    reduction = "mean" if weight is None else "none"
    if kind == "l1":
        out = torch.nn.functional.l1_loss(pred, y, reduction=reduction)
    elif kind == "huber":
        out = torch.nn.functional.smooth_l1_loss(pred, y, beta=0.05, reduction=reduction)
    elif kind == "mse":
        out = torch.nn.functional.mse_loss(pred, y, reduction=reduction)
    else:
        raise ValueError(kind)
    return out if weight is None else (out * weight).mean()


@torch.no_grad()
def predict(model, feats: Features, nonnegative: bool, chunk: int = 8192):
    """Predictions of a model, or the mean of a list of ensemble members (each clipped at 0
    for a nonnegative target, as :class:`crystalgfn_mlp.MLPProxy` combines them)."""
    members = model if isinstance(model, (list, tuple)) else [model]
    outs = []
    for start in range(0, feats.dense.shape[0], chunk):
        part = feats.index(slice(start, start + chunk))
        out = torch.stack([m.eval()(part) for m in members])
        outs.append((torch.clamp(out, min=0.0) if nonnegative else out).mean(0))
    return torch.cat(outs)


def train_model(feats: Features, y: torch.Tensor, masks, *, seed: int, hidden, epochs: int,
                batch_size: int, lr: float, weight_decay: float, dropout: float, loss: str,
                nonnegative: bool, log=print,
                train_rows: torch.Tensor | None = None,
                train_weights: torch.Tensor | None = None) -> tuple[CrystalMLP, dict]:
    """Train one model (initialisation and batch order seeded by ``seed``); the epoch with
    the best validation MAE is kept. ``train_rows`` (row indices, repeats allowed, e.g. a
    bootstrap resample of the training split) replaces the training split's rows;
    ``train_weights`` (one per training row, e.g. Bayesian-bootstrap weights) weights their
    loss."""
    torch.manual_seed(seed)
    train_idx = torch.nonzero(masks["train"]).squeeze(1) if train_rows is None else train_rows
    val_idx = torch.nonzero(masks["val"]).squeeze(1)
    tr = feats.index(train_idx)
    model = CrystalMLP(feats.dense.shape[1], hidden=hidden, dropout=dropout)
    y_tr = y[train_idx]
    model.set_normalisation(tr.dense.mean(0), tr.dense.std(0), y_tr.mean(), y_tr.std())
    y_tr_std = (y_tr - model.target_mean) / model.target_std
    va = feats.index(val_idx)
    y_va = y[val_idx]

    opt = torch.optim.AdamW(model.parameters(), lr=lr, weight_decay=weight_decay)
    steps_per_epoch = math.ceil(len(train_idx) / batch_size)
    total = epochs * steps_per_epoch
    warmup = max(1, int(0.03 * total))
    sched = torch.optim.lr_scheduler.LambdaLR(
        opt, lambda s: min(1.0, (s + 1) / warmup)
        * 0.5 * (1 + math.cos(math.pi * min(s, total) / total)))
    gen = torch.Generator().manual_seed(seed)
    best = (float("inf"), None, -1)
    history = []
    start = time.perf_counter()
    for epoch in range(epochs):
        model.train()
        perm = torch.randperm(len(train_idx), generator=gen)
        running = 0.0
        for b in range(steps_per_epoch):
            idx = perm[b * batch_size:(b + 1) * batch_size]
            pred = model.forward_standardised(tr.index(idx))
            value = _loss(pred, y_tr_std[idx], loss,
                          None if train_weights is None else train_weights[idx])
            opt.zero_grad(set_to_none=True)
            value.backward()
            opt.step()
            sched.step()
            running += float(value.detach()) * len(idx)
        val_mae = float((predict(model, va, nonnegative) - y_va).abs().mean())
        history.append(round(val_mae, 5))
        if val_mae < best[0]:
            best = (val_mae, {k: v.detach().clone() for k, v in model.state_dict().items()}, epoch)
        if epoch % 10 == 0 or epoch == epochs - 1:
            log(f"epoch {epoch:4d} train_loss {running / len(train_idx):.4f} val_mae {val_mae:.4f} "
                f"best {best[0]:.4f}@{best[2]} {time.perf_counter() - start:.0f}s")
    model.load_state_dict(best[1])
    seconds = time.perf_counter() - start
    return model, {"best_epoch": best[2], "val_mae_history": history,
                   "train_seconds": round(seconds, 1),
                   "seconds_per_epoch": round(seconds / max(epochs, 1), 2)}


def _sha256(path: str) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(prog="python -m crystalgfn_mlp.train", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--target", required=True, choices=sorted(TARGETS))
    parser.add_argument("--table", required=True, help="converted table (CSV or CSV.gz)")
    parser.add_argument("--out", required=True, help="output folder")
    parser.add_argument("--seed", type=int, default=0, help="split and initialisation seed")
    parser.add_argument("--hidden", default="512,256,128")
    parser.add_argument("--epochs", type=int, default=120)
    parser.add_argument("--batch-size", type=int, default=256)
    parser.add_argument("--lr", type=float, default=2e-3)
    parser.add_argument("--weight-decay", type=float, default=1e-4)
    parser.add_argument("--dropout", type=float, default=0.0)
    parser.add_argument("--loss", choices=["l1", "huber", "mse"], default=None)
    parser.add_argument("--ensemble", type=int, default=1,
                        help="number of members (init seeds seed, seed+1, ...; same split); "
                             "the proxy averages them")
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--dataset-name", default="mp_mtcgcnn (Materials Project via MT-CGCNN)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    loss = args.loss or DEFAULTS[args.target]["loss"]
    nonnegative = DEFAULTS[args.target]["nonnegative"]
    hidden = tuple(int(h) for h in args.hidden.split(","))

    frame, arrays, feats, y, split, masks = prepare(args.table, args.target, args.seed)
    print(f"{len(frame)} rows; split sizes " + ", ".join(f"{k}={len(v)}" for k, v in split.items()))
    members, infos = [], []
    for k in range(args.ensemble):
        member, info = train_model(
            feats, y, masks, seed=args.seed + k, hidden=hidden, epochs=args.epochs,
            batch_size=args.batch_size, lr=args.lr, weight_decay=args.weight_decay,
            dropout=args.dropout, loss=loss, nonnegative=nonnegative)
        members.append(member)
        infos.append(info)
    model = members if len(members) > 1 else members[0]

    metrics = {}
    pred = predict(model, feats, nonnegative)
    for name, mask in masks.items():
        err = (pred[mask] - y[mask]).abs()
        metrics[f"{name}_mae"] = round(float(err.mean()), 5)
        metrics[f"{name}_rmse"] = round(float(err.pow(2).mean().sqrt()), 5)
    if args.target == "band_gap":
        for name in ("val", "test"):
            zero = masks[name] & (y == 0)
            metrics[f"{name}_mae_zero_gap"] = round(float((pred[zero] - y[zero]).abs().mean()), 5)
            metrics[f"{name}_mae_nonzero_gap"] = round(
                float((pred[masks[name] & (y > 0)] - y[masks[name] & (y > 0)]).abs().mean()), 5)
            metrics[f"{name}_fraction_zero_gap"] = round(float(zero.sum() / masks[name].sum()), 4)
    print(json.dumps(metrics))

    train_comp = arrays["composition"][masks["train"].numpy()]
    from crystalgfn.elements import symbols
    seen = [int(z) for z in np.nonzero(train_comp.sum(0) > 0)[0]]
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"n_dense": int(feats.dense.shape[1]), "hidden": list(hidden),
              "dropout": args.dropout, "layer_norm": True}
    if len(members) > 1:
        for k, member in enumerate(members):
            m_pred = predict(member, feats, nonnegative)
            metrics[f"member{k}_val_mae"] = round(
                float((m_pred[masks["val"]] - y[masks["val"]]).abs().mean()), 5)
        blob = {"config": config, "members": [m.state_dict() for m in members]}
    else:
        blob = {"config": config, "state_dict": members[0].state_dict()}
    torch.save(blob, out / "model.pt")
    (out / "split.json").write_text(json.dumps(
        {"seed": args.seed, "by": "material_id",
         "val": sorted(split["val"].tolist()), "test": sorted(split["test"].tolist())}) + "\n")
    metadata = {
        "target": args.target,
        "column": TARGETS[args.target],
        "unit": UNITS[args.target],
        "nonnegative": nonnegative,
        "dataset": {"name": args.dataset_name, "file": Path(args.table).name,
                    "sha256": _sha256(args.table), "rows": len(frame)},
        "provenance": PROVENANCE,
        "split": {"by": "material_id", "seed": args.seed, "fractions": [0.8, 0.1, 0.1],
                  "sizes": {k: int(v.sum()) for k, v in masks.items()},
                  "ids_file": "split.json (validation and test ids)"},
        "hyperparameters": {"hidden": list(hidden), "epochs": args.epochs,
                            "batch_size": args.batch_size, "lr": args.lr,
                            "weight_decay": args.weight_decay, "dropout": args.dropout,
                            "loss": loss, "optimizer": "AdamW", "schedule": "warmup 3% + cosine",
                            "model_selection": "best validation MAE epoch",
                            "best_epoch": [i["best_epoch"] for i in infos],
                            "ensemble": args.ensemble,
                            "init_seeds": [args.seed + k for k in range(args.ensemble)]},
        "metrics": metrics,
        "accepted_elements": [symbols()[z] for z in seen],
        "dense_features": list(DENSE_NAMES),
        "train_seconds": round(sum(i["train_seconds"] for i in infos), 1),
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": "python -m crystalgfn_mlp.train " + " ".join(
            f"--{k.replace('_', '-')} {v}" for k, v in vars(args).items()
            if k not in ("threads",) and v is not None),
    }
    (out / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
    print(f"wrote {out}/model.pt, metadata.json, split.json")
    return metadata


if __name__ == "__main__":
    main()
