"""Turn crystal structures into Crystal-GFN parameters and load training tables.

A crystal is described to the proxies the way the environments produce it:

* ``spacegroup`` — international number from spglib at ``symprec=0.1`` (angle tolerance 5°),
  the same call ``pymatgen``'s ``SpacegroupAnalyzer(structure, symprec=0.1)`` makes;
* ``composition`` — atom counts of spglib's standardised *conventional* cell (ITA standard
  setting; same volume and atom count as ``get_conventional_standard_structure()``);
* ``lattice`` — a, b, c (Å), α, β, γ (°) of that conventional cell.

Loaders
-------
* :func:`load_table` — a CSV(.gz) table with the columns written by :func:`convert_cifs`
  (``material_id``, ``spacegroup_number``, ``conv_composition`` (JSON element→count),
  ``conv_a`` … ``conv_gamma`` and the targets).
* :func:`load_jsonl_structures` — JSON-lines of ``pymatgen`` ``Structure.as_dict()`` records
  (optionally with ``material_id`` and target fields), converted with
  :func:`structure_to_params`.
* :func:`load_matbench` — ``matbench_mp_e_form`` / ``matbench_mp_gap`` through the
  ``matbench`` package (needs internet and ``pip install matbench``).
* :func:`convert_cifs` / ``python -m crystalgfn_mlp.data`` — convert a folder of CIFs with an
  ``id_prop.csv`` (the MT-CGCNN layout) in parallel, with a per-structure time guard.

``numpy``/``spglib`` are needed for conversion, ``pymatgen`` for reading structures and
``pandas`` for tables: all optional extras (``pip install crystalgfn-mlp[data]``), imported
lazily.
"""

from __future__ import annotations

import argparse
import gzip
import json
import math
import os
import signal
import sys
import time
from collections.abc import Iterable
from pathlib import Path

import numpy as np

SYMPREC = 0.1
ANGLE_TOLERANCE = 5.0
TARGETS = {
    "formation_energy": "formation_energy_per_atom",
    "band_gap": "band_gap",
}
MATBENCH_TASKS = {"formation_energy": "matbench_mp_e_form", "band_gap": "matbench_mp_gap"}
LATTICE_COLUMNS = ["conv_a", "conv_b", "conv_c", "conv_alpha", "conv_beta", "conv_gamma"]

_CRYSTAL_SYSTEMS = [
    (2, "triclinic"),
    (15, "monoclinic"),
    (74, "orthorhombic"),
    (142, "tetragonal"),
    (167, "trigonal"),
    (194, "hexagonal"),
    (230, "cubic"),
]


def _require(module: str, extra: str = "data"):
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as error:  # pragma: no cover - depends on the environment
        raise ImportError(
            f"{module!r} is needed for this; install it with `pip install crystalgfn-mlp[{extra}]`"
            f" (or `pip install {module}`)"
        ) from error


def crystal_system(number: int) -> str:
    """Crystal system of space group ``number`` (1–230)."""
    for last, name in _CRYSTAL_SYSTEMS:
        if number <= last:
            return name
    raise ValueError(f"space-group number {number} is outside 1-230")


def lattice_parameters(matrix) -> tuple[float, float, float, float, float, float]:
    """a, b, c (Å) and α, β, γ (°) of a 3×3 lattice matrix with the vectors as rows."""
    m = np.asarray(matrix, dtype=np.float64)
    lengths = np.linalg.norm(m, axis=1)

    def angle(i: int, j: int) -> float:
        cos = float(np.dot(m[i], m[j]) / (lengths[i] * lengths[j]))
        return math.degrees(math.acos(max(-1.0, min(1.0, cos))))

    return (*map(float, lengths), angle(1, 2), angle(0, 2), angle(0, 1))


def cell_to_params(lattice, frac_coords, numbers, symprec: float = SYMPREC,
                   angle_tolerance: float = ANGLE_TOLERANCE) -> dict:
    """Parameters of a periodic cell given as lattice rows, fractional coordinates and Z.

    Returns ``{"spacegroup": int, "composition": {Z: count}, "lattice": (a, b, c, α, β, γ)}``
    for spglib's standardised conventional cell. Raises ``ValueError`` if spglib finds no
    symmetry.
    """
    spglib = _require("spglib")
    cell = (np.asarray(lattice, float), np.asarray(frac_coords, float), np.asarray(numbers, int))
    import warnings

    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # spglib's error-handling notice
        try:
            dataset = spglib.get_symmetry_dataset(cell, symprec=symprec,
                                                  angle_tolerance=angle_tolerance)
        except Exception as error:  # newer spglib raises SpglibError instead of returning None
            raise ValueError(f"spglib failed on this structure: {error}") from error
    if dataset is None:
        raise ValueError("spglib found no symmetry dataset for this structure")
    types, counts = np.unique(np.asarray(dataset.std_types, dtype=int), return_counts=True)
    return {
        "spacegroup": int(dataset.number),
        "spacegroup_symbol": str(dataset.international),
        "composition": {int(z): int(c) for z, c in zip(types, counts, strict=True)},
        "lattice": lattice_parameters(dataset.std_lattice),
    }


