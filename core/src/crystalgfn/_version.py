"""Versions read from installed metadata: each pyproject.toml is the one place its number is
written, so the code and the distribution cannot disagree."""

from importlib import metadata


def installed_version(distribution: str) -> str:
    """The installed version of ``distribution``; ``"0+unknown"`` when it is not installed
    (a bare source tree on ``sys.path``). Plugins use it for their own ``__version__``."""
    try:
        return metadata.version(distribution)
    except metadata.PackageNotFoundError:
        return "0+unknown"


__version__ = installed_version("crystalgfn")

__all__ = ["__version__", "installed_version"]
