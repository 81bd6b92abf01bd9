"""Shared code of the Crystal-GFN MLP proxies: featurisation, model, proxy base class,
data conversion/loading and training (``python -m crystalgfn_mlp.train``)."""

from crystalgfn_mlp._version import __version__
from crystalgfn_mlp.features import DENSE_NAMES, Features, featurize
from crystalgfn_mlp.model import CrystalMLP
from crystalgfn_mlp.proxy import MLPProxy, UnsupportedElementError

__all__ = ["CrystalMLP", "DENSE_NAMES", "Features", "MLPProxy", "UnsupportedElementError",
           "__version__", "featurize"]
