"""Rebuild ``crystalgfn/data/elements.json`` (symbols and standard atomic masses).

Development-time script: it needs pymatgen, which Crystal-GFN does not need at run time.
Run ``python core/scripts/build_elements.py`` from the repository root.
"""

import json
from importlib.metadata import version
from pathlib import Path

from pymatgen.core.periodic_table import Element

OUT = Path(__file__).resolve().parents[1] / "src" / "crystalgfn" / "data" / "elements.json"


def main() -> None:
    elements = []
    for z in range(1, 119):
        element = Element.from_Z(z)
        elements.append({"Z": z, "symbol": element.symbol, "mass": float(element.atomic_mass)})
    OUT.write_text(
        json.dumps(
            {
                "provenance": f"pymatgen {version('pymatgen')} Element.atomic_mass (g/mol)",
                "elements": elements,
            },
            indent=1,
        )
        + "\n"
    )
    print(f"wrote {OUT} ({len(elements)} elements)")


if __name__ == "__main__":
    main()
