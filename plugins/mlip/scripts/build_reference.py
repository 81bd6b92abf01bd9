"""Rebuild the ``chgnet`` oracle's competing phases and the novelty reference.

Development-time script (it reads ``shared/data``, which users do not have). It writes, in
``plugins/mlip/src/crystalgfn_mlip/data/``:

* ``chgnet_reference.csv.gz`` — ``material_id, formula, n_atoms, energy_per_atom, source,
  relaxed, steps, dft_formation_energy``: every Materials Project crystal of
  ``mp_mtcgcnn_cifs.tar.gz`` whose elements lie in the 22 elements of the Crystal-GFN paper,
  its energy per atom computed by CHGNet 0.3.0, plus elemental ground states that the data set
  lacks (H, O, F, S, Se), found by a search with the same potential;
* ``mp_structures.jsonl.gz`` — the same crystals as published (DFT-relaxed), for novelty;
* ``chgnet_reference.json`` — provenance, settings, counts and timings.

How energies are computed (one energy scale: CHGNet's, never DFT):

1. a single point of every published structure;
2. elemental ground states missing from the data set: diatomic molecular crystals (H2, O2,
   F2), the trigonal Se chain, and random crystals (pyxtal) of each element, all relaxed
   (FIRE, cell relaxed, fmax 0.05 eV/Å, 400 steps); the lowest is kept;
3. a relaxation (fmax 0.1 eV/Å, at most 100 steps) of the crystals within
   ``--relax-window`` eV/atom of their chemical system's single-point hull (the first
   ``--relax-limit`` of them by material id). Relaxation moves a published structure's
   energy very little (measured: ``max_relaxation_gain`` in the provenance), which is why
   the others keep their single-point energy.

The shipped files were built with (stage 1: 26 min on 2 cores beside other jobs; stage 2:
17 min; stage 3: 3 min)::

    .venv/bin/python plugins/mlip/scripts/build_reference.py --jobs 2 --relax-limit 200

Stage 3 without ``--relax-limit`` relaxes about 3,000 crystals (about an hour on 2 cores); on
the 200 measured, relaxing lowered the energy by a median 0.00003 and at most 0.006 eV/atom.

Stages are cached in ``--work``, so an interrupted build continues.
"""

from __future__ import annotations

import argparse
import collections
import csv
import gzip
import io
import json
import math
import os
import re
import tarfile
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path

from crystalgfn_composition.env import PAPER_ELEMENTS

ROOT = Path(__file__).resolve().parents[3]
DATA = ROOT / "plugins" / "mlip" / "src" / "crystalgfn_mlip" / "data"
SOURCE = ROOT.parent / "shared" / "data" / "mp_mtcgcnn_cifs.tar.gz"
#: bond lengths (Å) of the diatomic molecules whose crystals are searched
DIATOMIC = {"H": 0.74, "O": 1.21, "F": 1.42, "N": 1.10, "Cl": 1.99}
RANDOM_TRIALS = 6

_oracle = None


def _worker_oracle(fmax: float, steps: int):
    global _oracle
    if _oracle is None or _oracle.fmax != fmax or _oracle.steps != steps:
        import torch

        torch.set_num_threads(1)
        from crystalgfn_mlip.chgnet_oracle import ChgnetOracle

        _oracle = ChgnetOracle(fmax=fmax, steps=steps)
    return _oracle


# -- reading the data set ---------------------------------------------------------------------


def read_source(path: Path) -> list[dict]:
    """Crystals of the data set inside the paper's elements: id, CIF text, DFT E_f."""
    ids, props, cifs = {}, {}, {}
    allowed = set(PAPER_ELEMENTS)
    with tarfile.open(path) as archive:
        for member in archive:
            if not member.isfile():
                continue
            name = member.name
            data = archive.extractfile(member).read().decode()
            if name.endswith("material_id_hash.csv"):
                ids = dict(line.split(",")[:2] for line in data.split())
            elif name.endswith("id_prop.csv"):
                props = {line.split(",")[0]: float(line.split(",")[1]) for line in data.split()}
            elif name.endswith(".cif"):
                formula = re.search(r"_chemical_formula_sum\s+'?([^'\n]+)'?", data).group(1)
                if set(re.findall(r"[A-Z][a-z]?", formula)) <= allowed:
                    cifs[Path(name).stem] = data
    return [
        {"row": row, "material_id": ids[row], "cif": text, "dft_formation_energy": props[row]}
        for row, text in sorted(cifs.items(), key=lambda item: ids[item[0]])
    ]


