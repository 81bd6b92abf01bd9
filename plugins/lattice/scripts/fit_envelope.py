"""Fit the plausibility envelope of real crystals.

Writes ``src/crystalgfn_lattice/data/mp2018.json`` and ``mp2018_crystals.npz``.

The envelope has two parts, both fitted on the Materials Project *training* crystals of the
shipped proxies (the split recorded in the formation-energy proxy's ``weights/split.json``;
validation and test crystals are only used to measure coverage):

* per-element volumes ``v_e`` (Å³ per atom) such that a cell's volume is predicted as
  ``V̂ = Σ_e n_e v_e`` (``n_e`` atoms of element ``e`` in the conventional cell), fitted by
  least squares on ``log V − log V̂``; and a window ``[tau_low · V̂, tau_high · V̂]``;
* the largest ratio ``max(a, b, c) / min(a, b, c)`` of conventional lattice lengths.

The window's factors and the ratio are quantiles of the training crystals' residuals, chosen
so that at least 99 % of the training crystals pass both checks, both overall and inside the
paper's 22-element space (≤ 16 atoms per element, ≤ 5 elements); the coverage measured on every
split is written into the file.

Run (the table is the converted Materials Project table written by
``proxies/mlp/scripts/rebuild_ensembles.py``; it is not shipped)::

    python plugins/lattice/scripts/fit_envelope.py --table /work/cache/mp_table.csv.gz
"""

from __future__ import annotations

import argparse
import csv
import gzip
import hashlib
import json
import math
from pathlib import Path

import numpy as np
from scipy.optimize import least_squares

ROOT = Path(__file__).resolve().parents[3]
SPLIT = ROOT / "proxies/formation-energy/src/crystalgfn_formation_energy/weights/split.json"
OUT = Path(__file__).resolve().parents[1] / "src/crystalgfn_lattice/data/mp2018.json"
PAPER_ELEMENTS = "H Li B C N O F Na Mg Al Si P S Cl K V Mn Fe Co Ni Cu Se".split()
#: Elements seen in fewer training crystals than this get no fitted volume (they are not
#: allowed in a plausible space: their volume would be a guess).
MIN_CRYSTALS = 20


def read_table(path: Path) -> list[dict]:
    with gzip.open(path, "rt") as handle:
        rows = list(csv.DictReader(handle))
    out = []
    for row in rows:
        lengths = [float(row[k]) for k in ("conv_a", "conv_b", "conv_c")]
        angles = [math.radians(float(row[k])) for k in ("conv_alpha", "conv_beta", "conv_gamma")]
        c = [math.cos(x) for x in angles]
        factor = 1 - sum(x * x for x in c) + 2 * c[0] * c[1] * c[2]
        if factor <= 0:
            continue
        volume = lengths[0] * lengths[1] * lengths[2] * math.sqrt(factor)
        out.append(
            dict(
                material_id=row["material_id"],
                composition=json.loads(row["conv_composition"]),
                volume=volume,
                ratio=max(lengths) / min(lengths),
            )
        )
    return out


def in_paper_space(composition: dict[str, int]) -> bool:
    """Within the paper's count limits (the elements are checked separately)."""
    return len(composition) <= 5 and max(composition.values()) <= 16


