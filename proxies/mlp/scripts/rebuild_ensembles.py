"""Rebuild the shipped proxy ensembles from the shared Materials Project data, one command.

Development-time script (it reads ``../shared/data``, which users do not have)::

    nice -n 19 .venv/bin/python proxies/mlp/scripts/rebuild_ensembles.py \\
        [--shared ../shared/data] [--cache /work/cache] [--members 5] [--jobs 2] \\
        [--targets formation_energy band_gap] [--epochs N] [--dtype float16]

1. unpacks ``mp_mtcgcnn_cifs.tar.gz`` and converts it into ``CACHE/mp_table.csv.gz``
   (``python -m crystalgfn_mlp.data``), unless that table exists;
2. trains every member (``python -m crystalgfn_mlp.ensemble member``; init seed k and its
   own resample of the training split: ``--resample bayesian``, the default and what ships,
   or ``bootstrap``) in at most ``--jobs`` background processes at once, each with one torch
   thread and ``nice -n 19``, logging to ``CACHE/members/<target>[-bayesian]/member<k>.log``;
   a member already trained with the same recipe, resampling and table is kept (so an
   interrupted rebuild resumes);
3. assembles each ensemble into its package's ``weights/`` folder
   (``python -m crystalgfn_mlp.ensemble assemble``: ``model.pt``, its parameters stored as
   ``--dtype``, float16 by default and in the shipped files, to keep each file under 5 MiB;
   ``metadata.json`` with per-member and ensemble metrics of the stored weights, training
   times and the uncertainty threshold; ``split.json``).
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import subprocess
import sys
import tarfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]
WEIGHTS = {
    "formation_energy": ROOT / "proxies/formation-energy/src/crystalgfn_formation_energy/weights",
    "band_gap": ROOT / "proxies/band-gap/src/crystalgfn_band_gap/weights",
}
TARBALL = "mp_mtcgcnn_cifs.tar.gz"


def sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def build_table(shared: Path, cache: Path, workers: int) -> Path:
    table = cache / "mp_table.csv.gz"
    if table.is_file():
        print(f"table {table} exists (sha256 {sha256(table)[:12]}...), not rebuilt")
        return table
    cache.mkdir(parents=True, exist_ok=True)
    if not (cache / "mp_mtcgcnn" / "id_prop.csv").is_file():
        print(f"unpacking {shared / TARBALL} into {cache}")
        with tarfile.open(shared / TARBALL) as archive:
            archive.extractall(cache, filter="data")
    subprocess.run(["nice", "-n", "19", sys.executable, "-m", "crystalgfn_mlp.data",
                    str(cache / "mp_mtcgcnn"), "--out", str(table), "--workers", str(workers)],
                   check=True)
    return table


def member_done(folder: Path, k: int, recipe: dict, table_sha: str, resample: str,
                concentration: float | None) -> bool:
    record = folder / f"member{k}.json"
    if not (record.is_file() and (folder / f"member{k}.pt").is_file()):
        return False
    data = json.loads(record.read_text())
    return (data["recipe"] == recipe and data["table_sha256"] == table_sha
            and data.get("resample", "bootstrap") == resample
            and data.get("concentration") == concentration)


def members_folder(cache: Path, target: str, resample: str, concentration: float) -> Path:
    if resample == "bootstrap":
        return cache / "members" / target
    if resample == "none":
        return cache / "members" / f"{target}-seeds-only"
    return cache / "members" / f"{target}-{resample}-a{concentration:g}"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shared", default=str(ROOT.parent / "shared" / "data"))
    parser.add_argument("--cache", default="/work/cache")
    parser.add_argument("--targets", nargs="+", default=list(WEIGHTS), choices=list(WEIGHTS))
    parser.add_argument("--members", type=int, default=5)
    parser.add_argument("--jobs", type=int, default=2, help="members trained at once")
    parser.add_argument("--epochs", type=int, default=None,
                        help="override the recipe's epochs (recorded in the metadata)")
    parser.add_argument("--resample", choices=["bayesian", "bootstrap", "none"],
                        default="bayesian",
                        help="bayesian: Dirichlet(--concentration) weights on every training row "
                             "(the shipped ensembles); bootstrap: rows drawn with replacement; "
                             "none: seeds only")
    parser.add_argument("--concentration", type=float, default=4.0,
                        help="α of the Bayesian bootstrap (weights' variance 1/α; default 4)")
    parser.add_argument("--out", default=None,
                        help="assemble into OUT/<target> instead of the package weights")
    parser.add_argument("--uniform", type=int, default=2000)
    parser.add_argument("--dtype", choices=["float16", "bfloat16", "float32"], default="float16",
                        help="storage dtype of model.pt's parameters (default float16, what "
                             "ships; inference is float32)")
    args = parser.parse_args()
    sys.path.insert(0, str(ROOT / "proxies" / "mlp" / "src"))
    from crystalgfn_mlp.ensemble import RECIPES

    shared, cache = Path(args.shared), Path(args.cache)
    table = build_table(shared, cache, args.jobs)
    table_sha = sha256(table)
    queue = []
    for target in args.targets:
        recipe = dict(RECIPES[target])
        if args.epochs is not None:
            recipe["epochs"] = args.epochs
        concentration = args.concentration if args.resample == "bayesian" else None
        folder = members_folder(cache, target, args.resample, args.concentration)
        folder.mkdir(parents=True, exist_ok=True)
        for k in range(args.members):
            if member_done(folder, k, recipe, table_sha, args.resample, concentration):
                print(f"{target} member {k}: already trained, kept")
                continue
            command = ["nice", "-n", "19", sys.executable, "-m", "crystalgfn_mlp.ensemble",
                       "member", "--target", target, "--table", str(table), "--member", str(k),
                       "--out", str(folder), "--threads", "1", "--resample", args.resample,
                       "--concentration", str(args.concentration)]
            if args.epochs is not None:
                command += ["--epochs", str(args.epochs)]
            queue.append((target, k, command, folder / f"member{k}.log"))
    running: list[tuple[str, int, subprocess.Popen, float]] = []
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    failed = []
    while queue or running:
        while queue and len(running) < args.jobs:
            target, k, command, log = queue.pop(0)
            print(f"training {target} member {k} (log {log})", flush=True)
            handle = log.open("w")
            running.append((target, k, subprocess.Popen(command, stdout=handle,
                                                        stderr=subprocess.STDOUT, env=env),
                            time.time()))
        time.sleep(5)
        for item in list(running):
            target, k, process, started = item
            if process.poll() is not None:
                running.remove(item)
                status = "done" if process.returncode == 0 else f"FAILED ({process.returncode})"
                print(f"{target} member {k}: {status} after {time.time() - started:.0f} s",
                      flush=True)
                if process.returncode:
                    failed.append((target, k))
    if failed:
        raise SystemExit(f"members failed: {failed}; see their logs")
    for target in args.targets:
        out = WEIGHTS[target] if args.out is None else Path(args.out) / target
        command = [sys.executable, "-m", "crystalgfn_mlp.ensemble", "assemble",
                   "--target", target, "--table", str(table),
                   "--members", str(members_folder(cache, target, args.resample,
                                                   args.concentration)),
                   "--out", str(out),
                   "--uniform", str(args.uniform), "--dtype", args.dtype,
                   "--source", f"{TARBALL} (sha256 {sha256(shared / TARBALL)}) converted with "
                               "python -m crystalgfn_mlp.data",
                   "--command", "python proxies/mlp/scripts/rebuild_ensembles.py "
                                f"--members {args.members} --jobs {args.jobs} "
                                f"--resample {args.resample} --concentration "
                                f"{args.concentration:g} --dtype {args.dtype}"
                                + (f" --epochs {args.epochs}" if args.epochs else "")]
        subprocess.run(["nice", "-n", "19", *command], check=True, env=env)


if __name__ == "__main__":
    main()
