"""Package attributes imported on first use (PEP 562), for light ``__init__`` modules.

Every plugin package is imported when Crystal-GFN lists plugins, so a package whose
``__init__`` imports torch, pymatgen or CHGNet makes ``crystalgfn plugins`` slow. With::

    __getattr__, __dir__ = lazy_exports(__name__, {"BandGap": "crystalgfn_band_gap.proxy"})

``import crystalgfn_band_gap`` stays cheap and ``crystalgfn_band_gap.BandGap`` still works.
"""

from __future__ import annotations

import importlib
import sys
from collections.abc import Callable, Mapping


def lazy_exports(
    package: str, exports: Mapping[str, str]
) -> tuple[Callable[[str], object], Callable[[], list[str]]]:
    """``__getattr__`` and ``__dir__`` for ``package``: each name in ``exports`` is imported
    from the module it maps to the first time it is read, then cached in the package."""

    def __getattr__(name: str) -> object:
        module = exports.get(name)
        if module is None:
            raise AttributeError(f"module {package!r} has no attribute {name!r}")
        value = getattr(importlib.import_module(module), name)
        setattr(sys.modules[package], name, value)  # later lookups skip __getattr__
        return value

    def __dir__() -> list[str]:
        return sorted(set(vars(sys.modules[package])) | set(exports))

    return __getattr__, __dir__