def structure_of(cif: str):
    import warnings

    from pymatgen.core import Structure

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return Structure.from_str(cif, fmt="cif")


# -- stage 1 and 3: energies of published crystals ----------------------------------------------


def _energy_task(task):
    record, fmax, steps = task
    oracle = _worker_oracle(fmax, steps)
    structure = structure_of(record["cif"])
    start = time.perf_counter()
    relaxation = oracle.relax(structure)
    return {
        "material_id": record["material_id"],
        "formula": structure.composition.formula,
        "n_atoms": len(structure),
        "initial": relaxation.initial_energy_per_atom,
        "energy_per_atom": relaxation.energy_per_atom,
        "steps": relaxation.steps,
        "converged": relaxation.converged,
        "seconds": time.perf_counter() - start,
    }


def compute_energies(records, path: Path, fmax: float, steps: int, jobs: int) -> dict:
    """Energies of ``records`` (cached in the JSONL file ``path``, one line per crystal)."""
    done = {}
    if path.exists():
        for line in path.read_text().splitlines():
            row = json.loads(line)
            done[row["material_id"]] = row
    todo = [r for r in records if r["material_id"] not in done]
    print(f"  {len(done)} cached, {len(todo)} to compute ({path.name})", flush=True)
    start = time.perf_counter()
    with open(path, "a") as stream, ProcessPoolExecutor(jobs) as pool:
        tasks = ((record, fmax, steps) for record in todo)
        for i, row in enumerate(pool.map(_energy_task, tasks, chunksize=4), start=1):
            done[row["material_id"]] = row
            stream.write(json.dumps(row) + "\n")
            if i % 200 == 0:
                rate = i / (time.perf_counter() - start)
                print(f"  {i}/{len(todo)}  {rate:.2f}/s  eta {(len(todo) - i) / rate / 60:.1f} min",
                      flush=True)
    return done


# -- stage 2: elemental ground states the data set lacks --------------------------------------


def _candidates(element: str, seed: int) -> list[tuple[str, object]]:
    import numpy as np
    from pymatgen.core import Lattice, Structure

    out = []
    if element in DIATOMIC:
        d = DIATOMIC[element]
        u = d / math.sqrt(3) / 2
        # alpha-N2-like Pa-3 packing of molecules along <111>, at a few densities
        for a in (4.0, 5.0, 5.6):
            centres = [(0, 0, 0), (0, 0.5, 0.5), (0.5, 0, 0.5), (0.5, 0.5, 0)]
            axes = [(1, 1, 1), (1, -1, -1), (-1, 1, -1), (-1, -1, 1)]
            coords = []
            for c, axis in zip(centres, axes, strict=True):
                shift = np.array(axis) * u / a
                coords += [np.array(c) + shift, np.array(c) - shift]
            out.append((f"Pa-3 X2 a={a}", Structure(Lattice.cubic(a), [element] * 8, coords)))
        # one molecule per cell, tilted
        for a in (3.0, 3.6):
            shift = np.array([1, 1, 1]) * u / a
            out.append((f"P1 X2 a={a}", Structure(Lattice.cubic(a), [element] * 2,
                                                 [0.5 + shift, 0.5 - shift])))
    if element == "Se":
        out.append(("trigonal Se (P3_121)", Structure.from_spacegroup(
            152, Lattice.hexagonal(4.366, 4.954), ["Se"], [[0.2254, 0, 1 / 3]])))
    if element == "S":
        out.append(("chain S (P3_121, Se-like)", Structure.from_spacegroup(
            152, Lattice.hexagonal(4.1, 4.6), ["S"], [[0.21, 0, 1 / 3]])))
    from pyxtal import pyxtal

    rng = np.random.default_rng(seed)
    groups = [2, 14, 15, 61, 70, 152, 166, 191, 225, 229]
    for trial in range(RANDOM_TRIALS):
        for _ in range(20):
            group = int(rng.choice(groups))
            n = int(rng.choice([2, 4, 8, 16]))
            crystal = pyxtal()
            try:
                crystal.from_random(3, group, [element], [n], factor=1.3,
                                    random_state=int(rng.integers(1 << 30)))
            except Exception:
                continue
            if crystal.valid:
                out.append((f"random {group} n={n} #{trial}", crystal.to_pymatgen()))
                break
    return out


