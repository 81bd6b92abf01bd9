"""Name → factory tables for each kind of plugin object, with helpful lookup errors."""

from __future__ import annotations

from collections.abc import Callable, Iterator

import attrs

from crystalgfn.errors import DuplicateNameError, UnknownNameError

#: Distribution name recorded for objects registered from a running session (e.g. a notebook).
SESSION_DISTRIBUTION = "(session)"


@attrs.frozen
class Entry:
    """One registered factory and where it came from."""

    kind: str
    name: str
    factory: Callable
    distribution: str


@attrs.define
class Registry:
    """All registered factories of one kind (``"environment"``, ``"proxy"``, ``"loss"``)."""

    kind: str
    _entries: dict[str, Entry] = attrs.field(factory=dict)

    def add(self, factory: Callable, name: str | None = None, *, distribution: str) -> Entry:
        """Register ``factory`` under ``name`` (default: ``factory.name``).

        Raises :class:`DuplicateNameError` naming both distributions when the name is taken.
        """
        name = name if name is not None else getattr(factory, "name", None)
        if not isinstance(name, str) or not name:
            raise ValueError(
                f"cannot register {self.kind} {factory!r} from {distribution}: it has no "
                "'name' class attribute and no name=... was given"
            )
        if name in self._entries:
            first = self._entries[name].distribution
            raise DuplicateNameError(
                f"{self.kind} name {name!r} is registered by two distributions: {first!r} and "
                f"{distribution!r}. Uninstall one of them, or block one with "
                "CRYSTALGFN_BLOCK_PLUGINS."
            )
        entry = Entry(kind=self.kind, name=name, factory=factory, distribution=distribution)
        self._entries[name] = entry
        return entry

    def remove(self, name: str) -> None:
        """Forget ``name``; unknown names raise :class:`UnknownNameError`."""
        self.get(name)
        del self._entries[name]

    def get(self, name: str) -> Entry:
        """The entry registered as ``name``, or :class:`UnknownNameError` with a suggestion."""
        try:
            return self._entries[name]
        except KeyError:
            raise UnknownNameError(self.kind, name, self._entries) from None

    def names(self) -> list[str]:
        return sorted(self._entries)

    def __contains__(self, name: object) -> bool:
        return name in self._entries

    def __iter__(self) -> Iterator[Entry]:
        return iter(sorted(self._entries.values(), key=lambda e: e.name))

    def __len__(self) -> int:
        return len(self._entries)
