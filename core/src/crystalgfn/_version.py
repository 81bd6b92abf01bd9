"""The version of the installed ``crystalgfn`` distribution.

Written only in ``core/pyproject.toml`` (``version``): this reads it from the
installed distribution's metadata, so that the two cannot differ. Without an installed
distribution (a bare source tree on ``sys.path``) it is ``"0+unknown"``.
"""

from importlib.metadata import PackageNotFoundError, version

try:
    __version__ = version("crystalgfn")
except PackageNotFoundError:  # not installed: running from a source tree
    __version__ = "0+unknown"

__all__ = ["__version__"]
