"""Crystal-GFN composition plugin: element data and SMACT-style validity screening.

Runtime dependencies: numpy and the standard library.
"""

from .chemistry import (
    DEFAULT_OXIDATION_STATES,
    MAX_Z,
    ElementChemistry,
    atomic_masses,
    electronegativities,
    element_chemistry,
    elements,
    is_valid_composition,
    metal_flags,
    oxidation_state_set_names,
    oxidation_states_of,
    provenance,
    symbol_to_z,
)

__all__ = [
    "DEFAULT_OXIDATION_STATES",
    "MAX_Z",
    "ElementChemistry",
    "atomic_masses",
    "electronegativities",
    "element_chemistry",
    "elements",
    "is_valid_composition",
    "metal_flags",
    "oxidation_state_set_names",
    "oxidation_states_of",
    "provenance",
    "symbol_to_z",
]
