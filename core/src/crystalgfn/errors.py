"""Exceptions users meet, each with a message that names the bad value and what is accepted."""

from __future__ import annotations

import difflib
from collections.abc import Iterable


class CrystalGFNError(Exception):
    """Base class of every error Crystal-GFN raises on purpose."""


def _suggestions(name: str, available: list[str]) -> list[str]:
    """Close matches of ``name``; a name equal to it but for case is the answer (``fe`` ->
    ``Fe``, which a plain similarity ratio misses for short names)."""
    same = [a for a in available if a.lower() == name.lower() and a != name]
    return same or difflib.get_close_matches(name, available, n=3, cutoff=0.6)


class UnknownNameError(CrystalGFNError, KeyError):
    """A name (environment, proxy, loss, element, ...) that nothing registered.

    It is a ``KeyError`` so that ``except KeyError`` keeps working, but its message is
    readable (``KeyError`` alone would print the repr of its argument). ``listed_as`` words
    the list of accepted names (e.g. ``"Allowed"`` for the elements of a restricted space).
    """

    def __init__(
        self,
        kind: str,
        name: str,
        available: Iterable[str],
        listed_as: str = "Installed",
        failed_plugins: Iterable = (),
    ):
        self.kind = kind
        self.name = name
        self.available = sorted(available)
        self.listed_as = listed_as
        self.suggestions = _suggestions(name, self.available)
        #: plugins that failed to load (``PluginFailure``), any of which may have provided it
        self.failed_plugins = list(failed_plugins)
        super().__init__(self._message())

    @property
    def headline(self) -> str:
        """The message without the list of accepted names or the failed plugins: ``unknown
        KIND 'NAME'.`` and any did-you-mean (for messages that cannot list every name)."""
        text = f"unknown {self.kind} {self.name!r}."
        if self.suggestions:
            text += " Did you mean " + " or ".join(repr(s) for s in self.suggestions) + "?"
        return text

    def _message(self) -> str:
        text = self.headline
        none = f"(none {self.listed_as.lower()})"
        listed = ", ".join(self.available) if self.available else none
        text = f"{text} {self.listed_as} {self.kind} names: {listed}."
        if self.failed_plugins:
            failed = ", ".join(
                f"{f.distribution} ({f.entry_point!r}: {f.error})" for f in self.failed_plugins
            )
            text += (
                f" Note: {len(self.failed_plugins)} plugin(s) failed to load and may provide "
                f"it: {failed}. Run 'crystalgfn plugins' for details."
            )
        return text

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


class IncompatibleEnvironmentError(ConfigError):
    """Environments composed into a stack lack a capability that a cross-environment
    constraint between them needs (see :mod:`crystalgfn.interfaces`)."""


class InfeasibleError(CrystalGFNError, ValueError):
    """A restriction or combination of constraints admits no valid object at all."""


class CheckpointError(CrystalGFNError):
    """A checkpoint file is missing, truncated, unsafe or from an incompatible run."""


class RewardError(CrystalGFNError, ValueError):
    """A proxy gave values its reward cannot use (NaN, infinite, or out of the reward's
    domain), so training cannot continue."""
