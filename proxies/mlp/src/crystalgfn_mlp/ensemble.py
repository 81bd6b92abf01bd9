"""Train and assemble the K-member ensembles the MLP proxies ship (their uncertainty).

Each member k is trained with its own initialisation and batch-order seed (k) **and** on its
own bootstrap of the training split: by default (and in the shipped ensembles) a Bayesian
bootstrap, every training crystal with a loss weight from Dirichlet(α = 4) × N
(:func:`bayesian_bootstrap_weights`); ``--resample bootstrap`` draws rows with replacement
instead (:func:`bootstrap_rows`), ``--resample none`` keeps the split as it is. The split
itself (by material id, seed 0, 80/10/10) is the one every shipped model uses, and the
validation split picks each member's best epoch. Two steps, so that members can be trained
in parallel processes::

    python -m crystalgfn_mlp.ensemble member --target formation_energy \\
        --table /work/cache/mp_table.csv.gz --member 0 --out /work/cache/members/formation_energy
    ...                                                  # members 1 .. K-1
    python -m crystalgfn_mlp.ensemble assemble --target formation_energy \\
        --table /work/cache/mp_table.csv.gz --members /work/cache/members/formation_energy \\
        --out proxies/formation-energy/src/crystalgfn_formation_energy/weights

``proxies/mlp/scripts/rebuild_ensembles.py`` runs all of it (conversion of the shared data
included) with one command. ``assemble`` writes ``model.pt`` (every parameter and buffer of
the K members stacked into one ``(K, ...)`` tensor, ``weights_only`` loadable: the parameters
stored as float16 by default, ``--dtype``, to keep the file small, the normalisation
statistics as float32; the proxy casts everything to float32 on load and predicts in
float32), ``metadata.json`` (per-member and ensemble-mean MAE/RMSE on train/validation/test
of the weights *as stored*, the float32 MAEs for comparison, training time per member, the
uncertainty threshold and how the std behaves on held-out and out-of-distribution crystals,
re-computable checks on shipped files) and ``split.json``.

The flag threshold is the 99th percentile of the ensemble std (across members, in the
target's unit) on the validation crystals: a prediction flagged ``uncertain`` is less certain
than 99 % of the proxy's own held-out crystals.

Needs ``pandas`` (``pip install crystalgfn-mlp[train]``).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import time
from collections.abc import Mapping
from pathlib import Path

import numpy as np
import torch

from crystalgfn_mlp.data import TARGETS
from crystalgfn_mlp.features import DENSE_NAMES, Features
from crystalgfn_mlp.model import CrystalMLP
from crystalgfn_mlp.train import (
    DEFAULTS,
    PROVENANCE,
    UNITS,
    _sha256,
    prepare,
    train_model,
)

#: The shipped recipe of each target (the hyper-parameters of the single models selected on
#: validation MAE before the ensembles; see docs/proxies.md).
RECIPES = {
    "formation_energy": {"hidden": [256, 256, 128], "epochs": 150, "batch_size": 256,
                         "lr": 2e-3, "weight_decay": 1e-4, "dropout": 0.1},
    "band_gap": {"hidden": [512, 256, 128], "epochs": 150, "batch_size": 256,
                 "lr": 2e-3, "weight_decay": 1e-4, "dropout": 0.1},
}
#: How each member's training rows are resampled (``--resample``), as recorded.
RESAMPLING = {
    "bootstrap": "classical bootstrap: each member trains on rows drawn with replacement from "
                 "the training split (as many as it has), numpy default_rng([split seed, "
                 "member])",
    "bayesian": "Bayesian bootstrap: each member trains on every row of the training split "
                "with its own loss weights, Dirichlet(concentration) times the number of rows "
                "(i.i.d. Gamma(concentration) scaled to mean 1; concentration 1 is Rubin's "
                "1981 Bayesian bootstrap), numpy default_rng([split seed, member])",
    "none": "no resampling: every member trains on the training split as it is (members "
            "differ by their initialisation and batch-order seeds only)",
}
#: Quantile of the validation crystals' ensemble std that sets the ``uncertain`` flag.
THRESHOLD_QUANTILE = 0.99
ROOT = Path(__file__).resolve().parents[4]  # the monorepo, when run from a source checkout


def bootstrap_rows(train_mask: torch.Tensor, split_seed: int, member: int) -> torch.Tensor:
    """A bootstrap resample (with replacement, same size) of the training rows of ``member``,
    drawn with ``numpy.random.default_rng([split_seed, member])``."""
    rows = torch.nonzero(train_mask).squeeze(1).numpy()
    rng = np.random.default_rng([split_seed, member])
    return torch.from_numpy(rows[rng.integers(0, len(rows), size=len(rows))])


def bayesian_bootstrap_weights(train_mask: torch.Tensor, split_seed: int, member: int,
                               concentration: float = 1.0) -> torch.Tensor:
    """Bayesian-bootstrap weights of the training rows of ``member``: Dirichlet(α, ..., α)
    times the number of rows, i.e. i.i.d. Gamma(α) draws from
    ``numpy.random.default_rng([split_seed, member])`` scaled to mean 1. α = 1 is Rubin's
    (1981) Bayesian bootstrap, whose weights have the mean 1 and variance ≈ 1 of a classical
    bootstrap's counts; a larger α shrinks the resampling toward the full data (variance
    1/α, effective sample size N·α/(1 + α)). No training crystal is left out of a member."""
    n = int(train_mask.sum())
    rng = np.random.default_rng([split_seed, member])
    weights = rng.gamma(concentration, 1.0, size=n)
    return torch.from_numpy((weights / weights.mean()).astype(np.float32))


@torch.no_grad()
def member_outputs(members, feats: Features, nonnegative: bool, chunk: int = 8192) -> torch.Tensor:
    """``(K, N)`` predictions of the members (clipped at 0 for a nonnegative target)."""
    outs = []
    for start in range(0, feats.dense.shape[0], chunk):
        part = feats.index(slice(start, start + chunk))
        outs.append(torch.stack([m.eval()(part) for m in members]))
    out = torch.cat(outs, dim=1)
    return torch.clamp(out, min=0.0) if nonnegative else out


def _errors(pred: torch.Tensor, y: torch.Tensor, masks, prefix: str = "") -> dict:
    out = {}
    for name, mask in masks.items():
        err = (pred[mask] - y[mask]).abs()
        out[f"{prefix}{name}_mae"] = round(float(err.mean()), 5)
        out[f"{prefix}{name}_rmse"] = round(float(err.pow(2).mean().sqrt()), 5)
    return out


# -- one member ----------------------------------------------------------------------------------
def cmd_member(args) -> dict:
    torch.set_num_threads(args.threads)
    recipe = _recipe(args)
    loss, nonnegative = DEFAULTS[args.target]["loss"], DEFAULTS[args.target]["nonnegative"]
    frame, _, feats, y, split, masks = prepare(args.table, args.target, args.split_seed)
    init_seed = args.split_seed + args.member
    if args.resample == "bayesian":
        rows = torch.nonzero(masks["train"]).squeeze(1)
        weights = bayesian_bootstrap_weights(masks["train"], args.split_seed, args.member,
                                             args.concentration)
        print(f"{args.target} member {args.member}: init seed {init_seed}, Bayesian-bootstrap "
              f"weights (concentration {args.concentration}) on {len(rows)} rows (min "
              f"{float(weights.min()):.3f}, max {float(weights.max()):.2f})", flush=True)
    elif args.resample == "none":
        rows, weights = torch.nonzero(masks["train"]).squeeze(1), None
        print(f"{args.target} member {args.member}: init seed {init_seed}, no resampling",
              flush=True)
    else:
        rows, weights = bootstrap_rows(masks["train"], args.split_seed, args.member), None
        print(f"{args.target} member {args.member}: init seed {init_seed}, bootstrap of "
              f"{len(rows)} rows ({len(torch.unique(rows))} distinct)", flush=True)
    model, info = train_model(
        feats, y, masks, seed=init_seed, hidden=tuple(recipe["hidden"]), epochs=recipe["epochs"],
        batch_size=recipe["batch_size"], lr=recipe["lr"], weight_decay=recipe["weight_decay"],
        dropout=recipe["dropout"], loss=loss, nonnegative=nonnegative, train_rows=rows,
        train_weights=weights, log=lambda line: print(line, flush=True))
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    config = {"n_dense": int(feats.dense.shape[1]), "hidden": list(recipe["hidden"]),
              "dropout": recipe["dropout"], "layer_norm": True}
    torch.save({"config": config, "state_dict": model.state_dict()},
               out / f"member{args.member}.pt")
    record = {
        "target": args.target, "member": args.member, "init_seed": init_seed,
        "bootstrap_seed": [args.split_seed, args.member], "split_seed": args.split_seed,
        "resample": args.resample,
        "concentration": args.concentration if args.resample == "bayesian" else None,
        "bootstrap_rows": len(rows), "bootstrap_distinct_rows": int(len(torch.unique(rows))),
        "recipe": recipe, "loss": loss, "table_sha256": _sha256(args.table),
        "threads": args.threads, "best_epoch": info["best_epoch"],
        "train_seconds": info["train_seconds"], "seconds_per_epoch": info["seconds_per_epoch"],
        "val_mae_history": info["val_mae_history"],
        "versions": {"torch": torch.__version__, "numpy": np.__version__,
                     "python": platform.python_version()},
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }
    (out / f"member{args.member}.json").write_text(json.dumps(record, indent=1) + "\n")
    print(f"wrote {out}/member{args.member}.pt ({info['train_seconds']} s, best epoch "
          f"{info['best_epoch']})", flush=True)
    return record


def _recipe(args) -> dict:
    recipe = dict(RECIPES[args.target])
    if args.epochs is not None:
        recipe["epochs"] = args.epochs
    return recipe


# -- assembling ----------------------------------------------------------------------------------
#: Storage dtypes of ``model.pt`` (``assemble --dtype``); float16 halves the file (the shipped
#: band-gap ensemble would be 7.5 MB as float32) at a test-MAE cost recorded in the metadata.
STORAGE_DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}
#: Buffers kept as float32 whatever the storage dtype: the normalisation statistics (a few
#: hundred numbers; float16 would shift every input's standardisation by up to 3e-4).
FLOAT32_BUFFERS = ("dense_mean", "dense_std", "target_mean", "target_std")


def stack_members(states: list[dict], dtype: torch.dtype | str = torch.float32
                  ) -> dict[str, torch.Tensor]:
    """One ``(K, ...)`` tensor per parameter/buffer name of K state dicts, stored as ``dtype``
    (a dtype or a name of :data:`STORAGE_DTYPES`; the normalisation buffers
    :data:`FLOAT32_BUFFERS` stay float32)."""
    dtype = STORAGE_DTYPES[dtype] if isinstance(dtype, str) else dtype
    return {name: torch.stack([s[name].float() for s in states]).to(
                torch.float32 if name.split(".")[-1] in FLOAT32_BUFFERS else dtype).contiguous()
            for name in states[0]}


def unstack_members(stacked: Mapping[str, torch.Tensor]) -> list[dict[str, torch.Tensor]]:
    """The K float32 state dicts of a stacked ensemble (whatever dtype it is stored in)."""
    count = int(next(iter(stacked.values())).shape[0])
    return [{k: v[i].float() if v.is_floating_point() else v[i] for k, v in stacked.items()}
            for i in range(count)]


def _load_members(folder: Path, target: str):
    records = sorted((json.loads(p.read_text()) for p in folder.glob("member*.json")),
                     key=lambda r: r["member"])
    if not records:
        raise SystemExit(f"no member*.json in {folder}: train the members first")
    if [r["member"] for r in records] != list(range(len(records))):
        raise SystemExit(f"members in {folder} are not numbered 0..K-1: "
                         f"{[r['member'] for r in records]}")
    for record in records:
        record.setdefault("resample", "bootstrap")
        record.setdefault("concentration", 1.0 if record["resample"] == "bayesian" else None)
    for key in ("target", "recipe", "split_seed", "table_sha256", "loss", "resample",
                "concentration"):
        values = {json.dumps(r[key], sort_keys=True) for r in records}
        if len(values) != 1:
            raise SystemExit(f"members in {folder} disagree on {key}: {sorted(values)}")
    if records[0]["target"] != target:
        raise SystemExit(f"members in {folder} are for {records[0]['target']}, not {target}")
    members, states, config = [], [], None
    for record in records:
        blob = torch.load(folder / f"member{record['member']}.pt", map_location="cpu",
                          weights_only=True)
        config = blob["config"]
        model = CrystalMLP(config["n_dense"], hidden=config["hidden"], dropout=config["dropout"],
                           layer_norm=config["layer_norm"])
        model.load_state_dict(blob["state_dict"])
        members.append(model.eval())
        states.append(blob["state_dict"])
    return records, members, states, config


def _uncertainty(std: torch.Tensor, err: torch.Tensor, masks, threshold: float) -> dict:
    val_std, test_std = std[masks["val"]].numpy(), std[masks["test"]].numpy()
    test_err = err[masks["test"]].numpy()
    flagged = test_std > threshold

    def ranks(x):
        return np.argsort(np.argsort(x)).astype(float)

    spearman = float(np.corrcoef(ranks(test_std), ranks(test_err))[0, 1])
    return {
        "val_std_percentiles": {
            **{f"p{q}": round(float(np.percentile(val_std, q)), 5) for q in (50, 90, 95, 99)},
            "max": round(float(val_std.max()), 5)},
        "test_fraction_flagged": round(float(flagged.mean()), 4),
        "test_mae_flagged": round(float(test_err[flagged].mean()), 5) if flagged.any() else None,
        "test_mae_not_flagged": round(float(test_err[~flagged].mean()), 5),
        "test_spearman_std_abs_error": round(spearman, 3),
    }


def _uniform_check(members, nonnegative: bool, threshold: float, n: int, accepted) -> dict:
    """The std on ``n`` crystals drawn by uniformly random actions of the default ``crystal``
    environment (restricted to the accepted elements): far from the data, it should be
    flagged much more often than the validation crystals."""
    from crystalgfn.compose import make_env
    from crystalgfn.testing import rollout_uniform

    from crystalgfn_mlp.features import featurize

    env = make_env("crystal")
    elements = [str(s) for p in env.parts if p.name == "composition" for s in p.symbols]
    if set(elements) - set(accepted):
        env = env.restrict(elements=[s for s in elements if s in set(accepted)])
    values = env.values(rollout_uniform(env, n, seed=0))
    with torch.no_grad():
        feats = featurize({k: values[k] for k in ("spacegroup", "composition", "lattice")})
    std = member_outputs(members, feats, nonnegative).std(0, unbiased=False).numpy()
    return {"n": n, "env": "crystal (default space), uniformly random actions, seed 0",
            "std_median": round(float(np.median(std)), 5),
            "fraction_flagged": round(float((std > threshold).mean()), 4)}


def _shipped_file_checks(members, nonnegative: bool, column: str, threshold: float,
                         validation_csv: Path, slice_csv: Path) -> dict:
    """Numbers a test can recompute from files in the repository through the proxy code:
    MAE and std statistics on ``data/mp_validation.csv`` (the validation crystals, sample
    format) and on the test rows of ``tests/data/mp_slice.csv``."""
    from crystalgfn.report.io import read_crystals

    from crystalgfn_mlp.features import featurize
    from crystalgfn_mlp.testing import slice_batch

    out = {}
    if validation_csv.is_file():
        crystals = read_crystals(validation_csv, "validation")
        target = {"formation_energy_per_atom": "formation_energy"}.get(column, column)
        with torch.no_grad():
            preds = member_outputs(members, featurize(crystals.values), nonnegative)
        mean, std = preds.mean(0), preds.std(0, unbiased=False)
        y = torch.tensor(crystals.numeric[target], dtype=torch.float32)
        out["validation_file"] = {
            "path": "data/mp_validation.csv", "sha256": _sha256(str(validation_csv)),
            "n": crystals.n, "mae": round(float((mean - y).abs().mean()), 5),
            "std_mean": round(float(std.mean()), 6),
            "std_p99": round(float(np.percentile(std.numpy(), 99)), 6),
            "n_flagged": int((std > threshold).sum()),
        }
    if slice_csv.is_file():
        frame, batch = slice_batch(slice_csv)
        with torch.no_grad():
            preds = member_outputs(members, featurize(batch), nonnegative)
        mean, std = preds.mean(0), preds.std(0, unbiased=False)
        test = torch.tensor((frame["split"] == "test").to_numpy())
        y = torch.tensor(frame[column].to_numpy(), dtype=torch.float32)
        out["test_slice"] = {
            "path": "tests/data/mp_slice.csv", "sha256": _sha256(str(slice_csv)),
            "n_test_rows": int(test.sum()),
            "mae": round(float((mean[test] - y[test]).abs().mean()), 5),
            "member_mae": [round(float((p[test] - y[test]).abs().mean()), 5) for p in preds],
            "std_mean": round(float(std[test].mean()), 6),
            "n_flagged": int((std[test] > threshold).sum()),
        }
    return out


def cmd_assemble(args) -> dict:
    torch.set_num_threads(args.threads)
    folder = Path(args.members)
    records, members, states, config = _load_members(folder, args.target)
    if records[0]["table_sha256"] != _sha256(args.table):
        raise SystemExit("the members were trained on another table (sha256 differs)")
    nonnegative = DEFAULTS[args.target]["nonnegative"]
    split_seed = records[0]["split_seed"]
    frame, arrays, feats, y, split, masks = prepare(args.table, args.target, split_seed)
    # Every number below is measured on the weights as stored in model.pt (and loaded back
    # into float32 members, as the proxy does); the float32 MAEs are recorded for comparison.
    stacked = stack_members(states, args.dtype)
    float32_preds = member_outputs(members, feats, nonnegative).mean(0)
    for member, state in zip(members, unstack_members(stacked), strict=True):
        member.load_state_dict(state)
    preds = member_outputs(members, feats, nonnegative)
    mean, std = preds.mean(0), preds.std(0, unbiased=False)

    metrics = _errors(mean, y, masks)
    if args.target == "band_gap":
        for name in ("val", "test"):
            zero, nonzero = masks[name] & (y == 0), masks[name] & (y > 0)
            metrics[f"{name}_mae_zero_gap"] = round(float((mean[zero] - y[zero]).abs().mean()), 5)
            metrics[f"{name}_mae_nonzero_gap"] = round(
                float((mean[nonzero] - y[nonzero]).abs().mean()), 5)
            metrics[f"{name}_fraction_zero_gap"] = round(float(zero.sum() / masks[name].sum()), 4)
    if nonnegative:  # the other way to combine: clip the mean of the raw outputs
        raw = member_outputs(members, feats, False).mean(0).clamp(min=0.0)
        for name in ("val", "test"):
            metrics[f"{name}_mae_if_clipping_the_mean"] = round(
                float((raw[masks[name]] - y[masks[name]]).abs().mean()), 5)
    per_member = []
    for record, pred in zip(records, preds, strict=True):
        per_member.append({
            "member": record["member"], "init_seed": record["init_seed"],
            "bootstrap_seed": record["bootstrap_seed"],
            "bootstrap_distinct_rows": record["bootstrap_distinct_rows"],
            "best_epoch": record["best_epoch"], "train_seconds": record["train_seconds"],
            "seconds_per_epoch": record["seconds_per_epoch"], "threads": record["threads"],
            **_errors(pred, y, {k: masks[k] for k in ("val", "test")}),
        })
    metrics["member_mean_val_mae"] = round(float(np.mean([m["val_mae"] for m in per_member])), 5)
    metrics["member_mean_test_mae"] = round(float(np.mean([m["test_mae"] for m in per_member])), 5)
    print(json.dumps(metrics))

    threshold = float(np.quantile(std[masks["val"]].numpy(), THRESHOLD_QUANTILE))
    err = (mean - y).abs()
    uncertainty = {
        "kind": "ensemble",
        "members": len(members),
        "std": "standard deviation across the members' predictions (population, ddof 0), "
               "in the target's unit",
        "threshold": round(threshold, 6),
        "threshold_quantile": THRESHOLD_QUANTILE,
        "threshold_rule": f"{int(THRESHOLD_QUANTILE * 100)}th percentile of the ensemble std "
                          f"on the {int(masks['val'].sum())} validation crystals",
        **_uncertainty(std, err, masks, threshold),
    }
    train_comp = arrays["composition"][masks["train"].numpy()]
    from crystalgfn.elements import symbols
    accepted = [symbols()[int(z)] for z in np.nonzero(train_comp.sum(0) > 0)[0]]
    if args.uniform:
        uncertainty["uniform_crystals"] = _uniform_check(members, nonnegative, threshold,
                                                         args.uniform, accepted)
    checks = _shipped_file_checks(members, nonnegative, TARGETS[args.target], threshold,
                                  Path(args.validation_csv), Path(args.slice_csv))
    print(json.dumps(uncertainty))

    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    split_json = {"seed": split_seed, "by": "material_id",
                  "val": sorted(split["val"].tolist()), "test": sorted(split["test"].tolist())}
    previous = out / "split.json"
    if previous.is_file():
        old = json.loads(previous.read_text())
        if (old["val"], old["test"]) != (split_json["val"], split_json["test"]):
            raise SystemExit(f"the split differs from the shipped {previous}")
    torch.save({"config": config, "stacked": stacked, "storage_dtype": args.dtype},
               out / "model.pt")
    previous.write_text(json.dumps(split_json) + "\n")
    weights = {
        "file": "model.pt", "bytes": (out / "model.pt").stat().st_size,
        "storage_dtype": args.dtype,
        "float32_buffers": [k for k in stacked if k.split(".")[-1] in FLOAT32_BUFFERS],
        "inference_dtype": "float32",
        "parameters_per_member": sum(int(v[0].numel()) for k, v in stacked.items()
                                     if k.split(".")[-1] not in FLOAT32_BUFFERS),
        "note": "the metrics, checks and uncertainty are measured on these stored weights "
                "(cast to float32); float32_metrics are those of the float32 members",
        "float32_metrics": {f"{name}_mae": round(float(
            (float32_preds[masks[name]] - y[masks[name]]).abs().mean()), 5)
            for name in ("val", "test")},
    }
    recipe = records[0]["recipe"]
    metadata = {
        "target": args.target,
        "column": TARGETS[args.target],
        "unit": UNITS[args.target],
        "nonnegative": nonnegative,
        "dataset": {"name": args.dataset_name, "file": Path(args.table).name,
                    "sha256": records[0]["table_sha256"], "rows": len(frame),
                    "source": args.source or None},
        "provenance": PROVENANCE,
        "split": {"by": "material_id", "seed": split_seed, "fractions": [0.8, 0.1, 0.1],
                  "sizes": {k: int(v.sum()) for k, v in masks.items()},
                  "ids_file": "split.json (validation and test ids)"},
        "hyperparameters": {**recipe, "loss": records[0]["loss"], "optimizer": "AdamW",
                            "schedule": "warmup 3% + cosine",
                            "model_selection": "best validation MAE epoch, per member",
                            "best_epoch": [r["best_epoch"] for r in records],
                            "ensemble": len(records),
                            "init_seeds": [r["init_seed"] for r in records],
                            "resample": records[0]["resample"],
                            "concentration": records[0]["concentration"],
                            "bootstrap": RESAMPLING[records[0]["resample"]],
                            "bootstrap_seeds": [r["bootstrap_seed"] for r in records]},
        "metrics": metrics,
        "weights": weights,
        "ensemble": {
            "members": per_member,
            "combine": "mean of the members' predictions (each clipped at 0 for a nonnegative "
                       "target)" if nonnegative else "mean of the members' predictions",
            "train_seconds_total": round(sum(r["train_seconds"] for r in records), 1),
        },
        "uncertainty": uncertainty,
        "checks": checks,
        "accepted_elements": accepted,
        "dense_features": list(DENSE_NAMES),
        "train_seconds": round(sum(r["train_seconds"] for r in records), 1),
        "versions": records[0]["versions"],
        "created": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": args.command or (
            f"python -m crystalgfn_mlp.ensemble member --target {args.target} --table "
            f"{args.table} --member k --out {folder} (k = 0..{len(records) - 1}); python -m "
            f"crystalgfn_mlp.ensemble assemble --target {args.target} --table {args.table} "
            f"--members {folder} --out {args.out}"),
    }
    (out / "metadata.json").write_text(json.dumps(metadata, indent=1) + "\n")
    print(f"wrote {out}/model.pt ({(out / 'model.pt').stat().st_size / 1e6:.2f} MB), "
          "metadata.json, split.json")
    return metadata


def main(argv=None):
    parser = argparse.ArgumentParser(prog="python -m crystalgfn_mlp.ensemble", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command_name", required=True)
    member = commands.add_parser("member", help="train one member")
    member.add_argument("--target", required=True, choices=sorted(TARGETS))
    member.add_argument("--table", required=True)
    member.add_argument("--member", type=int, required=True, help="index k: init seed = "
                        "split seed + k, bootstrap seed [split seed, k]")
    member.add_argument("--out", required=True, help="folder of the members")
    member.add_argument("--split-seed", type=int, default=0)
    member.add_argument("--epochs", type=int, default=None,
                        help="override the recipe's epochs (recorded)")
    member.add_argument("--resample", choices=sorted(RESAMPLING), default="bayesian",
                        help="bayesian: Dirichlet(--concentration) weights on every training "
                             "row (the shipped ensembles, concentration 4); bootstrap: rows "
                             "drawn with replacement; none: the training split as it is "
                             "(members differ by their seeds only)")
    member.add_argument("--concentration", type=float, default=4.0,
                        help="α of the Bayesian bootstrap's Dirichlet weights (1: Rubin's; "
                             "default 4, the shipped ensembles)")
    member.add_argument("--threads", type=int, default=1)
    member.set_defaults(handler=cmd_member)
    assemble = commands.add_parser("assemble", help="evaluate the members, write the weights")
    assemble.add_argument("--target", required=True, choices=sorted(TARGETS))
    assemble.add_argument("--table", required=True)
    assemble.add_argument("--members", required=True, help="folder of member*.pt/json")
    assemble.add_argument("--out", required=True, help="weights folder of the proxy package")
    assemble.add_argument("--validation-csv", default=str(ROOT / "data" / "mp_validation.csv"))
    assemble.add_argument("--slice-csv", default=str(ROOT / "tests" / "data" / "mp_slice.csv"))
    assemble.add_argument("--uniform", type=int, default=2000,
                          help="uniformly random crystals for the out-of-distribution check "
                               "(0: skip)")
    assemble.add_argument("--dataset-name", default="mp_mtcgcnn (Materials Project via MT-CGCNN)")
    assemble.add_argument("--source", default="", help="what the table was built from (recorded)")
    assemble.add_argument("--command", default="", help="the command to record (default: "
                          "the two steps)")
    assemble.add_argument("--dtype", choices=sorted(STORAGE_DTYPES), default="float16",
                          help="storage dtype of model.pt's parameters (default float16, what "
                               "ships; the normalisation buffers stay float32, inference is "
                               "float32)")
    assemble.add_argument("--threads", type=int, default=1)
    assemble.set_defaults(handler=cmd_assemble)
    args = parser.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", str(args.threads))
    start = time.perf_counter()
    result = args.handler(args)
    print(f"done in {time.perf_counter() - start:.0f} s")
    return result


if __name__ == "__main__":
    main()
