"""The share of sampled crystals inside the envelope of real Materials Project crystals.

The envelope is the one issue 13 measured the paper's space with, independent of the
plausible space's own fitted constraints: volume per atom 7.6–68 Å³, density 0.9–20 g/cm³
and max/min lattice length ≤ 19 (the 0.1–99.9th percentiles of real MP crystals). Reads the
``n_atoms``, ``a``, ``b``, ``c``, ``volume`` and ``density`` columns of a samples table
(``crystalgfn sample --out``) and prints one JSON object per table.

Usage::

    python scripts/mp_envelope_share.py runs/experiments/density/samples.csv [more.csv ...]
"""

from __future__ import annotations

import argparse
import csv
import json
import math
import statistics
import sys
from pathlib import Path

VOLUME_PER_ATOM = (7.6, 68.0)  # Å³
DENSITY = (0.9, 20.0)  # g/cm³
MAX_LENGTH_RATIO = 19.0
NEEDED = ("n_atoms", "a", "b", "c", "volume", "density")


def share(path: Path) -> dict:
    """The envelope's pass rates (each test and all three) over the rows of ``path``."""
    with open(path, newline="", encoding="utf-8") as handle:
        rows = list(csv.DictReader(handle))
    if not rows:
        raise SystemExit(f"{path}: no rows")
    missing = [name for name in NEEDED if name not in rows[0]]
    if missing:
        raise SystemExit(f"{path}: no column(s) {missing}; a samples table has {NEEDED}")
    volume_per_atom, density, ratio = [], [], []
    for row in rows:
        lengths = [float(row[x]) for x in "abc"]
        volume_per_atom.append(float(row["volume"]) / float(row["n_atoms"]))
        density.append(float(row["density"]))
        ratio.append(max(lengths) / min(lengths))
    tests = {
        "volume_per_atom": [VOLUME_PER_ATOM[0] <= v <= VOLUME_PER_ATOM[1] for v in volume_per_atom],
        "density": [DENSITY[0] <= d <= DENSITY[1] for d in density],
        "max_min_length": [r <= MAX_LENGTH_RATIO for r in ratio],
    }
    inside = [all(t) for t in zip(*tests.values(), strict=True)]
    n = len(rows)
    return {
        "table": str(path),
        "crystals": n,
        "inside_share": sum(inside) / n,
        "share_per_test": {name: sum(t) / n for name, t in tests.items()},
        "median_volume_per_atom": statistics.median(volume_per_atom),
        "density_range": [min(density), max(density)],
        "max_min_length_over_10": sum(r > 10 for r in ratio) / n,
        "unreadable": sum(not math.isfinite(v) for v in volume_per_atom + density),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("tables", nargs="+", type=Path, help="samples tables (CSV)")
    args = parser.parse_args(argv)
    for path in args.tables:
        print(json.dumps(share(path)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
