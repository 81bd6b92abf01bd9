"""Crystal-GFN space-group plugin: space-group tables and Wyckoff-count compatibility.

The names exported here (tables, Wyckoff compatibility) need only numpy and the standard
library; the environment and constraints (:mod:`~crystalgfn_spacegroup.env`,
:mod:`~crystalgfn_spacegroup.constraints`) also need torch. They are imported on first use,
so that loading the plugin (``crystalgfn --help``, ``crystalgfn plugins``) does not import
numpy.
"""

from crystalgfn.lazy import lazy_exports

__all__ = [
    "CRYSTAL_SYSTEMS",
    "LATTICE_SYSTEMS",
    "N_SPACE_GROUPS",
    "POINT_SYMMETRIES",
    "SpaceGroup",
    "WyckoffPosition",
    "WyckoffSignature",
    "all_space_groups",
    "compatibility_table",
    "compatible_count_multisets",
    "crystal_system_of",
    "is_compatible",
    "is_compatible_batch",
    "lattice_system_of",
    "multiset_rank",
    "point_symmetry_of",
    "signature",
    "space_group",
    "wyckoff_assignment",
    "wyckoff_positions",
]

_TABLES = (
    "CRYSTAL_SYSTEMS",
    "LATTICE_SYSTEMS",
    "N_SPACE_GROUPS",
    "POINT_SYMMETRIES",
    "SpaceGroup",
    "WyckoffPosition",
    "all_space_groups",
    "crystal_system_of",
    "lattice_system_of",
    "point_symmetry_of",
    "space_group",
    "wyckoff_positions",
)

__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        name: "crystalgfn_spacegroup." + ("tables" if name in _TABLES else "wyckoff")
        for name in __all__
    },
)
