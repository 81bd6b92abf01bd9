"""Formation-energy (eV/atom) proxy for Crystal-GFN: an MLP on space group, composition and lattice."""

from crystalgfn_formation_energy.proxy import FormationEnergy

__all__ = ["FormationEnergy"]
__version__ = "0.1.0"