def fit_volumes(rows: list[dict], elements: list[str]) -> np.ndarray:
    index = {e: i for i, e in enumerate(elements)}
    counts = np.zeros((len(rows), len(elements)))
    for r, row in enumerate(rows):
        for e, n in row["composition"].items():
            counts[r, index[e]] = n
    log_v = np.log([row["volume"] for row in rows])
    # Start from a linear fit of the volume per atom on the atomic fractions, then minimise the
    # log residuals (relative errors: a cell of 4 atoms and one of 80 weigh the same).
    fractions = counts / counts.sum(axis=1, keepdims=True)
    per_atom = np.exp(log_v) / counts.sum(axis=1)
    start = np.clip(np.linalg.lstsq(fractions, per_atom, rcond=None)[0], 1.0, None)

    def residuals(log_vol):
        return np.log(counts @ np.exp(log_vol)) - log_v

    def jacobian(log_vol):
        vol = np.exp(log_vol)
        return counts * vol[None, :] / (counts @ vol)[:, None]

    fit = least_squares(residuals, np.log(start), jac=jacobian, method="trf")
    return np.exp(fit.x)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--table", type=Path, default=Path("/work/cache/mp_table.csv.gz"))
    parser.add_argument("--out", type=Path, default=OUT)
    args = parser.parse_args()

    split = json.loads(SPLIT.read_text())
    held_out = {"val": set(split["val"]), "test": set(split["test"])}
    rows = read_table(args.table)
    for row in rows:
        mid = row["material_id"]
        row["split"] = next((k for k, ids in held_out.items() if mid in ids), "train")
    train = [r for r in rows if r["split"] == "train"]

    seen: dict[str, int] = {}
    for row in train:
        for e in row["composition"]:
            seen[e] = seen.get(e, 0) + 1
    elements = sorted((e for e, n in seen.items() if n >= MIN_CRYSTALS), key=lambda e: e)
    fittable = [r for r in train if all(e in elements for e in r["composition"])]
    volumes = fit_volumes(fittable, elements)
    v_of = dict(zip(elements, volumes.tolist(), strict=True))

    def log_residual(row):
        predicted = sum(n * v_of[e] for e, n in row["composition"].items())
        return math.log(row["volume"] / predicted)

    residual = np.array([log_residual(r) for r in fittable])
    ratios = np.array([r["ratio"] for r in fittable])
    element_index = {e: i for i, e in enumerate(elements)}
    members = np.zeros((len(fittable), len(elements)), dtype=bool)
    for i, row in enumerate(fittable):
        members[i, [element_index[e] for e in row["composition"]]] = True
    crystals = dict(
        elements=np.array(elements),
        members=np.packbits(members, axis=1),
        log_residual=residual,
        length_ratio=ratios,
    )

    # The window factors and the ratio depend on the element set (light-element crystals
    # scatter more about the additive volumes): the environment computes them for its own
    # elements from these training crystals (crystalgfn_lattice.envelope); the coverage below
    # uses the same code.
    from crystalgfn_lattice.envelope import Envelope

    envelope = Envelope(v_of, crystals)
    coverage = {}
    for space, allowed in (("all", elements), ("paper_22_elements", PAPER_ELEMENTS)):
        window = envelope.window(allowed)
        coverage[space] = {"fitted_on": window.crystals, "tau_low": round(window.tau_low, 5),
                           "tau_high": round(window.tau_high, 5),
                           "max_length_ratio": round(window.max_length_ratio, 4)}
        # "Inside the element set" is by elements only; the paper space's count limits
        # (<= 16 atoms per element, <= 5 elements) are reported beside it, not enforced.
        def inside(row, allowed=frozenset(allowed)) -> bool:
            return all(e in allowed for e in row["composition"])

        subsets = {
            "": inside,
            "_within_count_limits": lambda r, inside=inside: inside(r)
            and in_paper_space(r["composition"]),
        }
        for suffix, keep in subsets.items():
            for name in ("train", "val", "test"):
                chosen = [r for r in rows if r["split"] == name and keep(r)]
                passed = [
                    window.contains(r["composition"], r["volume"], r["ratio"]) for r in chosen
                ]
                coverage[space][name + suffix] = {
                    "crystals": len(chosen), "pass": round(sum(passed) / len(chosen), 5)
                }
        if coverage[space]["train"]["pass"] < 0.99:
            raise SystemExit(f"coverage {space} = {coverage[space]} is below 99 %")

    digest = hashlib.sha256(args.table.read_bytes()).hexdigest()
    result = {
        "description": (
            "Plausibility envelope of real crystals (conventional standard cells): per-element "
            "volumes v (angstrom^3 per atom), V_hat = sum_e n_e v_e, window "
            "[tau_low * V_hat, tau_high * V_hat] on the cell volume, and max(a,b,c)/min(a,b,c) "
            "<= max_length_ratio. Fitted by plugins/lattice/scripts/fit_envelope.py."
        ),
        "name": "mp2018",
        "element_volumes": {e: round(v, 4) for e, v in v_of.items()},
        "min_crystals_per_element": MIN_CRYSTALS,
        "coverage": coverage,
        "residual_log_std": round(float(residual.std()), 4),
        "provenance": {
            "data": (
                "Materials Project (legacy, ~2018) crystals of the MT-CGCNN data set "
                "(kdmsit/mt-cgcnn@bdfaf106), converted to conventional standard cells "
                "(spglib symprec 0.1); CC BY 4.0, Jain et al. APL Mater. 1, 011002 (2013)"
            ),
            "table_sha256": digest,
            "split": "proxies/formation-energy/.../weights/split.json (by material_id, seed 0)",
            "fitted_on": f"{len(fittable)} training crystals",
        },
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(result, indent=1) + "\n")
    np.savez_compressed(args.out.with_name(args.out.stem + "_crystals.npz"), **crystals)
    print(json.dumps(coverage, indent=1))


if __name__ == "__main__":
    main()
