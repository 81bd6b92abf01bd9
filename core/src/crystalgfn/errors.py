"""Exceptions users meet, each with a message that names the bad value and what is accepted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CrystalGFNError(Exception):
    """Base class of every error Crystal-GFN raises on purpose."""


class UnknownNameError(CrystalGFNError, KeyError):
    """A name (environment, proxy, loss, element, ...) that nothing registered.

    It is a ``KeyError`` so that ``except KeyError`` keeps working, but its message is
    readable (``KeyError`` alone would print the repr of its argument).
    """

    def __init__(self, kind: str, name: str, available: Iterable[str]):
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        self.suggestions = difflib.get_close_matches(name, self.available, n=3, cutoff=0.6)
        super().__init__(self._message())

    def _message(self) -> str:
        text = f"unknown {self.kind} {self.name!r}."
        if self.suggestions:
            text += " Did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        listed = ", ".join(self.available) if self.available else "(none installed)"
        return f"{text} Installed {self.kind} names: {listed}."

    def __str__(self) -> str:
        return self.args[0]


class DuplicateNameError(CrystalGFNError):
    """Two plugins registered the same name for the same kind of object."""


class PluginLoadError(CrystalGFNError):
    """A plugin could not be imported or its hooks failed."""


class IncompatibleProxyError(CrystalGFNError, ValueError):
    """A proxy reads state parts that the environment it is paired with does not provide."""


class ConfigError(CrystalGFNError, ValueError):
    """A user-supplied setting (keyword argument, config key, flag) is not accepted."""


class InfeasibleError(CrystalGFNError, ValueError):
    """A restriction or combination of constraints admits no valid object at all."""


class CheckpointError(CrystalGFNError):
    """A checkpoint file is missing, truncated or from an incompatible run."""