def structure_to_params(structure, symprec: float = SYMPREC,
                        angle_tolerance: float = ANGLE_TOLERANCE) -> dict:
    """Parameters of a ``pymatgen`` ``Structure`` (see :func:`cell_to_params`).

    The structure must be ordered (one element per site).
    """
    if not structure.is_ordered:
        raise ValueError("structure_to_params needs an ordered structure (one element per site)")
    numbers = [site.specie.Z for site in structure]
    return cell_to_params(structure.lattice.matrix, structure.frac_coords, numbers,
                          symprec=symprec, angle_tolerance=angle_tolerance)


def params_to_row(params: dict) -> dict:
    """Flatten :func:`cell_to_params` output into table columns (see :func:`load_table`)."""
    from crystalgfn.elements import symbols

    sym = symbols()
    comp = {sym[z]: c for z, c in sorted(params["composition"].items())}
    a, b, c, alpha, beta, gamma = params["lattice"]
    return {
        "spacegroup_number": params["spacegroup"],
        "spacegroup_symbol": params.get("spacegroup_symbol", ""),
        "crystal_system": crystal_system(params["spacegroup"]),
        "conv_composition": json.dumps(comp),
        "conv_nsites": int(sum(comp.values())),
        "conv_a": round(a, 5), "conv_b": round(b, 5), "conv_c": round(c, 5),
        "conv_alpha": round(alpha, 5), "conv_beta": round(beta, 5), "conv_gamma": round(gamma, 5),
    }


# ----------------------------------------------------------------------------- tables

def table_to_arrays(frame) -> dict[str, np.ndarray]:
    """Arrays ``spacegroup`` (N,) int64, ``composition`` (N, 119) float32 and ``lattice``
    (N, 6) float32 from a table with ``spacegroup_number``, ``conv_composition`` and
    ``conv_a`` … ``conv_gamma`` columns."""
    from crystalgfn.elements import atomic_number

    n = len(frame)
    comp = np.zeros((n, 119), dtype=np.float32)
    for i, text in enumerate(frame["conv_composition"]):
        for symbol, count in json.loads(text).items():
            comp[i, atomic_number(symbol)] = count
    return {
        "spacegroup": frame["spacegroup_number"].to_numpy(dtype=np.int64),
        "composition": comp,
        "lattice": frame[LATTICE_COLUMNS].to_numpy(dtype=np.float32),
    }


def load_table(path: str | os.PathLike):
    """Read a converted table (CSV, optionally gzipped) into a ``pandas.DataFrame``."""
    pd = _require("pandas")
    return pd.read_csv(path)


def load_jsonl_structures(path: str | os.PathLike, symprec: float = SYMPREC):
    """Read JSON-lines of ``pymatgen`` structure dicts and convert each one.

    Each line is either a bare ``Structure.as_dict()`` or an object with a ``structure`` key
    plus other fields (``material_id``, targets …), which are kept as columns. Returns a
    ``pandas.DataFrame`` with the columns of :func:`params_to_row`.
    """
    pd = _require("pandas")
    core = _require("pymatgen.core")
    opener = gzip.open if str(path).endswith(".gz") else open
    rows = []
    with opener(path, "rt") as handle:
        for line in handle:
            if not line.strip():
                continue
            record = json.loads(line)
            struct_dict = record.pop("structure", None)
            if struct_dict is None:
                struct_dict, record = record, {}
            structure = core.Structure.from_dict(struct_dict)
            row = dict(record)
            row.update(params_to_row(structure_to_params(structure, symprec=symprec)))
            rows.append(row)
    return pd.DataFrame(rows)


def load_matbench(target: str, symprec: float = SYMPREC, limit: int | None = None):
    """Load MatBench ``matbench_mp_e_form`` or ``matbench_mp_gap`` (needs internet).

    Returns a ``pandas.DataFrame`` with ``material_id`` (the MatBench index), the converted
    parameters and the target column (``formation_energy_per_atom`` or ``band_gap``).
    """
    if target not in MATBENCH_TASKS:
        raise ValueError(f"unknown target {target!r}; choose from {sorted(MATBENCH_TASKS)}")
    try:
        from matbench.bench import MatbenchBenchmark
    except ImportError as error:
        raise ImportError(
            "the MatBench loader needs the `matbench` package and internet access: "
            "`pip install matbench`. Offline, use a local table (--table) instead."
        ) from error
    pd = _require("pandas")
    bench = MatbenchBenchmark(autoload=False, subset=[MATBENCH_TASKS[target]])
    task = next(iter(bench.tasks))
    task.load()
    frame = task.df
    if limit is not None:
        frame = frame.iloc[:limit]
    rows = []
    for index, (structure, value) in zip(frame.index, frame.itertuples(index=False), strict=True):
        try:
            row = params_to_row(structure_to_params(structure, symprec=symprec))
        except Exception:  # noqa: BLE001 - skip structures spglib cannot handle
            continue
        row["material_id"] = str(index)
        row[TARGETS[target]] = float(value)
        rows.append(row)
    return pd.DataFrame(rows)


