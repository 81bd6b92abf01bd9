"""Band-gap (eV) proxy for Crystal-GFN: an MLP on space group, composition and lattice."""

from crystalgfn.lazy import lazy_exports

from crystalgfn_band_gap._version import __version__

# Imported on first use, so that listing plugins does not import torch.
__getattr__, __dir__ = lazy_exports(__name__, {"BandGap": "crystalgfn_band_gap.proxy"})

__all__ = ["__version__", "BandGap"]
