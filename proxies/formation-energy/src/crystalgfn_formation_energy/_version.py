"""The version of the installed ``crystalgfn-formation-energy`` distribution.

Written only in ``proxies/formation-energy/pyproject.toml`` (``version``): this reads it from the
installed distribution's metadata, so that the two cannot differ. Without an installed
distribution (a bare source tree on ``sys.path``) it is ``"0+unknown"``.
"""

from crystalgfn._version import installed_version

__version__ = installed_version("crystalgfn-formation-energy")

__all__ = ["__version__"]
