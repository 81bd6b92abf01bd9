"""Exact density (g/cm³) proxy for Crystal-GFN."""

from crystalgfn_density.proxy import Density, cell_volume, density

__all__ = ["Density", "cell_volume", "density"]
__version__ = "0.1.0"