def _element_task(task):
    element, label, structure = task
    oracle = _worker_oracle(0.05, 400)
    try:
        relaxation = oracle.relax(structure)
    except Exception as error:
        return {"element": element, "label": label, "error": str(error)}
    return {"element": element, "label": label, "energy_per_atom": relaxation.energy_per_atom,
            "n_atoms": len(relaxation.structure), "steps": relaxation.steps,
            "converged": relaxation.converged,
            "volume_per_atom": relaxation.structure.volume / len(relaxation.structure)}


def search_elements(elements, path: Path, jobs: int) -> list[dict]:
    if path.exists():
        return json.loads(path.read_text())
    tasks = []
    for i, element in enumerate(elements):
        tasks += [(element, label, s) for label, s in _candidates(element, seed=i)]
    print(f"  {len(tasks)} candidate structures for {elements}", flush=True)
    with ProcessPoolExecutor(jobs) as pool:
        results = list(pool.map(_element_task, tasks))
    path.write_text(json.dumps(results, indent=1))
    return results


# -- hull --------------------------------------------------------------------------------------


def hull_distances(rows: list[dict]) -> dict[str, float]:
    """E above hull (eV/atom) of each row within its own chemical system."""
    from pymatgen.analysis.phase_diagram import PDEntry, PhaseDiagram
    from pymatgen.core import Composition

    entries = [PDEntry(Composition(r["formula"]), r["energy_per_atom"] * r["n_atoms"],
                       name=r["material_id"]) for r in rows]
    by_system = collections.defaultdict(list)
    for entry in entries:
        by_system[frozenset(e.symbol for e in entry.composition.elements)].append(entry)
    distances = {}
    for system in sorted(by_system, key=len):
        members = [e for s, group in by_system.items() if s <= system for e in group]
        diagram = PhaseDiagram(members)
        for entry in by_system[system]:
            distances[entry.name] = diagram.get_e_above_hull(entry, allow_negative=True)
    return distances


# -- main --------------------------------------------------------------------------------------


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", default=str(SOURCE))
    parser.add_argument("--work", default="/tmp/chgnet_reference")
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--relax-window", type=float, default=0.15,
                        help="relax crystals within this distance of the single-point hull")
    parser.add_argument("--relax-limit", type=int, default=None,
                        help="relax only the first N of them (by material id); the others "
                        "keep their single-point energy")
    args = parser.parse_args()
    work = Path(args.work)
    work.mkdir(parents=True, exist_ok=True)
    timings = {}

    start = time.perf_counter()
    records = read_source(Path(args.source))
    print(f"{len(records)} crystals inside the {len(PAPER_ELEMENTS)} elements", flush=True)

    print("stage 1: single points", flush=True)
    t = time.perf_counter()
    single = compute_energies(records, work / "single_point.jsonl", 0.1, 0, args.jobs)
    timings["single_point_seconds"] = time.perf_counter() - t
    # the cost of the computation itself, also when it was cached by an earlier call
    timings["single_point_core_seconds"] = sum(r["seconds"] for r in single.values())

    present = {r["formula"].split()[0].rstrip("0123456789") for r in single.values()
               if len(re.findall(r"[A-Z][a-z]?", r["formula"])) == 1}
    missing = [e for e in PAPER_ELEMENTS if e not in present]
    print(f"stage 2: elemental searches for {missing}", flush=True)
    t = time.perf_counter()
    found = search_elements(missing, work / "elements.json", args.jobs)
    timings["element_search_seconds"] = time.perf_counter() - t
    element_rows = []
    for element in missing:
        ok = [r for r in found if r["element"] == element and "energy_per_atom" in r]
        best = min(ok, key=lambda r: r["energy_per_atom"])
        print(f"  {element}: {best['label']} {best['energy_per_atom']:.4f} eV/atom "
              f"({len(ok)} candidates, converged {best['converged']})", flush=True)
        element_rows.append({
            "material_id": f"chgnet-search-{element}", "formula": f"{element}{best['n_atoms']}",
            "n_atoms": best["n_atoms"], "energy_per_atom": best["energy_per_atom"],
            "source": f"CHGNet search: {best['label']}", "steps": best["steps"],
            "relaxed": 1, "dft_formation_energy": "",
        })

    rows = [dict(r, source="Materials Project", relaxed=0) for r in single.values()]
    print("stage 3: relaxing crystals near the single-point hull", flush=True)
    distances = hull_distances(rows + element_rows)
    near = [r for r in records if distances[r["material_id"]] <= args.relax_window]
    print(f"  {len(near)} crystals within {args.relax_window} eV/atom of the hull", flush=True)
    near = near[: args.relax_limit]
    t = time.perf_counter()
    relaxed = compute_energies(near, work / "relaxed.jsonl", 0.1, 100, args.jobs)
    wanted = {r["material_id"] for r in near}
    relaxed = {key: row for key, row in relaxed.items() if key in wanted}
    timings["relax_seconds"] = time.perf_counter() - t
    timings["relax_core_seconds"] = sum(r["seconds"] for r in relaxed.values())
    gains = []
    for row in rows:
        better = relaxed.get(row["material_id"])
        if better:
            gains.append(row["energy_per_atom"] - better["energy_per_atom"])
            row.update(energy_per_atom=better["energy_per_atom"], steps=better["steps"],
                       relaxed=1)
    dft = {r["material_id"]: r["dft_formation_energy"] for r in records}
    for row in rows:
        row["dft_formation_energy"] = dft[row["material_id"]]

    write_outputs(records, rows + element_rows, found, gains, timings,
                  time.perf_counter() - start, args)


