"""Formation energies and energies above the convex hull on one oracle's energy scale.

A hull is built per chemical system from the oracle's competing phases
(:class:`crystalgfn.oracle.OracleReference`), never from DFT energies: the formation energy
of a relaxed crystal is its energy minus the oracle's own elemental references, and its
distance to the hull compares it with the oracle's energies of the known crystals of its
chemical system.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable

from crystalgfn.oracle import ReferenceEntry, elements_of, elements_with_reference

__all__ = ["HullError", "Hulls", "elements_of", "elements_with_reference"]


class HullError(ValueError):
    """No hull can be built for a composition (an element has no reference)."""


class Hulls:
    """Phase diagrams of every chemical system, built on first use from ``entries``."""

    def __init__(self, entries: Iterable[ReferenceEntry]):
        from pymatgen.analysis.phase_diagram import PDEntry
        from pymatgen.core import Composition

        self._by_system: dict[frozenset, list] = collections.defaultdict(list)
        for entry in entries:
            composition = Composition(entry.formula)
            pd_entry = PDEntry(composition, entry.energy_per_atom * composition.num_atoms,
                               name=entry.material_id)
            self._by_system[elements_of(entry.formula)].append(pd_entry)
        self.elements = frozenset(
            next(iter(system)) for system in self._by_system if len(system) == 1
        )
        self._diagrams: dict[frozenset, object] = {}

    def diagram(self, system: frozenset[str]):
        """The pymatgen ``PhaseDiagram`` of the chemical system ``system`` (cached)."""
        missing = sorted(system - self.elements)
        if missing:
            raise HullError(
                f"no elemental reference for {missing} on this oracle's energy scale; the "
                f"reference covers {sorted(self.elements)}"
            )
        if system not in self._diagrams:
            from pymatgen.analysis.phase_diagram import PhaseDiagram

            members = [e for s, group in self._by_system.items() if s <= system for e in group]
            self._diagrams[system] = PhaseDiagram(members)
        return self._diagrams[system]

    def score(self, composition, energy_per_atom: float) -> tuple[float, float]:
        """``(formation energy, E above hull)`` in eV/atom of a crystal of ``composition``
        (pymatgen ``Composition``) with ``energy_per_atom`` on the oracle's scale. The
        distance is negative for a crystal below the known hull."""
        from pymatgen.analysis.phase_diagram import PDEntry

        system = frozenset(element.symbol for element in composition.elements)
        diagram = self.diagram(system)
        entry = PDEntry(composition, energy_per_atom * composition.num_atoms)
        formation = diagram.get_form_energy_per_atom(entry)
        _, distance = diagram.get_decomp_and_e_above_hull(entry, allow_negative=True)
        return float(formation), float(distance)
