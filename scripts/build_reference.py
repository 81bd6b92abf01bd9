"""Rebuild ``data/mp_validation.csv``: the validation split of the Materials Project table in
the format ``crystalgfn sample`` writes, used as the reference of reports.

Development-time script. It reads the converted table (``python -m crystalgfn_mlp.data``
builds it from ``shared/data/mp_mtcgcnn_cifs.tar.gz``; default location
``/work/cache/mp_table.csv.gz``) and the split recorded next to the shipped formation-energy
weights, so the reference is exactly the proxies' validation crystals.

Run: .venv/bin/python scripts/build_reference.py [--table PATH]
"""

from __future__ import annotations

import argparse
import csv
import gzip
import json
import tempfile
from importlib import resources
from pathlib import Path

from crystalgfn.report.reference import reference_from_table
from crystalgfn.table import write_csv

OUT = Path(__file__).resolve().parents[1] / "data" / "mp_validation.csv"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--table", default="/work/cache/mp_table.csv.gz")
    args = parser.parse_args()
    split = json.loads(
        resources.files("crystalgfn_formation_energy").joinpath("weights/split.json").read_text()
    )
    wanted = set(split["val"])
    with gzip.open(args.table, "rt", newline="") as stream:
        reader = csv.DictReader(stream)
        rows = [row for row in reader if row["material_id"] in wanted]
        header = reader.fieldnames
    with tempfile.NamedTemporaryFile("w", suffix=".csv", newline="", delete=False) as temporary:
        writer = csv.DictWriter(temporary, fieldnames=header)
        writer.writeheader()
        writer.writerows(rows)
    columns = {
        "material_id": [row["material_id"] for row in rows],
        **reference_from_table(temporary.name),
    }
    Path(temporary.name).unlink()
    write_csv(OUT, columns)
    print(f"wrote {len(rows)} validation crystals to {OUT}")


if __name__ == "__main__":
    main()
