"""Crystal-GFN composition plugin: element data and SMACT-style validity screening.

The names exported here (element data, validity rules) need only numpy and the standard
library; the environment (:mod:`crystalgfn_composition.env`) also needs torch.
"""

from . import chemistry
from .chemistry import *  # noqa: F403 — the package's public names are those of chemistry

__all__ = list(chemistry.__all__)
