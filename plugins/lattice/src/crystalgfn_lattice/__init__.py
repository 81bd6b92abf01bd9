"""Crystal-GFN lattice environment: sample a, b, c (Å) and α, β, γ (degrees) per lattice system.

Registered as ``"lattice"`` through the ``crystalgfn`` entry point. For conditioning on a
space group, use :meth:`LatticeEnv.feasible_systems` and :meth:`LatticeEnv.with_systems`;
for data with known systems, :meth:`LatticeEnv.from_values_with_systems`.
"""

from crystalgfn.lazy import lazy_exports

from crystalgfn_lattice._version import __version__

# Imported on first use, so that listing plugins does not import torch.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {
        "ANGLE_MARGIN": "crystalgfn_lattice.cellmap",
        "CellMap": "crystalgfn_lattice.cellmap",
        "LatticeEnv": "crystalgfn_lattice.env",
        "LATTICE_SYSTEMS": "crystalgfn_lattice.systems",
        "SPECS": "crystalgfn_lattice.systems",
        "system_index": "crystalgfn_lattice.systems",
    },
)

__all__ = [
    "__version__",
    "ANGLE_MARGIN",
    "LATTICE_SYSTEMS",
    "SPECS",
    "CellMap",
    "LatticeEnv",
    "system_index",
]
