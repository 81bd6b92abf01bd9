"""Capabilities that cross-environment constraints need of the environments they couple.

A :class:`crystalgfn.Constraint` declares what it calls on its source and target parts in
``source_needs`` and ``target_needs`` (tuples of the protocols below, or of any
``typing.Protocol``). When :class:`crystalgfn.compose.Stack` composes environments, it checks
each part against those declarations and raises :class:`IncompatibleEnvironmentError` naming
the environment, the constraint and the missing methods, instead of an ``AttributeError`` deep
inside the constraint.

The protocols are structural: an environment has a capability when it has the members, so a
third-party environment needs no import of this module to fit. Environments may still
subclass a protocol to say so (the first-party ones do), which also makes a type checker
verify the signatures.

This module imports no torch, so declaring capabilities stays cheap.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Protocol, runtime_checkable

from crystalgfn.errors import IncompatibleEnvironmentError


@runtime_checkable
class CountLanguageTarget(Protocol):
    """A composition-like environment whose count multisets (the sorted atom counts of its
    elements) can be constrained by labelled languages.

    A constraint builds one bool array per label over :meth:`count_multisets` (which
    multisets the label allows), installs them with :meth:`with_count_languages`, checks
    :meth:`language_feasible`, and puts states under a label with :meth:`with_language`.
    """

    #: Largest count of one element in a multiset.
    max_count: int
    #: Largest number of distinct elements (the length of the longest multiset).
    max_elements: int

    def count_multisets(self) -> list[tuple[int, ...]]:
        """Every count multiset, descending counts, in the order languages are aligned with."""

    def with_count_languages(self, languages: Mapping[int, Any]) -> CountLanguageTarget:
        """A copy that also knows the languages ``label -> bool array over multisets``."""

    def language_feasible(self, label: int) -> bool:
        """Whether some valid object of the environment lies in the language ``label``."""

    def with_language(self, state: Any, labels: Any) -> Any:
        """States at their source placed under the language of each row's label."""


@runtime_checkable
class VolumeBoundTarget(Protocol):
    """A composition-like environment whose finished compositions can be held to bounds on
    their predicted cell volume ``V̂ = Σ_e n_e v_e`` (Å³; ``n_e`` atoms of element ``e``,
    ``v_e`` a volume per atom in Å³), with exact masks.

    A constraint (e.g. from a lattice's length range) reads :meth:`volume_range` and installs
    its bounds with :meth:`with_volume_bounds`.
    """

    def with_volume_bounds(
        self, element_volumes: Mapping[str, float], low: float | None, high: float | None
    ) -> VolumeBoundTarget:
        """A copy whose finished compositions all have ``low <= V̂ <= high`` (Å³; ``None``:
        unbounded on that side); raises ``InfeasibleError`` when no valid one does."""

    def volume_range(self) -> tuple[float, float]:
        """``(min, max)`` of ``V̂`` (Å³) over the valid compositions, before the bounds."""


@runtime_checkable
class LatticeSystemTarget(Protocol):
    """A lattice-like environment whose states can be conditioned on a lattice system (the
    index of the system, as the constraint that sets it and the environment agree on)."""

    def feasible_systems(self) -> Sequence[int]:
        """Indices of the systems possible under the environment's current ranges."""

    def with_systems(self, state: Any, systems: Any) -> Any:
        """States with each row's system set to ``systems`` (int64 ``(B,)``)."""

    def consistent_with_systems(self, values: Mapping[str, Any], systems: Any) -> Any:
        """Bool ``(B,)``: whether each finished value obeys its row's system."""


@runtime_checkable
class GroupChoiceSource(Protocol):
    """An environment choosing one of a finite set of integer-labelled groups (e.g. space
    groups), whose allowed set a constraint can read and narrow."""

    @property
    def groups(self) -> list[int]:
        """The allowed labels, ascending."""

    def with_groups(self, groups: Iterable[int]) -> GroupChoiceSource:
        """A copy restricted to ``groups``."""


def protocol_members(protocol: type) -> tuple[str, ...]:
    """The names an object must have to fit ``protocol``, sorted."""
    members = getattr(protocol, "__protocol_attrs__", None)
    if members is None:  # Python < 3.12
        members = set()
        for klass in protocol.__mro__:
            if klass in (Protocol, object) or not getattr(klass, "_is_protocol", False):
                continue
            members |= {n for n in vars(klass) if not n.startswith("_")}
            members |= set(getattr(klass, "__annotations__", {}))
    return tuple(sorted(members))


def missing_members(obj: object, protocol: type) -> tuple[str, ...]:
    """The members of ``protocol`` that ``obj`` lacks (empty when it fits)."""
    return tuple(name for name in protocol_members(protocol) if not hasattr(obj, name))


def first_line(protocol: type) -> str:
    doc = (protocol.__doc__ or "").strip()
    return " ".join(doc.split("\n\n")[0].split())


def check_constraint_parts(
    constraint: object, label: str, source: object, target: object
) -> None:
    """Raise :class:`IncompatibleEnvironmentError` when ``source`` or ``target`` lacks a
    capability ``constraint`` declares in ``source_needs`` / ``target_needs``.

    ``label`` names the constraint in the message, e.g. ``"spacegroup->composition"``.
    """
    for role, part, needs in (
        ("source", source, getattr(constraint, "source_needs", ())),
        ("target", target, getattr(constraint, "target_needs", ())),
    ):
        for protocol in needs:
            missing = missing_members(part, protocol)
            if not missing:
                continue
            name = getattr(part, "name", type(part).__name__)
            kind = type(part)
            raise IncompatibleEnvironmentError(
                f"environment {name!r} ({kind.__module__}.{kind.__qualname__}) cannot be the "
                f"{role} of the constraint {label} ({type(constraint).__qualname__}): it lacks "
                f"the capability {protocol.__name__} ({first_line(protocol)}); missing: "
                f"{', '.join(missing)}. Implement them, or leave {name!r} out of the stack"
            )
