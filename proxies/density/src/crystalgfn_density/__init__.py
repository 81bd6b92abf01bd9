"""Exact density (g/cm³) proxy for Crystal-GFN."""

from crystalgfn.lazy import lazy_exports

from crystalgfn_density._version import __version__

# Imported on first use, so that listing plugins does not import torch.
__getattr__, __dir__ = lazy_exports(
    __name__,
    {name: "crystalgfn_density.proxy" for name in ("Density", "cell_volume", "density")},
)

__all__ = ["__version__", "Density", "cell_volume", "density"]
