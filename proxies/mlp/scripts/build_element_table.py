"""Write ``src/crystalgfn_mlp/data/element_properties.json``: per-element descriptors
used by the featuriser (composition-weighted statistics).

Source: ``pymatgen.core.Element`` (values from pymatgen's periodic-table data). Missing
values (noble-gas electronegativities, radii of heavy elements …) are filled with the median
of the known values of the same property and flagged in ``filled``.

Run: ``python scripts/build_element_table.py`` (needs pymatgen; run once, output is shipped).
"""

from __future__ import annotations

import json
import math
import warnings
from pathlib import Path

from pymatgen.core import Element

PROPERTIES = ["row", "group", "electronegativity", "atomic_radius", "mendeleev_number", "block"]
BLOCKS = {"s": 0, "p": 1, "d": 2, "f": 3}


def value(element: Element, prop: str):
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        if prop == "row":
            return element.row
        if prop == "group":
            return element.group
        if prop == "electronegativity":
            x = element.X
            return None if x is None or math.isnan(x) else float(x)
        if prop == "atomic_radius":
            r = element.atomic_radius
            return None if r is None else float(r)
        if prop == "mendeleev_number":
            return element.mendeleev_no
        if prop == "block":
            return BLOCKS.get(element.block)
    raise KeyError(prop)


def main() -> None:
    table = {p: [] for p in PROPERTIES}
    filled = {p: [] for p in PROPERTIES}
    for z in range(1, 119):
        element = Element.from_Z(z)
        for p in PROPERTIES:
            table[p].append(value(element, p))
    for p in PROPERTIES:
        known = sorted(v for v in table[p] if v is not None)
        median = known[len(known) // 2]
        for i, v in enumerate(table[p]):
            if v is None:
                table[p][i] = median
                filled[p].append(i + 1)
    out = {
        "description": "Element descriptors indexed by Z (list index 0 is Z=1). "
                       "Source: pymatgen.core.Element; missing values filled with the "
                       "property's median (Z listed under 'filled').",
        "properties": PROPERTIES,
        "values": {p: [float(v) for v in table[p]] for p in PROPERTIES},
        "filled": filled,
    }
    path = Path(__file__).resolve().parents[1] / "src/crystalgfn_mlp/data/element_properties.json"
    path.write_text(json.dumps(out, indent=0) + "\n")
    print(f"wrote {path}")


if __name__ == "__main__":
    main()
