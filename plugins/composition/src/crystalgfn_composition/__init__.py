"""Crystal-GFN composition plugin: element data and SMACT-style validity screening.

Runtime dependencies: numpy and the standard library.
"""

from . import chemistry
from .chemistry import *  # noqa: F403 — the package's public names are those of chemistry

__all__ = list(chemistry.__all__)
