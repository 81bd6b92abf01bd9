"""Name → factory tables for each kind of plugin object, with helpful lookup errors.

A factory is registered either as the object itself (a class) or as a ``"module:attribute"``
reference, which is imported the first time the factory is used. References keep listing
plugins (``crystalgfn plugins``, ``--help``) free of heavy imports such as torch.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Iterator

import attrs

from crystalgfn.errors import DuplicateNameError, PluginLoadError, UnknownNameError

#: Distribution name recorded for objects registered from a running session (e.g. a notebook).
SESSION_DISTRIBUTION = "(session)"


def is_reference(factory: object) -> bool:
    """Whether ``factory`` is a lazy ``"module:attribute"`` reference."""
    return isinstance(factory, str)


def resolve_reference(reference: str, *, what: str, distribution: str) -> Callable:
    """Import the object a ``"module:attribute"`` reference names.

    Raises :class:`PluginLoadError` naming ``what`` and ``distribution`` when the reference is
    malformed or its import fails, so a broken plugin is reported as such, not as a traceback.
    """
    module_name, sep, attribute = reference.partition(":")
    if not sep or not module_name or not attribute:
        raise PluginLoadError(
            f"{what} from distribution {distribution!r} is registered as {reference!r}; a "
            "reference must read 'package.module:Attribute'"
        )
    try:
        target: object = importlib.import_module(module_name)
        for part in attribute.split("."):
            target = getattr(target, part)
    except Exception as error:  # any import-time failure of plugin code
        raise PluginLoadError(
            f"{what} from distribution {distribution!r} could not be loaded from "
            f"{reference!r}: {type(error).__name__}: {error}"
        ) from error
    return target  # type: ignore[return-value]


@attrs.frozen
class Preset:
    """The factory of a preset: calling it gives the stack spec the preset stands for."""

    spec: str = attrs.field()

    @spec.validator
    def _check(self, attribute, value):
        if not isinstance(value, str) or not value.strip():
            raise PluginLoadError(
                f"a preset must stand for a non-empty spec string such as 'a+b', got {value!r}"
            )

    def __call__(self) -> str:
        return self.spec


@attrs.define(eq=False)
class Entry:
    """One registered factory and where it came from.

    ``factory`` is imported on first access when it was registered as a reference.
    """

    kind: str
    name: str
    target: Callable | str
    distribution: str
    #: what the registration declared beside the factory (e.g. an environment's
    #: ``"restrictions"``), readable without importing the factory
    details: dict = attrs.field(factory=dict)

    @property
    def factory(self) -> Callable:
        if is_reference(self.target):
            self.target = resolve_reference(
                self.target, what=f"{self.kind} {self.name!r}", distribution=self.distribution
            )
        return self.target

    @property
    def loaded(self) -> bool:
        return not is_reference(self.target)

    def subclass_of(self, base: type) -> type:
        """The factory, checked to be a subclass of ``base`` (for kinds registered as classes
        of a core base class, such as judges and report parts); else a
        :class:`PluginLoadError` naming the entry, its distribution and ``base``."""
        factory = self.factory
        if not (isinstance(factory, type) and issubclass(factory, base)):
            raise PluginLoadError(
                f"{self.kind} {self.name!r} from distribution {self.distribution!r} is "
                f"{factory!r}, not a subclass of {base.__module__}.{base.__qualname__}"
            )
        return factory


@attrs.define
class Registry:
    """All registered factories of one kind (``"environment"``, ``"proxy"``, ``"loss"``).

    ``failures`` is shared with the plugin manager: an unknown name mentions the plugins that
    failed to load, since one of them may be where the name should have come from.
    """

    kind: str
    _entries: dict[str, Entry] = attrs.field(factory=dict)
    failures: list = attrs.field(factory=list)
    #: name -> the later entries that registered it again; using such a name is refused
    conflicts: dict[str, list[Entry]] = attrs.field(factory=dict)

    def add(
        self,
        factory: Callable | str,
        name: str | None = None,
        *,
        distribution: str,
        details: dict | None = None,
    ) -> Entry:
        """Register ``factory`` under ``name`` (default: ``factory.name``).

        ``factory`` may be a ``"module:attribute"`` reference, imported on first use; then
        ``name`` is required. A name already taken is recorded in :attr:`conflicts`, and
        :meth:`get` then refuses it with a :class:`DuplicateNameError` naming both
        distributions.
        """
        if is_reference(factory) and name is None:
            raise PluginLoadError(
                f"{self.kind} {factory!r} from distribution {distribution!r} is registered by "
                "reference, so it needs name=...: register(reference, name='...')"
            )
        if not is_reference(factory) and not callable(factory):
            raise PluginLoadError(
                f"{self.kind} {factory!r} from distribution {distribution!r} is neither a "
                "class (or other callable) nor a 'module:Attribute' reference"
            )
        name = name if name is not None else getattr(factory, "name", None)
        if not isinstance(name, str) or not name:
            raise PluginLoadError(
                f"cannot register {self.kind} {factory!r} from {distribution}: it has no "
                "'name' class attribute and no name=... was given"
            )
        entry = Entry(
            kind=self.kind,
            name=name,
            target=factory,
            distribution=distribution,
            details=dict(details or {}),
        )
        if name in self._entries:
            # Not raised here: one conflict must not break every command (``crystalgfn
            # plugins`` included); the name is refused when it is used.
            self.conflicts.setdefault(name, []).append(entry)
            return entry
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name``; unknown names raise :class:`UnknownNameError`."""
        self.get(name)
        del self._entries[name]

    def remove_distribution(self, distribution: str) -> None:
        """Forget every name ``distribution`` registered (used when its hooks fail)."""
        for name, later in list(self.conflicts.items()):
            later[:] = [e for e in later if e.distribution != distribution]
            if not later:
                del self.conflicts[name]
        for name in [n for n, e in self._entries.items() if e.distribution == distribution]:
            del self._entries[name]
            if name in self.conflicts:  # the next distribution that registered it takes it
                self._entries[name] = self.conflicts[name].pop(0)
                if not self.conflicts[name]:
                    del self.conflicts[name]

    def conflict_message(self, name: str) -> str:
        """Why ``name`` is refused: every distribution that registered it."""
        distributions = [self._entries[name].distribution]
        distributions += [e.distribution for e in self.conflicts[name]]
        listed = " and ".join(repr(d) for d in distributions)
        return (
            f"{self.kind} name {name!r} is registered by {len(distributions)} distributions: "
            f"{listed}. Uninstall all but one, or block the others with "
            "CRYSTALGFN_BLOCK_PLUGINS."
        )

    def get(self, name: str) -> Entry:
        """The entry registered as ``name``, or :class:`UnknownNameError` with a suggestion.

        A name that two distributions registered raises :class:`DuplicateNameError`: which
        one the user meant is theirs to say.
        """
        if name in self.conflicts:
            raise DuplicateNameError(self.conflict_message(name))
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(
                self.kind, name, self._entries, failed_plugins=self.failures
            ) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)
