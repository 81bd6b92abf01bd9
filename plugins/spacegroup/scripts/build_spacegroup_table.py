"""Build ``crystalgfn_spacegroup/data/spacegroups.json`` (developer tool).

Generates a table of crystallographic facts for the 230 space groups using
pyxtal (and its pymatgen symmetry operations) as the data source:

* number, Hermann-Mauguin symbol, point-group symbol, crystal system;
* the Crystal-GFN "crystal-lattice system" (8 classes; rhombohedral R groups
  split from the other trigonal groups);
* the point-symmetry class (5 classes), *derived from the symmetry operations*
  of the general position (inversion present? only proper rotations? a common
  invariant direction?), not looked up from a name table;
* the Wyckoff positions of the standard (conventional) setting used by pyxtal:
  letter, multiplicity (per conventional cell), degrees of freedom, free flag.

Consistency checks (the script aborts on failure): crystal system against the
international-number ranges, the degrees of freedom against the rank of each
position's representative operation, each multiplicity against the orbit size
of a generic point of the position under the general-position operations, and
the Wyckoff letters against the contiguous a, b, c, ... sequence.

Usage::

    python plugins/spacegroup/scripts/build_spacegroup_table.py [--out PATH]

Runtime code never imports pyxtal; only this script does.
"""

from __future__ import annotations

import argparse
import importlib.metadata
import json
import string
import sys
from pathlib import Path

import numpy as np
from crystalgfn.parts import CRYSTAL_SYSTEMS, LATTICE_SYSTEMS

POINT_SYMMETRIES = (
    "centrosymmetric",
    "non-centrosymmetric",
    "enantiomorphic",
    "polar",
    "enantiomorphic-polar",
)
RHOMBOHEDRAL_GROUPS = frozenset({146, 148, 155, 160, 161, 166, 167})
# Last international number of each crystal system (ITA ranges).
CRYSTAL_SYSTEM_LAST_NUMBER = (2, 15, 74, 142, 167, 194, 230)

DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "crystalgfn_spacegroup"
    / "data"
    / "spacegroups.json"
)


def crystal_system_from_number(number: int) -> str:
    """Crystal system of an international number from the ITA number ranges."""
    for name, last in zip(CRYSTAL_SYSTEMS, CRYSTAL_SYSTEM_LAST_NUMBER, strict=True):
        if number <= last:
            return name
    raise ValueError(f"space group number {number} is not in 1..230")


def point_symmetry_from_rotations(rotations: list[np.ndarray]) -> str:
    """Classify a point group given its rotation matrices (any basis).

    centrosymmetric: contains -1; enantiomorphic: only proper operations
    (det = +1); polar: the operations share a non-zero invariant vector.
    """
    identity = np.eye(3)
    centro = any(np.allclose(r, -identity) for r in rotations)
    chiral = all(np.linalg.det(r) > 0 for r in rotations)
    stacked = np.vstack([r - identity for r in rotations])
    polar = np.linalg.matrix_rank(stacked, tol=1e-8) < 3
    if centro:
        return "centrosymmetric"
    if chiral and polar:
        return "enantiomorphic-polar"
    if chiral:
        return "enantiomorphic"
    if polar:
        return "polar"
    return "non-centrosymmetric"


