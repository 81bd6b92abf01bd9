"""The first-party structure builder: pyxtal's random Wyckoff placement in a fixed cell."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import numpy as np

from crystalgfn_structures.builder import (
    INCOMPATIBLE,
    PLACEMENT_FAILED,
    PlacementError,
    StructureBuilder,
)


@dataclass
class PyxtalBuilder(StructureBuilder):
    """Places atoms with ``pyxtal.pyxtal().from_random`` in the sampled cell.

    pyxtal chooses Wyckoff positions of the space group whose multiplicities add up to each
    element's count, draws free coordinates at random and rejects placements with two atoms
    closer than the tolerance matrix allows; ``attempts`` is pyxtal's ``max_count`` (each
    attempt is itself up to 40 × 10 tries). The tolerance of a pair is
    ``max(min_distance_scale × (r_i + r_j), min_distance)`` with pyxtal's covalent radii.
    """

    name = "pyxtal"

    attempts: int = 3

    def versions(self) -> dict[str, str]:
        import pymatgen.core
        import pyxtal
        import spglib

        return {
            "pyxtal": pyxtal.__version__,
            "pymatgen": getattr(pymatgen.core, "__version__", "unknown"),
            "spglib": spglib.__version__,
        }

    def settings(self) -> dict:
        return {**super().settings(), "attempts": self.attempts}

    def tolerances(self, species: Sequence[str]):
        """pyxtal ``Tol_matrix`` for these species (pair minimum distances, Å)."""
        from pyxtal.tolerance import Tol_matrix

        # prototype "atomic" uses 0.5 × factor × (r_i + r_j), covalent radii
        matrix = Tol_matrix(prototype="atomic", factor=2.0 * self.min_distance_scale)
        for i, first in enumerate(species):
            for second in species[i:]:
                value = matrix.get_tol(first, second)
                if value is None or value < self.min_distance:
                    matrix.set_tol(first, second, self.min_distance)
        return matrix

    def place(self, space_group: int, counts: Mapping[str, int], lattice: Sequence[float],
              rng: np.random.Generator):
        from pymatgen.core import Structure
        from pyxtal import pyxtal
        from pyxtal.lattice import Lattice
        from pyxtal.msg import Comp_CompatibilityError
        from pyxtal.symmetry import Group

        species = list(counts)
        numbers = [int(counts[s]) for s in species]
        filled = self._filled(counts, lattice)
        if filled > 1:
            raise PlacementError(PLACEMENT_FAILED, self._why(counts, lattice, None, tried=False))
        tolerances = self.tolerances(species)
        self._check_translations(species, lattice, tolerances)
        group = Group(space_group)
        cell = Lattice.from_para(*lattice, ltype=group.lattice_type, random_state=rng)
        crystal = pyxtal()
        try:
            crystal.from_random(
                3, group, species, numbers, lattice=cell, tm=tolerances,
                max_count=self.attempts, random_state=rng,
            )
        except Comp_CompatibilityError:
            raise PlacementError(
                INCOMPATIBLE,
                f"counts {dict(counts)} are not sums of Wyckoff multiplicities of group "
                f"{space_group} ({group.symbol})",
            ) from None
        except RuntimeError as error:
            raise PlacementError(PLACEMENT_FAILED, self._why(counts, lattice, error)) from None
        if not crystal.valid:
            raise PlacementError(PLACEMENT_FAILED, self._why(counts, lattice, None))
        structure = crystal.to_pymatgen()
        # pyxtal writes coordinates such as 1.0 and -0.0: wrap into [0, 1)
        frac = np.mod(np.round(structure.frac_coords, 10), 1.0)
        return Structure(structure.lattice, structure.species, frac)

    def _check_translations(self, species, lattice, tolerances) -> None:
        """An atom and its own periodic image are one lattice translation apart: a cell whose
        shortest translation is below an element's like-pair tolerance admits no placement."""
        from pymatgen.core import Lattice

        try:
            shortest = min(Lattice.from_parameters(*lattice).get_niggli_reduced_lattice().abc)
        except Exception:  # Niggli reduction can fail on degenerate cells; let pyxtal try
            return
        for symbol in species:
            tolerance = tolerances.get_tol(symbol, symbol)
            if tolerance is not None and shortest < tolerance:
                raise PlacementError(
                    PLACEMENT_FAILED,
                    f"the shortest lattice translation, {shortest:.3f} Å, is below the "
                    f"{symbol}-{symbol} minimum distance {tolerance:.3f} Å (every {symbol} atom "
                    "would be too close to its own periodic image): not attempted",
                )

    def _filled(self, counts, lattice) -> float:
        """Share of the cell that disjoint spheres of radius ``min_distance_scale × r_cov``
        around the atoms fill (above 1, no placement can respect the tolerances)."""
        from pyxtal.database.element import Element

        a, b, c, alpha, beta, gamma = lattice
        ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
        volume = a * b * c * math.sqrt(max(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0))
        scale = self.min_distance_scale
        spheres = sum(
            count * 4 / 3 * math.pi * (scale * Element(symbol).covalent_radius) ** 3
            for symbol, count in counts.items()
        )
        return spheres / volume if volume > 0 else math.inf

    def _why(self, counts, lattice, error, tried: bool = True) -> str:
        """A readable cause: how full the cell is with the atoms' exclusion spheres."""
        a, b, c, alpha, beta, gamma = lattice
        ca, cb, cg = (math.cos(math.radians(x)) for x in (alpha, beta, gamma))
        volume = a * b * c * math.sqrt(max(1 - ca * ca - cb * cb - cg * cg + 2 * ca * cb * cg, 0))
        n_atoms = sum(counts.values())
        text = (
            f"{n_atoms} atoms in {volume:.1f} Å^3 ({volume / n_atoms:.2f} Å^3/atom; exclusion "
            f"spheres fill {self._filled(counts, lattice):.2f} of the cell)"
        )
        if not tried:
            return text + ": too many atoms for the cell, not attempted"
        text += f" after {self.attempts} pyxtal attempts"
        if error is not None:
            text += f" ({error})"
        return text
