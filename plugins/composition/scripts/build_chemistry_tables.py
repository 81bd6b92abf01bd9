"""Build ``crystalgfn_composition/data/chemistry.json`` (developer tool).

Tabulates, for the elements Z = 1..103:

* symbol and Z;
* atomic mass in g/mol (pymatgen ``Element.atomic_mass``);
* Pauling electronegativity (SMACT ``Element.pauling_eneg``; null if unknown);
* ``is_metal``: membership in SMACT's ``smact.metals`` list;

and named oxidation-state sets (element symbol -> sorted list of ints, null
when the set has no entry for the element):

* ``icsd24``: exactly the states ``smact.screening.smact_validity`` uses by
  default (``oxidation_states_set=None``): the ICSD24 filter with the default
  ``ICSD24FilterConfig`` (recorded under ``provenance``);
* ``icsd24_element``: ``Element.oxidation_states_icsd24``, i.e. what
  ``smact_validity(..., oxidation_states_set="icsd24")`` uses (differs from the
  filtered default for ~40 elements);
* ``smact14``, ``icsd16``, ``pymatgen_sp``: the other built-in SMACT sets of the
  same names.

Usage::

    python plugins/composition/scripts/build_chemistry_tables.py [--out PATH]

Runtime code never imports smact or pymatgen; only this script does.
"""

from __future__ import annotations

import argparse
import dataclasses
import importlib.metadata
import json
import sys
from pathlib import Path

MAX_Z = 103
DEFAULT_OUT = (
    Path(__file__).resolve().parents[1]
    / "src"
    / "crystalgfn_composition"
    / "data"
    / "chemistry.json"
)
ELEMENT_ATTRIBUTE_SETS = {
    "icsd24_element": "oxidation_states_icsd24",
    "smact14": "oxidation_states_smact14",
    "icsd16": "oxidation_states_icsd16",
    "pymatgen_sp": "oxidation_states_sp",
}


def _states(values) -> list[int] | None:
    return None if values is None else sorted(int(v) for v in values)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output JSON path")
    args = parser.parse_args(argv)

    import smact
    from pymatgen.core import Element as PmgElement
    from smact.screening import ICSD24FilterConfig, _get_icsd24_oxidation_dict

    config = ICSD24FilterConfig()
    icsd24 = _get_icsd24_oxidation_dict(
        include_zero=config.include_zero, consensus=config.consensus, commonality=config.commonality
    )

    elements = []
    oxidation_sets: dict[str, dict[str, list[int] | None]] = {"icsd24": {}}
    oxidation_sets.update({name: {} for name in ELEMENT_ATTRIBUTE_SETS})
    for z in range(1, MAX_Z + 1):
        symbol = PmgElement.from_Z(z).symbol
        smact_element = smact.Element(symbol)
        if int(smact_element.number) != z:
            raise RuntimeError(f"Z mismatch for {symbol}: smact says {smact_element.number}")
        eneg = smact_element.pauling_eneg
        elements.append(
            {
                "z": z,
                "symbol": symbol,
                "atomic_mass": float(PmgElement(symbol).atomic_mass),
                "pauling_electronegativity": None if eneg is None else float(eneg),
                "is_metal": symbol in smact.metals,
            }
        )
        oxidation_sets["icsd24"][symbol] = _states(icsd24.get(symbol))
        for name, attribute in ELEMENT_ATTRIBUTE_SETS.items():
            oxidation_sets[name][symbol] = _states(getattr(smact_element, attribute))

    unknown_metals = sorted(set(smact.metals) - {e["symbol"] for e in elements})
    if unknown_metals:
        raise RuntimeError(f"smact.metals has symbols outside Z<=103: {unknown_metals}")

    table = {
        "provenance": {
            "generator": "plugins/composition/scripts/build_chemistry_tables.py",
            "smact": importlib.metadata.version("smact"),
            "pymatgen": importlib.metadata.version("pymatgen"),
            "atomic_mass": "pymatgen Element.atomic_mass (g/mol)",
            "pauling_electronegativity": "smact Element.pauling_eneg (null = unknown)",
            "is_metal": "symbol in smact.metals",
            "icsd24": "smact.screening default: ICSD24OxStatesFilter.filter with ICSD24FilterConfig"
            f"{dataclasses.asdict(config)}",
            "icsd24_element": "smact Element.oxidation_states_icsd24 "
            "(oxidation_states_set='icsd24')",
            "smact14": "smact Element.oxidation_states_smact14",
            "icsd16": "smact Element.oxidation_states_icsd16",
            "pymatgen_sp": "smact Element.oxidation_states_sp",
        },
        "icsd24_filter_config": dataclasses.asdict(config),
        "elements": elements,
        "oxidation_states": oxidation_sets,
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(dump_compact(table))
    print(f"wrote {args.out}: {len(elements)} elements, sets {sorted(oxidation_sets)}")
    return 0


def dump_compact(table: dict) -> str:
    """JSON text with one element / one oxidation-state entry per line."""
    lines = ["{"]
    lines.append(f' "provenance": {json.dumps(table["provenance"], indent=1)},')
    lines.append(f' "icsd24_filter_config": {json.dumps(table["icsd24_filter_config"])},')
    lines.append(' "elements": [')
    rows = [json.dumps(e, separators=(",", ":")) for e in table["elements"]]
    lines.append(",\n".join(rows))
    lines.append(" ],")
    lines.append(' "oxidation_states": {')
    blocks = []
    for name, mapping in table["oxidation_states"].items():
        entries = ",\n".join(
            f"  {json.dumps(sym)}:{json.dumps(states)}" for sym, states in mapping.items()
        )
        blocks.append(f" {json.dumps(name)}: {{\n{entries}\n }}")
    lines.append(",\n".join(blocks))
    lines.append(" }")
    lines.append("}")
    return "\n".join(lines) + "\n"


if __name__ == "__main__":
    sys.exit(main())
