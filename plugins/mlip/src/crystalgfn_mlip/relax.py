"""Relax a structure with any ASE calculator: FIRE on positions and cell, bounded steps.

The cell is relaxed through ASE's ``FrechetCellFilter`` (cell deformation in log space, so
that stress and forces share one convergence threshold, in eV/Å). Convergence means the
largest force of the filtered system, stress included, fell below ``fmax`` within ``steps``.
"""

from __future__ import annotations

import math
import time
import warnings

import numpy as np
from crystalgfn.oracle import Relaxation


class RelaxationError(RuntimeError):
    """The potential gave a non-finite energy or force: the structure blew up."""


def relax_structure(structure, calculator, *, fmax: float, steps: int,
                    relax_cell: bool = True, max_seconds: float = math.inf) -> Relaxation:
    """Relax a pymatgen ``Structure`` with ``calculator`` (an ASE calculator).

    ``steps = 0`` gives a single point (no move). The relaxation stops after ``steps`` steps
    or once ``max_seconds`` have passed, whichever comes first (then it is not converged).
    Returns a :class:`Relaxation` whose structure is a new pymatgen ``Structure``; raises
    :class:`RelaxationError` when an energy or a force stops being finite.
    """

    with warnings.catch_warnings():
        # chgnet warns on every call about a tensor it converts; nothing for a user to act on
        warnings.simplefilter("ignore")
        return _relax(structure, calculator, fmax, steps, relax_cell, max_seconds)


def _relax(structure, calculator, fmax, steps, relax_cell, max_seconds) -> Relaxation:
    from ase.filters import FrechetCellFilter
    from ase.optimize import FIRE
    from pymatgen.io.ase import AseAtomsAdaptor

    atoms = AseAtomsAdaptor.get_atoms(structure)
    atoms.calc = calculator
    n = len(atoms)
    initial = _finite(atoms.get_potential_energy() / n, "initial energy")
    system = FrechetCellFilter(atoms) if relax_cell else atoms
    converged = False
    taken = 0
    if steps > 0:
        optimizer = FIRE(system, logfile=None)
        deadline = time.perf_counter() + max_seconds
        for converged in optimizer.irun(fmax=fmax, steps=steps):
            if converged or time.perf_counter() > deadline:
                break
        converged = bool(converged)
        taken = int(optimizer.nsteps)
    forces = np.asarray(system.get_forces())
    max_force = _finite(float(np.sqrt((forces**2).sum(axis=1)).max()) if len(forces) else 0.0,
                        "force")
    if steps == 0:
        converged = max_force < fmax
    energy = _finite(atoms.get_potential_energy() / n, "final energy")
    relaxed = AseAtomsAdaptor.get_structure(atoms)
    return Relaxation(structure=relaxed, energy_per_atom=energy,
                      initial_energy_per_atom=initial, converged=converged, steps=taken,
                      max_force=max_force)


def _finite(value: float, what: str) -> float:
    value = float(value)
    if not math.isfinite(value):
        raise RelaxationError(f"the potential gave a non-finite {what} ({value})")
    return value
