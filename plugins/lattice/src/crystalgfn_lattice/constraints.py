"""The ``composition → lattice`` constraint of the plausibility envelope.

With a :class:`~crystalgfn_lattice.plausible.PlausibleLatticeEnv`, a finished composition
fixes the window of its cell volume, ``[tau_low · V̂, tau_high · V̂]`` with
``V̂ = Σ_e n_e v_e``. :meth:`CompositionToLattice.prepare`

1. takes the envelope numbers of the composition environment's element set
   (:meth:`crystalgfn_lattice.envelope.Envelope.window`);
2. narrows the lattice's free-angle regions so that the largest composition fits at every
   angle (:meth:`PlausibleLatticeEnv.for_compositions`);
3. asks the composition environment to mask compositions whose window no lattice system can
   meet at every angle (for example a cell of one atom when lengths are restricted to 10–20 Å),
   so that no composition is a dead end.

With the paper's lattice (no envelope) it does nothing.
"""

from __future__ import annotations

import torch
from crystalgfn.elements import atomic_numbers
from crystalgfn.env import Constraint
from crystalgfn.interfaces import VolumeBoundTarget
from crystalgfn.states import State

from crystalgfn_lattice.envelope import Envelope
from crystalgfn_lattice.plausible import PlausibleLatticeEnv


class CompositionToLattice(Constraint):
    """Cell volume within the envelope of the composition (see the module docstring).

    :meth:`prepare` returns a new constraint holding the per-element volumes as a float64
    ``(119,)`` table indexed by atomic number (Å³ per atom); the registered one holds none.
    """

    source_needs = (VolumeBoundTarget,)

    def __init__(self, volume_by_z: torch.Tensor | None = None):
        self._volume_by_z = volume_by_z

    def prepare(self, source, target):
        if not isinstance(target, PlausibleLatticeEnv):
            return source, target
        window = Envelope.load(target.envelope).window(list(source.symbols))
        volumes = dict(window.element_volumes)
        unbounded = source.with_volume_bounds(volumes, None, None)
        _, v_max = unbounded.volume_range()
        lattice = target.for_compositions(
            window.tau_low, window.tau_high, window.max_length_ratio, v_max
        )
        low, high = lattice.predicted_volume_bounds()
        composition = source.with_volume_bounds(volumes, low, high)
        table = torch.zeros(119, dtype=torch.float64)
        table[atomic_numbers(list(volumes))] = torch.tensor(
            list(volumes.values()), dtype=torch.float64
        )
        return composition, lattice, CompositionToLattice(table)

    def _predicted(self, composition: torch.Tensor) -> torch.Tensor:
        if self._volume_by_z is None:
            raise RuntimeError("CompositionToLattice needs the constraint returned by prepare()")
        return composition.double() @ self._volume_by_z.to(composition.device)

    def validity(self, source_values, target, target_values):
        if not isinstance(target, PlausibleLatticeEnv) or self._volume_by_z is None:
            return {}
        predicted = self._predicted(source_values["composition"])
        volume = PlausibleLatticeEnv._volumes(target_values["lattice"].double())
        tolerance = 1e-9
        inside = (volume >= target.tau_low * predicted * (1 - tolerance)) & (
            volume <= target.tau_high * predicted * (1 + tolerance)
        )
        return {"plausible_volume": inside}

    def apply(self, source_values, target, target_state: State) -> State:
        if not isinstance(target, PlausibleLatticeEnv):
            return target_state
        return target.with_predicted_volumes(
            target_state, self._predicted(source_values["composition"])
        )


__all__ = ["CompositionToLattice"]
