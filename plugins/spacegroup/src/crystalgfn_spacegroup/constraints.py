"""Cross-environment constraints owned by the space-group plugin.

* ``spacegroup -> lattice``: the lattice parameters follow the group's lattice system.
* ``spacegroup -> composition``: atom counts must be realisable by the group's Wyckoff
  positions (fixed positions used at most once, positions with a free parameter any number
  of times).
* ``composition -> spacegroup``: the reverse order; after the composition, only groups whose
  Wyckoff positions can hold its counts remain.

They talk to the other environments through the protocols of :mod:`crystalgfn.interfaces`
only (:class:`~crystalgfn.interfaces.LatticeSystemTarget` of the lattice environment,
:class:`~crystalgfn.interfaces.CountLanguageTarget` of the composition environment), declared
in each constraint's ``source_needs``/``target_needs`` and checked when a stack is built, so
the plugins do not import each other and any environment with those capabilities fits.
"""

from __future__ import annotations

import numpy as np
import torch
from crystalgfn.env import Constraint, Environment
from crystalgfn.errors import InfeasibleError
from crystalgfn.interfaces import CountLanguageTarget, GroupChoiceSource, LatticeSystemTarget
from crystalgfn.states import State

from crystalgfn_spacegroup.tables import LATTICE_SYSTEMS, lattice_system_of
from crystalgfn_spacegroup.wyckoff import compatibility_table, is_compatible, multiset_rank

#: Largest tables used for batched Wyckoff checks (C(32 + 6, 6) = 2.8M multisets).
TABLE_MAX_COUNT = 32
TABLE_MAX_ELEMENTS = 6


def _no_composition_fits(n_groups: int) -> InfeasibleError:
    return InfeasibleError(
        f"no composition allowed by the composition environment fits the Wyckoff positions of any "
        f"allowed space group ({n_groups} groups)"
    )


def _feasibility_by_group(composition: Environment) -> tuple[np.ndarray, np.ndarray]:
    """Wyckoff feasibility of the composition environment's count multisets.

    Returns ``(table, ranks)``: ``table`` bool ``(231, M)`` over all multisets of the Wyckoff
    tables, and ``ranks`` int64 ``(N,)``: the table column of each of the environment's own
    multisets (padded with zeros for absent elements).
    """
    multisets = composition.count_multisets()
    width = composition.max_elements
    padded = np.array([list(m) + [0] * (width - len(m)) for m in multisets], dtype=np.int64)
    table = compatibility_table(composition.max_count, width)
    return table, multiset_rank(padded, composition.max_count)


def wyckoff_compatible(groups: torch.Tensor, composition: torch.Tensor) -> torch.Tensor:
    """Bool ``(B,)``: the atom counts ``(B, 119)`` fit the Wyckoff positions of ``groups``
    ``(B,)`` (fixed positions at most once, free ones any number of times)."""
    counts = composition.round().long().cpu()
    width = max(int((counts > 0).sum(dim=1).max()), 1)
    top = counts.sort(dim=1, descending=True).values[:, :width]
    max_count = max(int(top.max()), 1)
    if max_count <= TABLE_MAX_COUNT and width <= TABLE_MAX_ELEMENTS:
        table = compatibility_table(max_count, width)
        ranks = multiset_rank(top.numpy(), max_count)
        return torch.from_numpy(table[groups.cpu().numpy(), ranks].copy()).to(composition.device)
    # Large cells (e.g. reference structures): exact search per row instead of a table.
    rows = [
        is_compatible(int(g), [n for n in row if n > 0])
        for g, row in zip(groups.tolist(), top.tolist(), strict=True)
    ]
    return torch.tensor(rows, dtype=torch.bool, device=composition.device)


class SpaceGroupToLattice(Constraint):
    # The lattice system follows from the chosen group alone.
    forgets_source_restriction = True
    source_needs = (GroupChoiceSource,)
    target_needs = (LatticeSystemTarget,)

    def prepare(self, source, target):
        feasible = {LATTICE_SYSTEMS[i] for i in target.feasible_systems()}
        systems = lattice_system_of()
        keep = [g for g in source.groups if LATTICE_SYSTEMS[systems[g]] in feasible]
        if not keep:
            raise InfeasibleError(
                f"no allowed space group has a lattice system possible with the lattice ranges "
                f"(possible systems: {sorted(feasible)})"
            )
        return source.with_groups(keep), target

    def validity(self, source_values, target, target_values):
        systems = torch.from_numpy(lattice_system_of().copy())[source_values["spacegroup"].cpu()]
        systems = systems.to(target_values["lattice"].device)
        return {
            "lattice_system_consistent": target.consistent_with_systems(target_values, systems)
        }

    def apply(self, source_values, target, target_state: State) -> State:
        systems = torch.from_numpy(lattice_system_of().copy()).to(
            source_values["spacegroup"].device
        )
        return target.with_systems(target_state, systems[source_values["spacegroup"]])


class SpaceGroupToComposition(Constraint):
    # The chosen group's Wyckoff language is the same whichever other groups are allowed.
    forgets_source_restriction = True
    source_needs = (GroupChoiceSource,)
    target_needs = (CountLanguageTarget,)

    def prepare(self, source, target):
        table, ranks = _feasibility_by_group(target)
        languages = {g: table[g][ranks] for g in source.groups}
        target = target.with_count_languages(languages)
        keep = [g for g in source.groups if target.language_feasible(g)]
        if not keep:
            raise _no_composition_fits(len(source.groups))
        return source.with_groups(keep), target

    def validity(self, source_values, target, target_values):
        return {
            "wyckoff_compatible": wyckoff_compatible(
                source_values["spacegroup"], target_values["composition"]
            )
        }

    def apply(self, source_values, target, target_state: State) -> State:
        return target.with_language(target_state, source_values["spacegroup"])


class CompositionToSpaceGroup(Constraint):
    """After the composition, only groups whose Wyckoff positions can hold its counts remain.

    :meth:`prepare` returns a new, prepared constraint that holds the Wyckoff table of the
    composition environment; the registered (unprepared) one holds nothing.
    """

    source_needs = (CountLanguageTarget,)
    target_needs = (GroupChoiceSource,)

    #: Language label of "compatible with at least one allowed group".
    ANY_GROUP = 0

    def __init__(
        self, table: torch.Tensor | None = None, max_count: int = 0, width: int = 0
    ) -> None:
        self._table = table
        self._max_count = max_count
        self._width = width

    def prepare(self, source, target):
        table, ranks = _feasibility_by_group(source)
        union = table[target.groups][:, ranks].any(axis=0)
        source = source.with_count_languages({self.ANY_GROUP: union})
        if not source.language_feasible(self.ANY_GROUP):
            raise _no_composition_fits(len(target.groups))
        prepared = CompositionToSpaceGroup(
            torch.from_numpy(table.copy()), source.max_count, source.max_elements
        )
        return source, target, prepared

    def validity(self, source_values, target, target_values):
        return {
            "wyckoff_compatible": wyckoff_compatible(
                target_values["spacegroup"], source_values["composition"]
            )
        }

    def apply(self, source_values, target, target_state: State) -> State:
        if self._table is None:
            raise RuntimeError(
                "CompositionToSpaceGroup.apply needs the constraint returned by prepare()"
            )
        composition = source_values["composition"].round().long()
        counts = composition.sort(dim=1, descending=True).values[:, : self._width]
        ranks = torch.from_numpy(multiset_rank(counts.cpu().numpy(), self._max_count))
        compatible = self._table[:, ranks].T.to(composition.device)  # (B, 231)
        return {**target_state, "allowed": target_state["allowed"] & compatible}