def build_row(number: int) -> dict:
    """All table fields for one space group (pyxtal ``Group`` as source)."""
    from pyxtal.symmetry import Group

    group = Group(number)
    crystal_system = crystal_system_from_number(number)
    if group.lattice_type != crystal_system:
        raise RuntimeError(
            f"{number}: pyxtal says {group.lattice_type}, ranges say {crystal_system}"
        )
    if crystal_system == "trigonal":
        lattice_system = (
            "trigonal-rhombohedral" if number in RHOMBOHEDRAL_GROUPS else "trigonal-hexagonal"
        )
    else:
        lattice_system = crystal_system
    if (lattice_system == "trigonal-rhombohedral") != group.symbol.startswith("R"):
        raise RuntimeError(f"{number}: rhombohedral list inconsistent with symbol {group.symbol}")

    general = group.Wyckoff_positions[0]
    rotations = [np.asarray(op.rotation_matrix, dtype=float) for op in general.ops]
    point_symmetry = point_symmetry_from_rotations(rotations)

    translations = np.array([op.translation_vector for op in general.ops], dtype=float)
    rng = np.random.default_rng(number)
    positions = []
    for wp in group.Wyckoff_positions:
        dof = int(wp.get_dof())
        rank = int(np.linalg.matrix_rank(np.asarray(wp.ops[0].rotation_matrix, dtype=float)))
        if dof != rank:
            raise RuntimeError(f"{number}{wp.letter}: get_dof()={dof} but operation rank={rank}")
        # Orbit of a generic point of the position under the general-position
        # operations (conventional cell, centring included) must have
        # `multiplicity` distinct sites.
        site = np.asarray(wp.ops[0].operate(rng.random(3)), dtype=float)
        images = np.round((np.stack(rotations) @ site + translations) % 1.0, 6) % 1.0
        orbit = {tuple(v) for v in np.round(images, 5)}
        if len(orbit) != wp.multiplicity:
            raise RuntimeError(
                f"{number}{wp.letter}: orbit has {len(orbit)} sites, multiplicity {wp.multiplicity}"
            )
        positions.append(
            {"letter": wp.letter, "multiplicity": int(wp.multiplicity), "dof": dof, "free": dof > 0}
        )
    # pyxtal lists the general position first; store in ITA order a, b, c, ...
    positions.sort(key=lambda p: (p["letter"].isupper(), p["letter"]))
    expected = list(string.ascii_lowercase) + ["A"]
    if [p["letter"] for p in positions] != expected[: len(positions)]:
        raise RuntimeError(
            f"{number}: unexpected Wyckoff letters {[p['letter'] for p in positions]}"
        )

    return {
        "number": number,
        "symbol": group.symbol,
        "crystal_system": crystal_system,
        "lattice_system": lattice_system,
        "point_group": group.point_group,
        "point_symmetry": point_symmetry,
        "wyckoff": positions,
    }


def dump_compact(table: dict) -> str:
    """JSON text with one space group per line (diff-friendly, ~4x smaller than indent)."""
    head = {k: v for k, v in table.items() if k != "space_groups"}
    lines = json.dumps(head, indent=1)[:-2].rstrip() + ',\n "space_groups": [\n'
    rows = [json.dumps(row, separators=(",", ":")) for row in table["space_groups"]]
    return lines + ",\n".join(rows) + "\n ]\n}\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSON path")
    args = parser.parse_args(argv)

    rows = [build_row(n) for n in range(1, 231)]
    # Every point group must map to exactly one class.
    by_pg: dict[str, set[str]] = {}
    for row in rows:
        by_pg.setdefault(row["point_group"], set()).add(row["point_symmetry"])
    if len(by_pg) != 32 or any(len(v) != 1 for v in by_pg.values()):
        raise RuntimeError(f"inconsistent point-group classification: {by_pg}")

    table = {
        "provenance": {
            "generator": "plugins/spacegroup/scripts/build_spacegroup_table.py",
            "source": f"pyxtal {importlib.metadata.version('pyxtal')}",
            "symmetry_operations": f"pymatgen {importlib.metadata.version('pymatgen')}",
            "setting": "ITA standard (conventional cell) setting as tabulated by pyxtal; "
            "multiplicities per conventional cell; R groups in hexagonal axes",
            "point_symmetry": "derived from the general-position rotations: "
            "inversion => centrosymmetric; "
            "only det=+1 => enantiomorphic; common invariant direction => polar",
        },
        "crystal_systems": list(CRYSTAL_SYSTEMS),
        "lattice_systems": list(LATTICE_SYSTEMS),
        "point_symmetries": list(POINT_SYMMETRIES),
        "space_groups": rows,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump_compact(table))
    counts = {name: sum(r["point_symmetry"] == name for r in rows) for name in POINT_SYMMETRIES}
    print(f"wrote {args.out} ({len(rows)} space groups); point symmetries: {counts}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
