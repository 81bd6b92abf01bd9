"""Crystal-GFN composition plugin: element data and SMACT-style validity screening.

The names exported here (element data, validity rules, those of :mod:`.chemistry`) need only
numpy and the standard library; the environment (:mod:`crystalgfn_composition.env`) also
needs torch. They are imported on first use, so that loading the plugin (``crystalgfn
--help``, ``crystalgfn plugins``) does not import numpy.
"""

from crystalgfn.lazy import lazy_exports

#: The public names of :mod:`crystalgfn_composition.chemistry` (a test keeps them equal).
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

__getattr__, __dir__ = lazy_exports(
    __name__, {name: "crystalgfn_composition.chemistry" for name in __all__}
)
