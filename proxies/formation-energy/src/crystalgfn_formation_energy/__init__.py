"""Formation-energy (eV/atom) proxy for Crystal-GFN: an MLP on space group, composition and
lattice."""

from crystalgfn.lazy import lazy_exports

from crystalgfn_formation_energy._version import __version__

# Imported on first use, so that listing plugins does not import torch.
__getattr__, __dir__ = lazy_exports(
    __name__, {"FormationEnergy": "crystalgfn_formation_energy.proxy"}
)

__all__ = ["__version__", "FormationEnergy"]
