"""Crystal-GFN lattice environment: sample a, b, c (Å) and α, β, γ (degrees) per lattice system.

Registered as ``"lattice"`` through the ``crystalgfn`` entry point. For conditioning on a
space group, use :meth:`LatticeEnv.feasible_systems` and :meth:`LatticeEnv.with_systems`;
for data with known systems, :meth:`LatticeEnv.from_values_with_systems`.
"""

from crystalgfn_lattice.cellmap import ANGLE_MARGIN, CellMap
from crystalgfn_lattice.env import LatticeEnv
from crystalgfn_lattice.systems import LATTICE_SYSTEMS, SPECS, system_index

__version__ = "0.1.0"

__all__ = ["ANGLE_MARGIN", "LATTICE_SYSTEMS", "SPECS", "CellMap", "LatticeEnv", "system_index"]
