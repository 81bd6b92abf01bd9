"""Write the small real slice used by the proxy tests (``tests/data`` at the repo root).

* ``mp_slice.csv`` — 200 rows of the converted table: 197 drawn (seed 0) from the *test*
  split of ``crystalgfn_mlp.train.split_ids(seed=0)`` plus mp-22862 (NaCl), mp-149 (Si) and
  mp-1143 (Al2O3), with a ``split`` column;
* ``mp_slice_structures.jsonl`` — 20 of those crystals as ``{"material_id", targets,
  "structure": Structure.as_dict()}`` lines, read from the source CIFs.

    python proxies/mlp/scripts/make_test_slice.py --table /work/cache/mp_table.csv.gz \
        --cifs /work/cache/mp_mtcgcnn/cif --out tests/data
"""

from __future__ import annotations

import argparse
import json
import warnings
from pathlib import Path

import numpy as np
import pandas as pd
from crystalgfn_mlp.train import split_ids

KEEP = ["material_id", "row", "spacegroup_number", "spacegroup_symbol", "crystal_system",
        "conv_composition", "conv_nsites", "conv_a", "conv_b", "conv_c", "conv_alpha",
        "conv_beta", "conv_gamma", "formation_energy_per_atom", "band_gap"]
LANDMARKS = ["mp-22862", "mp-149", "mp-1143"]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--table", required=True)
    parser.add_argument("--cifs", required=True)
    parser.add_argument("--out", required=True)
    parser.add_argument("--n", type=int, default=197)
    parser.add_argument("--n-structures", type=int, default=20)
    args = parser.parse_args()
    frame = pd.read_csv(args.table)
    split = split_ids(frame["material_id"], seed=0)
    where = {i: name for name, ids in split.items() for i in ids}
    frame["split"] = frame["material_id"].map(where)
    rng = np.random.default_rng(0)
    test = frame[frame["split"] == "test"]
    picked = test.iloc[np.sort(rng.choice(len(test), args.n, replace=False))]
    slice_ = pd.concat([frame[frame["material_id"].isin(LANDMARKS)], picked])
    slice_ = slice_.drop_duplicates("material_id")[KEEP + ["split"]]
    for col in ("formation_energy_per_atom", "band_gap"):
        slice_[col] = slice_[col].round(6)
    out = Path(args.out)
    slice_.to_csv(out / "mp_slice.csv", index=False)

    from pymatgen.core import Structure

    rest = slice_.iloc[3:].sample(args.n_structures - 3, random_state=0)
    chosen = pd.concat([slice_.iloc[:3], rest])
    with open(out / "mp_slice_structures.jsonl", "w") as handle:
        for rec in chosen.itertuples(index=False):
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                structure = Structure.from_file(Path(args.cifs) / f"{rec.row}.cif")
            handle.write(json.dumps({
                "material_id": rec.material_id,
                "formation_energy_per_atom": rec.formation_energy_per_atom,
                "band_gap": rec.band_gap,
                "structure": structure.as_dict(),
            }) + "\n")
    print(f"wrote {len(slice_)} rows and {len(chosen)} structures to {out}")


if __name__ == "__main__":
    main()