# ----------------------------------------------------------------------------- conversion

class _Timeout(Exception):
    pass


def _alarm(signum, frame):  # pragma: no cover - only on slow structures
    raise _Timeout()


def _convert_one(job):
    import warnings

    row, path, timeout = job
    warnings.filterwarnings("ignore")
    core = _require("pymatgen.core")
    start = time.perf_counter()
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _alarm)
        signal.alarm(int(timeout))
    try:
        structure = core.Structure.from_file(path)
        out = params_to_row(structure_to_params(structure))
        out["row"] = row
        out["cell_nsites"] = len(structure)
        out["cell_volume"] = round(float(structure.volume), 5)
        return out, None
    except _Timeout:
        return None, (row, f"timeout after {timeout}s")
    except Exception as error:  # noqa: BLE001 - reported and dropped
        return None, (row, f"{type(error).__name__}: {error}")
    finally:
        if hasattr(signal, "SIGALRM"):
            signal.alarm(0)
        del start


def convert_cifs(root: str | os.PathLike, out: str | os.PathLike, workers: int = 2,
                 timeout: float = 30.0, limit: int | None = None) -> dict:
    """Convert an MT-CGCNN style folder (``cif/<row>.cif``, ``id_prop.csv``,
    ``material_id_hash.csv``) into a table at ``out`` (CSV, gzipped if it ends with .gz).

    Returns statistics: converted, dropped (with reasons), seconds.
    """
    import multiprocessing as mp

    pd = _require("pandas")
    root = Path(root)
    props = pd.read_csv(root / "id_prop.csv", header=None,
                        names=["row", "formation_energy_per_atom", "band_gap", "efermi",
                               "volume_mp", "total_magnetization"])
    ids = pd.read_csv(root / "material_id_hash.csv", header=None, names=["row", "material_id"])
    meta = props.merge(ids, on="row")
    if limit is not None:
        meta = meta.iloc[:limit]
    jobs = [(int(r), str(root / "cif" / f"{int(r)}.cif"), timeout) for r in meta["row"]]
    start = time.perf_counter()
    rows, dropped = [], []
    with mp.get_context("fork").Pool(workers, maxtasksperchild=2000) as pool:
        results = pool.imap_unordered(_convert_one, jobs, chunksize=64)
        for i, (result, failure) in enumerate(results):
            if result is not None:
                rows.append(result)
            else:
                dropped.append(failure)
            if (i + 1) % 2000 == 0:
                print(f"{i + 1}/{len(jobs)} done, {len(dropped)} dropped, "
                      f"{time.perf_counter() - start:.0f}s", file=sys.stderr, flush=True)
    table = pd.DataFrame(rows).merge(meta, on="row").sort_values("row")
    first = ["material_id", "row"]
    table = table[first + [c for c in table.columns if c not in first]]
    table.to_csv(out, index=False)
    stats = {
        "total": len(jobs), "converted": len(table), "dropped": len(dropped),
        "dropped_rows": dropped, "seconds": round(time.perf_counter() - start, 1),
        "symprec": SYMPREC, "angle_tolerance": ANGLE_TOLERANCE, "timeout_s": timeout,
    }
    Path(str(out) + ".stats.json").write_text(json.dumps(stats, indent=1))
    return stats


def main(argv: Iterable[str] | None = None) -> None:
    parser = argparse.ArgumentParser(
        prog="python -m crystalgfn_mlp.data",
        description="Convert a folder of CIFs (MT-CGCNN layout) into a parameter table.")
    parser.add_argument("root", help="folder with cif/, id_prop.csv and material_id_hash.csv")
    parser.add_argument("--out", required=True, help="output CSV (.csv.gz to compress)")
    parser.add_argument("--workers", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--timeout", type=float, default=30.0, help="seconds per structure")
    parser.add_argument("--limit", type=int, default=None)
    args = parser.parse_args(None if argv is None else list(argv))
    stats = convert_cifs(args.root, args.out, workers=args.workers, timeout=args.timeout,
                         limit=args.limit)
    print(json.dumps({k: v for k, v in stats.items() if k != "dropped_rows"}, indent=1))


if __name__ == "__main__":
    main()