def write_outputs(records, rows, found, gains, timings, total_seconds, args) -> None:
    import chgnet
    import pymatgen.core
    import torch

    DATA.mkdir(parents=True, exist_ok=True)
    columns = ["material_id", "formula", "n_atoms", "energy_per_atom", "source", "relaxed",
               "steps", "dft_formation_energy"]
    text = io.StringIO()
    writer = csv.DictWriter(text, fieldnames=columns, extrasaction="ignore",
                            lineterminator="\n")
    writer.writeheader()
    for row in sorted(rows, key=lambda r: r["material_id"]):
        writer.writerow({**row, "energy_per_atom": f"{row['energy_per_atom']:.6f}"})
    with gzip.GzipFile(DATA / "chgnet_reference.csv.gz", "wb", mtime=0) as stream:
        stream.write(text.getvalue().encode())

    lines = []
    for record in records:
        structure = structure_of(record["cif"])
        lines.append(json.dumps({
            "material_id": record["material_id"],
            "lattice": [[round(x, 5) for x in v] for v in structure.lattice.matrix.tolist()],
            "species": [site.specie.symbol for site in structure],
            "frac": [[round(x, 5) for x in site.frac_coords.tolist()] for site in structure],
        }, separators=(",", ":")))
    with gzip.GzipFile(DATA / "mp_structures.jsonl.gz", "wb", mtime=0) as stream:
        stream.write(("\n".join(lines) + "\n").encode())

    provenance = {
        "potential": "CHGNet 0.3.0",
        "versions": {"chgnet": chgnet.__version__, "pymatgen": pymatgen.core.__version__,
                     "torch": torch.__version__},
        "source": "Materials Project (legacy, ~2018) as distributed with MT-CGCNN, GitHub "
                  "kdmsit/mt-cgcnn commit bdfaf106c3bcc7d49f543da7eabc5fed4fb733b3 "
                  "(CC BY 4.0; Jain et al. 2013, Sanyal et al. 2018); 5% of the crystals "
                  "withheld from this copy",
        "elements": PAPER_ELEMENTS,
        "n_materials_project": len(records),
        "n_relaxed": sum(int(r["relaxed"]) for r in rows),
        "relax_window_ev_per_atom": args.relax_window,
        "relax_limit": args.relax_limit,
        "single_point": "CHGNet energy of the published (DFT-relaxed) structure",
        "relaxation": "FIRE with FrechetCellFilter, fmax 0.1 eV/A, <= 100 steps",
        "max_relaxation_gain_ev_per_atom": max(gains) if gains else 0.0,
        "median_relaxation_gain_ev_per_atom": sorted(gains)[len(gains) // 2] if gains else 0.0,
        "element_search": {
            "how": "diatomic molecular crystals (H, O, F), trigonal chains (S, Se) and "
                   f"{RANDOM_TRIALS} pyxtal random crystals per element, relaxed with fmax "
                   "0.05 eV/A, <= 400 steps; the lowest kept",
            "candidates": found,
        },
        "timings_seconds": {**timings, "total": total_seconds, "jobs": args.jobs},
    }
    (DATA / "chgnet_reference.json").write_text(json.dumps(provenance, indent=1) + "\n")
    print(f"wrote {len(rows)} entries to {DATA}", flush=True)


if __name__ == "__main__":
    os.environ.setdefault("HF_HUB_OFFLINE", "1")
    main()
