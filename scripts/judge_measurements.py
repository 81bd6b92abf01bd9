"""Measure the judge: calibration on real structures, and the main job's table.

Development-time script (the calibration reads ``shared/data``). Every number comes from a
``crystalgfn evaluate`` run; this script only prepares inputs, runs the command and collects
``summary.json`` files into ``docs/results/judge/measurements.json`` and ``table.md``.

Sets:

* ``real``: N random Materials Project crystals inside the paper's 22 elements, as published
  (CIF files), against their DFT formation energies (calibration);
* ``samples``, ``uniform``, ``validation``: N main-job samples, N uniform-policy samples of the
  same space, N validation crystals inside the 22 elements rebuilt from their parameters;
* ``placements``: the validation subsample judged with K = 1 and K = 3 placements.

Run::

    .venv/bin/python scripts/judge_measurements.py --run RUN_DIR --uniform UNIFORM.csv \
        [--n 50] [--n-real 300] [--n-placements 20] [--jobs 2] [--only real,samples,...]

or collect evaluations that were run already (e.g. by ``scripts/judge_main_job.sh``, whose
folders are ``RUN/judge/{samples,uniform,validation}``), copying their ``evaluation.csv`` and
``summary.json`` next to the table::

    .venv/bin/python scripts/judge_measurements.py --collect RUN/judge \
        --out docs/results/judge_main300
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import random
import re
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

from crystalgfn_composition.env import PAPER_ELEMENTS

ROOT = Path(__file__).resolve().parents[1]
SOURCE = ROOT.parent / "shared" / "data" / "mp_mtcgcnn_cifs.tar.gz"
OUT = ROOT / "docs" / "results" / "judge"
CRYSTALGFN = [sys.executable, "-m", "crystalgfn"]


def evaluate(label: str, source, work: Path, *extra: str) -> dict:
    out = work / label
    command = [*CRYSTALGFN, "evaluate", str(source), "--out", str(out), *extra]
    print("$", " ".join(command), flush=True)
    start = time.perf_counter()
    subprocess.run(command, check=True)
    summary = json.loads((out / "summary.json").read_text())
    summary["wall_seconds"] = time.perf_counter() - start
    summary["command"] = "crystalgfn evaluate " + " ".join(
        [Path(source).name if Path(source).is_file() else str(source), *extra])
    return summary


def real_structures(n: int, seed: int, folder: Path) -> dict[str, float]:
    """Write ``n`` random published MP CIFs inside the 22 elements to ``folder``; return
    their DFT formation energies by file name."""
    allowed = set(PAPER_ELEMENTS)
    cifs, energies, ids = {}, {}, {}
    with tarfile.open(SOURCE) as archive:
        for member in archive:
            if not member.isfile():
                continue
            text = archive.extractfile(member).read().decode()
            if member.name.endswith("id_prop.csv"):
                energies = {line.split(",")[0]: float(line.split(",")[1]) for line in text.split()}
            elif member.name.endswith("material_id_hash.csv"):
                ids = dict(line.split(",")[:2] for line in text.split())
            elif member.name.endswith(".cif"):
                formula = re.search(r"_chemical_formula_sum\s+'?([^'\n]+)'?", text).group(1)
                if set(re.findall(r"[A-Z][a-z]?", formula)) <= allowed:
                    cifs[Path(member.name).stem] = text
    chosen = random.Random(seed).sample(sorted(cifs), n)
    folder.mkdir(parents=True, exist_ok=True)
    dft = {}
    for row in chosen:
        name = f"{ids[row]}.cif"
        (folder / name).write_text(cifs[row])
        dft[name] = energies[row]
    return dft


def calibration(summary: dict, evaluation_csv: Path, dft: dict[str, float]) -> dict:
    with open(evaluation_csv, newline="") as stream:
        rows = [r for r in csv.DictReader(stream) if r["formation_energy_per_atom"]]
    pairs = [(dft[r["input"]], float(r["formation_energy_per_atom"])) for r in rows]
    errors = [abs(a - b) for a, b in pairs]
    return {
        "n_pairs": len(pairs),
        "formation_energy_mae_vs_dft": statistics.fmean(errors),
        "formation_energy_median_abs_error": statistics.median(errors),
        "mean_difference_oracle_minus_dft": statistics.fmean(b - a for a, b in pairs),
        "share_within_0.15": sum(e <= 0.15 for e in errors) / len(errors),
    }


def table(results: dict) -> str:
    labels = [k for k in ("samples", "uniform", "validation", "real") if k in results]
    names = {"samples": "main-job samples", "uniform": "uniform policy",
             "validation": "validation crystals, rebuilt", "real": "real MP structures"}
    lines = ["| | " + " | ".join(names[k] for k in labels) + " |",
             "|---|" + "---|" * len(labels)]

    def fmt(value, percent=False):
        if value is None:
            return "—"
        return f"{100 * value:.1f} %" if percent else f"{value:.3f}"

    rows = [
        ("inputs", lambda s: str(s["n"])),
        ("built", lambda s: fmt(s["rates"]["built"], True)),
        ("relaxed", lambda s: fmt(s["rates"]["relaxed"], True)),
        ("converged (of relaxed)", lambda s: fmt(s["rates_of_relaxed"]["converged"], True)),
        ("input E_f median (proxy; DFT for MP)",
         lambda s: fmt(s["medians"]["proxy_formation_energy"])),
        ("judge E_f median, relaxed", lambda s: fmt(s["medians"]["formation_energy_per_atom"])),
        ("E_hull median", lambda s: fmt(s["medians"]["e_above_hull"])),
        ("input vs judge MAE", lambda s: fmt(s["proxy_vs_oracle"]["mae"])),
        ("stable, E_hull ≤ 0.1 (of inputs)", lambda s: fmt(s["rates"]["stable"], True)),
        ("stable (of relaxed)", lambda s: fmt(s["rates_of_relaxed"]["stable"], True)),
        ("S.U.N. (of inputs)", lambda s: fmt(s["rates"]["sun"], True)),
        ("symmetry kept (of relaxed)", lambda s: fmt(s["rates_of_relaxed"]["symmetry_kept"], True)),
        ("seconds per input (1 core)", lambda s: fmt(s["seconds_per_input"]["mean"])),
    ]
    for name, get in rows:
        lines.append(f"| {name} | " + " | ".join(get(results[k]) for k in labels) + " |")
    return "\n".join(lines) + "\n"


def collect(work: Path, out: Path) -> None:
    """Summaries, rows and the table of the finished evaluations ``work/<set>``."""
    results = {}
    for label in ("samples", "uniform", "validation", "real"):
        folder = work / label
        if not (folder / "summary.json").exists():
            continue
        results[label] = json.loads((folder / "summary.json").read_text())
        (out / label).mkdir(parents=True, exist_ok=True)
        for name in ("summary.json", "evaluation.csv", "settings.json"):
            (out / label / name).write_bytes((folder / name).read_bytes())
    if not results:
        raise SystemExit(f"no finished evaluation (summary.json) under {work}")
    (out / "table.md").write_text(table(results) + "\n" + scale_table(out, list(results)))
    print((out / "table.md").read_text())


def wilson(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The 95 % Wilson score interval of a rate ``successes / n``."""
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * (p * (1 - p) / n + z * z / (4 * n * n)) ** 0.5 / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def scale_table(out: Path, labels: list[str]) -> str:
    """What a few hundred rows add: intervals on the stable share, and the input-vs-judge
    error on converged relaxations only (an unconverged one is scored where it stopped)."""
    lines = ["| | " + " | ".join(labels) + " |", "|---|" + "---|" * len(labels)]
    cells = {"stable": [], "converged": [], "mae_converged": [], "judge_converged": []}
    for label in labels:
        with (out / label / "evaluation.csv").open() as stream:
            rows = list(csv.DictReader(stream))
        stable = sum(row["stable"] == "1" for row in rows)
        low, high = wilson(stable, len(rows))
        cells["stable"].append(f"{stable} of {len(rows)} ({100 * low:.1f}–{100 * high:.1f} %)")
        done = [row for row in rows if row["converged"] == "1" and row["formation_energy_per_atom"]]
        cells["converged"].append(str(len(done)))
        pairs = [(float(row["formation_energy_per_atom"]), float(row["proxy_formation_energy"]))
                 for row in done if row["proxy_formation_energy"]]
        cells["mae_converged"].append(
            f"{statistics.fmean(abs(a - b) for a, b in pairs):.3f}" if pairs else "—")
        cells["judge_converged"].append(
            f"{statistics.median(float(r['formation_energy_per_atom']) for r in done):.3f}"
            if done else "—")
    names = {"stable": "stable, E_hull ≤ 0.1 (95 % Wilson interval)",
             "converged": "converged and scored",
             "mae_converged": "input vs judge MAE, converged only",
             "judge_converged": "judge E_f median, converged only"}
    for key, name in names.items():
        lines.append(f"| {name} | " + " | ".join(cells[key]) + " |")
    return "\n".join(lines) + "\n"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", help="trained run whose samples.csv is judged")
    parser.add_argument("--uniform", help="uniform-policy samples CSV")
    parser.add_argument("--n", type=int, default=50)
    parser.add_argument("--n-real", type=int, default=300)
    parser.add_argument("--n-placements", type=int, default=20)
    parser.add_argument("--jobs", type=int, default=2)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--work", default=None, help="folder of the evaluations (kept)")
    parser.add_argument("--only", default="real,samples,uniform,validation,placements")
    parser.add_argument("--collect", help="folder of finished evaluations to collect")
    parser.add_argument("--out", default=str(OUT), help="where the table and files go")
    args = parser.parse_args()
    if args.collect:
        collect(Path(args.collect), Path(args.out))
        return
    work = Path(args.work or tempfile.mkdtemp(prefix="judge_"))
    OUT.mkdir(parents=True, exist_ok=True)
    results_path = OUT / "measurements.json"
    results = json.loads(results_path.read_text()) if results_path.exists() else {}
    common = ["--jobs", str(args.jobs), "--seed", str(args.seed)]
    elements = ["--elements", ",".join(PAPER_ELEMENTS)]
    wanted = args.only.split(",")
    load = os.getloadavg()
    if "real" in wanted:
        dft = real_structures(args.n_real, args.seed, work / "real_cifs")
        summary = evaluate("real", work / "real_cifs", work, *common)
        summary["calibration"] = calibration(summary, work / "real" / "evaluation.csv", dft)
        results["real"] = summary
    if "samples" in wanted:
        results["samples"] = evaluate("samples", Path(args.run) / "samples.csv", work,
                                      "--n", str(args.n), *common)
    if "uniform" in wanted:
        results["uniform"] = evaluate("uniform", args.uniform, work, "--n", str(args.n), *common)
    if "validation" in wanted:
        results["validation"] = evaluate("validation", ROOT / "data" / "mp_validation.csv", work,
                                         "--n", str(args.n), *elements, *common)
    if "placements" in wanted:
        for k in (1, 3):
            results[f"validation_k{k}"] = evaluate(
                f"validation_k{k}", ROOT / "data" / "mp_validation.csv", work,
                "--n", str(args.n_placements), "--placements", str(k), *elements, *common)
    results["machine"] = {"cores": os.cpu_count(), "load_average_at_start": load,
                          "load_average_at_end": os.getloadavg()}
    results_path.write_text(json.dumps(results, indent=1) + "\n")
    (OUT / "table.md").write_text(table(results))
    print((OUT / "table.md").read_text())
    print(f"evaluations kept in {work}")


if __name__ == "__main__":
    main()
