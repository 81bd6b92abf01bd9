"""Band-gap (eV) proxy for Crystal-GFN: an MLP on space group, composition and lattice."""

from crystalgfn_band_gap.proxy import BandGap

__all__ = ["BandGap"]
__version__ = "0.1.0"
