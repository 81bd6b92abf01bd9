"""The ``lattice`` environment: one continuous step that samples a, b, c, α, β, γ.

State (a batch of ``B`` states, ``dict[str, Tensor]``):

* ``"system"``: int64 ``(B,)``, index into :data:`~crystalgfn_lattice.systems.LATTICE_SYSTEMS`.
  Set at the source from ``lattice_system``; a cross-environment constraint sets it per
  sample with :meth:`LatticeEnv.with_systems`.
* ``"params"``: float64 ``(B, 6)``, lattice a, b, c (Å) and α, β, γ (degrees); zeros until
  sampled. Float64 so that ``step_back`` recovers the float32 unit parameters of ``step``
  exactly (see :meth:`LatticeEnv.step_back`).
* ``"done"``: bool ``(B,)``.

There is a single action (index 0, "sample the lattice") with ``n_params = 6`` unit-interval
parameters, one slot per lattice parameter; only the system's free slots are read (see
:mod:`crystalgfn_lattice.cellmap` for the maps and :mod:`crystalgfn_lattice.beta` for the
continuous head).
"""

from __future__ import annotations

import math

import torch
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn.geometry import cell_volume, volume_factor
from crystalgfn.interfaces import LatticeSystemTarget
from crystalgfn.states import State

from crystalgfn_lattice import beta
from crystalgfn_lattice.cellmap import ANGLE_MARGIN, CellMap
from crystalgfn_lattice.systems import (
    FREE_MASK,
    LATTICE_SYSTEMS,
    SPECIFICITY,
    TRICLINIC,
    canonicalize,
    pattern_error,
    system_index,
)

#: Tolerances of :meth:`LatticeEnv.from_values_with_systems` (system given): relative on
#: lengths, degrees on angles. Values within them are snapped onto the system and the ranges.
CHECK_RTOL, CHECK_ATOL_DEG = 1e-4, 1e-3
#: Tighter tolerances used by :meth:`LatticeEnv.from_values` to infer a system, so that a
#: generic sample is practically never mistaken for a more symmetric one.
INFER_RTOL, INFER_ATOL_DEG = 1e-6, 1e-5

_RULES = {
    "triclinic": "all six parameters free",
    "monoclinic": "alpha = gamma = 90",
    "orthorhombic": "alpha = beta = gamma = 90",
    "tetragonal": "a = b, alpha = beta = gamma = 90",
    "trigonal-rhombohedral": "a = b = c, alpha = beta = gamma",
    "trigonal-hexagonal": "a = b, alpha = beta = 90, gamma = 120",
    "hexagonal": "a = b, alpha = beta = 90, gamma = 120",
    "cubic": "a = b = c, alpha = beta = gamma = 90",
}


def _finite_number(name: str, value, accepted: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not math.isfinite(value):
        raise ConfigError(f"{name} must be {accepted}, got {value!r}")
    return float(value)


class LatticeEnv(Environment, LatticeSystemTarget):
    """Sample the lattice parameters of one lattice system per state.

    Args:
        min_length, max_length: range of a, b, c in Å, ``0 < min_length < max_length``.
        min_angle, max_angle: range of α, β, γ in degrees,
            ``δ ≤ min_angle < max_angle ≤ 180 − δ`` with ``δ = ANGLE_MARGIN = 1``.
        lattice_system: system of the source states (name or index), used standalone.
        n_components: Beta mixture components per parameter in the continuous head.

    Raises :class:`ConfigError` for a bad option and :class:`InfeasibleError` when
    ``lattice_system`` has no real cell under the ranges (see :meth:`feasible_systems`).
    """

    name = "lattice"
    provides = ("lattice",)
    restrictions = ("lengths", "angles")
    # Unit parameters are drawn from the Beta head alone (restrict keeps n_components); the
    # ranges only map them to lengths and angles.
    restriction_free_params = True

    def __init__(
        self,
        min_length: float = 0.9,
        max_length: float = 100.0,
        min_angle: float = 50.0,
        max_angle: float = 150.0,
        lattice_system: str | int = "triclinic",
        n_components: int = 4,
    ):
        lo = _finite_number("min_length", min_length, "a finite number of Å > 0")
        if lo <= 0:
            raise ConfigError(f"min_length must be a finite number of Å > 0, got {min_length!r}")
        hi = _finite_number("max_length", max_length, f"a finite number of Å > min_length ({lo:g})")
        if hi <= lo:
            raise ConfigError(
                f"max_length must be a finite number of Å > min_length ({lo:g}), got {max_length!r}"
            )
        top = 180.0 - ANGLE_MARGIN
        a_lo = _finite_number(
            "min_angle", min_angle, f"a number of degrees in [{ANGLE_MARGIN:g}, {top:g})"
        )
        if not ANGLE_MARGIN <= a_lo < top:
            raise ConfigError(
                f"min_angle must be a number of degrees in [{ANGLE_MARGIN:g}, {top:g}), "
                f"got {min_angle!r}"
            )
        accepted = f"a number of degrees in (min_angle={a_lo:g}, {top:g}]"
        a_hi = _finite_number("max_angle", max_angle, accepted)
        if not a_lo < a_hi <= top:
            raise ConfigError(f"max_angle must be {accepted}, got {max_angle!r}")
        if (
            isinstance(n_components, bool)
            or not isinstance(n_components, int)
            or not 1 <= n_components <= 64
        ):
            raise ConfigError(f"n_components must be an integer in [1, 64], got {n_components!r}")

        self.cellmap = CellMap((lo, hi), (a_lo, a_hi))
        self.system = system_index(lattice_system)
        self.n_components = n_components
        self._check_possible(self.system)

        self.n_actions = 1
        self.n_params = 6
        self.n_param_outputs = 6 * n_components * 3
        self.encoding_dim = len(LATTICE_SYSTEMS) + 6 + 1
        self.max_steps = 1

    # -- ranges and systems -------------------------------------------------------------------
    @property
    def lengths(self) -> tuple[float, float]:
        """``(min_length, max_length)`` in Å."""
        return self.cellmap.lengths

    @property
    def angles(self) -> tuple[float, float]:
        """``(min_angle, max_angle)`` in degrees."""
        return self.cellmap.angles

    def _ranges_text(self) -> str:
        (l_lo, l_hi), (a_lo, a_hi) = self.lengths, self.angles
        return f"lengths [{l_lo:g}, {l_hi:g}] Å and angles [{a_lo:g}, {a_hi:g}] degrees"

    def log_region_volume(self, system: int) -> float:
        """Log of the volume (Å^k · degree^m) of the region of free parameters of ``system``.

        Densities are reported with respect to the uniform probability measure on this region
        (see :meth:`param_log_prob`). For triclinic cells the region is not a box; its volume
        is the integral of the Jacobian of the unit-cube map, by a 64³ midpoint rule over the
        three angle slots (the lengths contribute their box exactly)."""
        cache = self.__dict__.setdefault("_log_volumes", {})
        if system not in cache:
            if system == TRICLINIC:
                grid = (torch.arange(64, dtype=torch.float64) + 0.5) / 64
                angles = torch.cartesian_prod(grid, grid, grid)
                length_slots = torch.full((angles.shape[0], 3), 0.5, dtype=torch.float64)
                u = torch.cat([length_slots, angles], dim=1)
                log_jac = self.cellmap.to_lattice(system, u)[1]
                log_n = torch.log(torch.tensor(float(len(u))))
                cache[system] = float(torch.logsumexp(log_jac, dim=0) - log_n)
            else:
                u = torch.full((1, 6), 0.5, dtype=torch.float64)
                cache[system] = float(self.cellmap.to_lattice(system, u)[1][0])
        return cache[system]

    def feasible_systems(self) -> tuple[int, ...]:
        """Indices (ascending) of the lattice systems that have real cells under the current
        ranges; the others must be excluded by whatever sets ``"system"``."""
        return self.cellmap.feasible

    def explain_infeasible(self, system: str | int) -> str:
        """Why ``system`` is impossible under the current ranges ('' if it is possible)."""
        index = system_index(system)
        if index in self.cellmap.feasible:
            return ""
        why = self.cellmap.why_impossible(index)
        return f"lattice system {LATTICE_SYSTEMS[index]!r} is impossible: {why}"

    def _check_possible(self, system: int) -> None:
        possible = self.cellmap.feasible
        if not possible:
            reasons = "; ".join(
                f"{LATTICE_SYSTEMS[s]}: {self.cellmap.why_impossible(s)}" for s in range(8)
            )
            raise InfeasibleError(
                f"no lattice system has a real cell with {self._ranges_text()} ({reasons})"
            )
        if system not in possible:
            raise InfeasibleError(
                f"lattice_system {LATTICE_SYSTEMS[system]!r} has no real cell with "
                f"{self._ranges_text()}: {self.cellmap.why_impossible(system)}. "
                f"Possible systems: {[LATTICE_SYSTEMS[s] for s in possible]}"
            )

    def restrict(self, lengths=None, angles=None, **unknown) -> LatticeEnv:
        """A copy with narrower ranges: ``lengths=(lo, hi)`` Å and/or ``angles=(lo, hi)``
        degrees, each inside the current range. A range reaching outside the current one, or
        an unknown restriction name, is a :class:`ConfigError`; a range disjoint from the
        current one, or leaving ``lattice_system`` without a real cell, is an
        :class:`InfeasibleError`."""
        if unknown:
            raise ConfigError(
                f"environment 'lattice' does not accept the restrictions {sorted(unknown)}; "
                f"accepted: {list(self.restrictions)}"
            )
        new_lengths = self._checked_range("lengths", lengths, self.lengths, "Å")
        new_angles = self._checked_range("angles", angles, self.angles, "degrees")
        return type(self)(
            min_length=new_lengths[0],
            max_length=new_lengths[1],
            min_angle=new_angles[0],
            max_angle=new_angles[1],
            lattice_system=self.system,
            n_components=self.n_components,
        )

    def restriction_domains(self) -> dict:
        """Conditioning on ``lengths`` (a sub-range of the current one, drawn on a log scale)
        and ``angles`` (a sub-range of the current one)."""
        from crystalgfn.conditioning import Interval

        return {
            "lengths": Interval(*self.lengths, min_width=0.15, log=True),
            "angles": Interval(*self.angles, min_width=0.3),
        }

    @staticmethod
    def _checked_range(name, value, current, unit) -> tuple[float, float]:
        if value is None:
            return current
        try:
            lo, hi = (float(v) for v in value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"restriction {name} must be a pair (lo, hi) of numbers in {unit}, got {value!r}"
            ) from None
        if not (math.isfinite(lo) and math.isfinite(hi) and lo < hi):
            raise ConfigError(f"restriction {name} must be finite with lo < hi, got {value!r}")
        c_lo, c_hi = current
        if hi < c_lo or lo > c_hi:
            raise InfeasibleError(
                f"restriction {name}=({lo:g}, {hi:g}) {unit} leaves nothing: "
                f"the current range is [{c_lo:g}, {c_hi:g}]"
            )
        if lo < c_lo or hi > c_hi:
            raise ConfigError(
                f"restriction {name}=({lo:g}, {hi:g}) {unit} must lie inside the current "
                f"range [{c_lo:g}, {c_hi:g}]"
            )
        return lo, hi

    # -- states -------------------------------------------------------------------------------
    def source(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        return {
            "system": torch.full((batch_size,), self.system, dtype=torch.long, device=device),
            "params": torch.zeros(batch_size, 6, dtype=torch.float64, device=device),
            "done": torch.zeros(batch_size, dtype=torch.bool, device=device),
        }

    def is_done(self, state: State) -> torch.Tensor:
        return state["done"].clone()

    def is_source(self, state: State) -> torch.Tensor:
        return ~state["done"]

    def with_systems(self, state: State, systems: torch.Tensor) -> State:
        """Copy of ``state`` with ``"system"`` set to ``systems`` (int64 ``(B,)``).

        For the cross-environment constraint (space group → lattice). Every system must be in
        :meth:`feasible_systems` (else :class:`InfeasibleError` naming the row); done rows
        are re-validated against their new system (``ValueError`` naming the row) and
        snapped onto it exactly (ties and fixed angles)."""
        systems = torch.as_tensor(systems, device=state["system"].device).long().reshape(-1)
        if systems.shape != state["system"].shape:
            raise ValueError(
                f"with_systems: expected {tuple(state['system'].shape)} systems, "
                f"got {tuple(systems.shape)}"
            )
        self._check_systems(systems)
        params = state["params"].clone()
        done = state["done"]
        if bool(done.any()):
            rows = done.nonzero().squeeze(1)
            params[rows] = self._validated(state["params"][rows], systems[rows], rows)
        return {"system": systems.clone(), "params": params, "done": done.clone()}

    def _check_systems(self, systems: torch.Tensor) -> None:
        out_of_range = (systems < 0) | (systems >= len(LATTICE_SYSTEMS))
        if bool(out_of_range.any()):
            row = int(out_of_range.nonzero()[0])
            raise ValueError(
                f"row {row}: lattice system index {int(systems[row])} is not in "
                f"0-{len(LATTICE_SYSTEMS) - 1}"
            )
        feasible = torch.tensor(self.cellmap.feasible, dtype=torch.long, device=systems.device)
        bad = ~torch.isin(systems, feasible)
        if bool(bad.any()):
            row = int(bad.nonzero()[0])
            raise InfeasibleError(
                f"row {row}: {self.explain_infeasible(int(systems[row]))} with "
                f"{self._ranges_text()}; "
                f"possible systems: {[LATTICE_SYSTEMS[s] for s in self.cellmap.feasible]}"
            )

    # -- masks and transitions ----------------------------------------------------------------
    def forward_mask(self, state: State) -> torch.Tensor:
        return (~state["done"])[:, None]

    def backward_mask(self, state: State) -> torch.Tensor:
        return state["done"][:, None].clone()

    def step(
        self, state: State, actions: torch.Tensor, params: torch.Tensor | None = None
    ) -> State:
        """Done states with lattices mapped from ``params`` ``(B, 6)`` in ``[0, 1]``.

        ``params`` are first rounded to the default float dtype (float32), the precision
        the continuous head and :meth:`step_back` work in."""
        if bool(state["done"].any()):
            raise ValueError(
                "step: the lattice is already sampled in some rows (no action is allowed)"
            )
        if params is None or params.shape != (state["done"].shape[0], 6):
            shape = None if params is None else tuple(params.shape)
            raise ValueError(
                f"step: expected params of shape ({state['done'].shape[0]}, 6), got {shape}"
            )
        u = params.to(torch.get_default_dtype()).to(torch.float64)
        free = FREE_MASK.to(u.device)[state["system"]]
        if not bool((((u >= 0) & (u <= 1)) | ~free).all()):
            raise ValueError("step: the free unit parameters must lie in [0, 1]")
        lattice = torch.zeros_like(u)
        for system, rows in self._groups(state["system"]):
            lattice[rows] = self._lattice_rows(system, u[rows], state, rows)
        # Every other key (a subclass's per-row conditions) is carried over unchanged.
        return {
            **{key: value.clone() for key, value in state.items()},
            "params": lattice,
            "done": torch.ones_like(state["done"]),
        }

    def _lattice_rows(self, system: int, u: torch.Tensor, state: State, rows: torch.Tensor):
        """Lattices ``(n, 6)`` of the unit values ``u`` of the ``rows`` of ``state`` (all of
        ``system``); the map :meth:`step` applies."""
        return self.cellmap.to_lattice(system, u)[0]

    def step_back(self, state: State, actions: torch.Tensor) -> tuple[State, torch.Tensor]:
        """The source (with the same ``"system"``) and the unit parameters ``(B, 6)`` in the
        default float dtype (``0.5`` in ignored slots). For float32 parameters of
        :meth:`step`, the float64 round trip recovers them bit for bit unless a slot's
        interval is narrower than about ``|x| / (u · 2²⁸)`` (x the parameter)."""
        u = self._unit(state)
        parent = {
            "system": state["system"].clone(),
            "params": torch.zeros_like(state["params"]),
            "done": torch.zeros_like(state["done"]),
        }
        return parent, u.to(torch.get_default_dtype())

    def _unit(self, state: State) -> torch.Tensor:
        u = torch.full_like(state["params"], 0.5, dtype=torch.float64)
        for system, rows in self._groups(state["system"]):
            u[rows] = self.cellmap.to_unit(system, state["params"][rows])[0]
        return u

    @staticmethod
    def _groups(systems: torch.Tensor):
        for system in torch.unique(systems).tolist():
            yield int(system), (systems == system).nonzero().squeeze(1)

    # -- continuous head ----------------------------------------------------------------------
    def sample_params(
        self, state: State, actions: torch.Tensor, raw: torch.Tensor, generator=None
    ) -> torch.Tensor:
        """Unit parameters ``(B, 6)`` (default float dtype) from the Beta-mixture head ``raw``
        ``(B, n_param_outputs)``; ignored slots are ``0.5``. Reproducible with ``generator``."""
        with torch.no_grad():
            u = beta.sample(raw, 6, self.n_components, generator)
        free = FREE_MASK.to(u.device)[state["system"]]
        return torch.where(free, u, 0.5).to(torch.get_default_dtype())

    def param_log_prob(
        self, state: State, actions: torch.Tensor, params: torch.Tensor, raw: torch.Tensor
    ) -> torch.Tensor:
        """Log-density ``(B,)`` (dtype of ``raw``) of the lattice reached with ``params`` with
        respect to the uniform probability measure on the free-parameter region of each row's
        system: the Beta-mixture log-densities of the free unit slots, minus the log-Jacobian
        of the affine maps (per Å, per degree; triclinic's conditional intervals included),
        plus the log-volume of the region (:meth:`log_region_volume`).

        Why this reference measure: systems have different numbers of free parameters, so
        densities per Å^k·degree^m are not comparable across systems; a GFlowNet sampling ∝ R
        against them would favour triclinic cells by the size of their 6-dimensional region
        (about 10^12 against a cubic cell's 10^2). Against each region's uniform probability
        measure, a constant reward gives every allowed system the same total mass."""
        u = params.to(torch.float64)
        free = FREE_MASK.to(u.device)[state["system"]]
        per_slot = beta.log_prob(u, raw, self.n_components)
        log_prob = torch.where(free, per_slot, 0.0).sum(dim=1)
        log_jac = torch.zeros_like(log_prob)
        for system, rows in self._groups(state["system"]):
            log_jac[rows] = (
                self.cellmap.to_lattice(system, u[rows])[1] - self.log_region_volume(system)
            )
        return (log_prob - log_jac).to(raw.dtype)

    # -- views ----------------------------------------------------------------------------------
    def encode(self, state: State) -> torch.Tensor:
        """Float32 ``(B, 15)``: one-hot system (8), the 6 parameters scaled to ``[0, 1]`` by
        the length and angle ranges (zeros before sampling), and the done flag."""
        (l_lo, l_hi), (a_lo, a_hi) = self.lengths, self.angles
        x = state["params"].to(torch.float64)
        scaled = torch.cat(
            [(x[:, :3] - l_lo) / (l_hi - l_lo), (x[:, 3:] - a_lo) / (a_hi - a_lo)], dim=1
        )
        done = state["done"]
        scaled = torch.where(done[:, None], scaled, 0.0)
        one_hot = torch.nn.functional.one_hot(state["system"], len(LATTICE_SYSTEMS))
        return torch.cat([one_hot.float(), scaled.float(), done[:, None].float()], dim=1)

    def validity(self, values) -> dict[str, torch.Tensor]:
        """``positive_volume``: the angles give a real cell and every length is positive."""
        lattice = values["lattice"].double()
        (l_lo, l_hi), (a_lo, a_hi) = self.lengths, self.angles
        lengths, angles = lattice[:, :3], lattice[:, 3:]
        # Fixed angles (90°, 120°) of a lattice system are not sampled, so only free-looking
        # angles are held to the range: an angle counts as inside when in range or fixed.
        fixed = ((angles - 90).abs() < 1e-6) | ((angles - 120).abs() < 1e-6)
        in_range = (
            ((lengths >= l_lo - 1e-9) & (lengths <= l_hi + 1e-9)).all(dim=1)
            & (((angles >= a_lo - 1e-9) & (angles <= a_hi + 1e-9)) | fixed).all(dim=1)
        )
        return {
            "positive_volume": (volume_factor(lattice) > 0) & (lengths > 0).all(dim=1),
            "within_ranges": in_range,
        }

    def consistent_with_systems(self, values, systems: torch.Tensor) -> torch.Tensor:
        """Bool ``(B,)``: each lattice obeys the equalities and fixed angles of its system
        (indices into ``LATTICE_SYSTEMS``), within 1e-6 relative on lengths and 1e-4 degrees."""
        lattice = values["lattice"].double()
        ok = torch.ones(lattice.shape[0], dtype=torch.bool, device=lattice.device)
        for system in systems.unique().tolist():
            rows = systems == system
            ok[rows] = ~pattern_error(int(system), lattice[rows], 1e-6, 1e-4)
        return ok

    def describe(self, values) -> dict[str, list]:
        lattice = values["lattice"].double()
        names = ("a", "b", "c", "alpha", "beta", "gamma")
        columns = {name: lattice[:, i].tolist() for i, name in enumerate(names)}
        columns["volume"] = cell_volume(lattice).tolist()  # Å³
        return columns

    def values(self, state: State) -> dict[str, torch.Tensor]:
        """``{"lattice": float64 (B, 6)}``: a, b, c (Å), α, β, γ (degrees) of done states."""
        return {"lattice": state["params"].clone()}

    def from_values(self, values: dict[str, torch.Tensor]) -> State:
        """Done states from ``{"lattice": (B, 6)}``, inferring each row's system.

        A row gets this environment's own ``lattice_system`` if that is not triclinic and the
        row fits it (so a standalone environment of a fixed system round-trips its samples);
        otherwise the most specific possible system whose ties and fixed angles hold (within
        ``INFER_RTOL`` / ``INFER_ATOL_DEG``) and whose ranges contain the row: cubic,
        rhombohedral, tetragonal, hexagonal, trigonal-hexagonal, orthorhombic, monoclinic,
        triclinic. Inference is ambiguous by nature (hexagonal and trigonal-hexagonal cells
        look alike; a tetragonal cell may have a = c): use :meth:`from_values_with_systems`
        when the systems are known. Rows fitting no system raise ``ValueError`` naming the
        row."""
        lattice = self._lattice_of(values)
        return self.from_values_with_systems(values, self.infer_systems(lattice))

    def infer_systems(self, lattice: torch.Tensor) -> torch.Tensor:
        """Int64 ``(B,)`` systems inferred from lattices ``(B, 6)`` as in :meth:`from_values`."""
        order = list(SPECIFICITY)
        if self.system != TRICLINIC:
            order.remove(self.system)
            order.insert(0, self.system)
        systems = torch.full((lattice.shape[0],), -1, dtype=torch.long, device=lattice.device)
        for system in order:
            if system not in self.cellmap.feasible:
                continue
            checks, _ = self._problems(system, lattice, INFER_RTOL, INFER_ATOL_DEG)
            fits = ~torch.stack([bad for bad, _ in checks]).any(dim=0)
            systems = torch.where((systems < 0) & fits, system, systems)
        if bool((systems < 0).any()):
            row = int((systems < 0).nonzero()[0])
            general = min(self.cellmap.feasible)
            checks, _ = self._problems(general, lattice[row : row + 1], CHECK_RTOL, CHECK_ATOL_DEG)
            reason = next(
                (text for bad, text in checks if bool(bad[0])), "no possible system matches"
            )
            raise ValueError(
                f"row {row}: lattice {lattice[row].tolist()} (a, b, c in Å; alpha, beta, gamma in "
                f"degrees) fits no possible lattice system under {self._ranges_text()} "
                f"(as {LATTICE_SYSTEMS[general]}: {reason})"
            )
        return systems

    def from_values_with_systems(
        self, values: dict[str, torch.Tensor], systems: torch.Tensor
    ) -> State:
        """Done states from ``{"lattice": (B, 6)}`` and their systems (int64 ``(B,)``).

        Each row must fit its system within ``CHECK_RTOL`` (lengths) / ``CHECK_ATOL_DEG``
        (angles) and lie in the ranges, else ``ValueError`` naming the row; it is then snapped
        exactly onto the system (ties, fixed angles) and into the ranges."""
        lattice = self._lattice_of(values)
        systems = torch.as_tensor(systems, device=lattice.device).long().reshape(-1)
        if systems.shape[0] != lattice.shape[0]:
            raise ValueError(
                f"from_values_with_systems: {lattice.shape[0]} lattices but "
                f"{systems.shape[0]} systems"
            )
        self._check_systems(systems)
        params = self._validated(
            lattice, systems, torch.arange(lattice.shape[0], device=lattice.device)
        )
        return {
            "system": systems.clone(),
            "params": params,
            "done": torch.ones_like(systems, dtype=torch.bool),
        }

    @staticmethod
    def _lattice_of(values: dict[str, torch.Tensor]) -> torch.Tensor:
        if "lattice" not in values:
            raise ValueError(f"lattice values need the key 'lattice', got {sorted(values)}")
        lattice = torch.as_tensor(values["lattice"])
        if lattice.ndim != 2 or lattice.shape[1] != 6 or not lattice.is_floating_point():
            raise ValueError(
                f"'lattice' must be a float tensor (B, 6), "
                f"got {lattice.dtype} {tuple(lattice.shape)}"
            )
        return lattice.to(torch.float64)

    def _validated(
        self, lattice: torch.Tensor, systems: torch.Tensor, row_ids: torch.Tensor
    ) -> torch.Tensor:
        """Lattices snapped onto their systems and ranges; ``ValueError`` naming the first bad
        row (numbered by ``row_ids``)."""
        out = torch.empty_like(lattice, dtype=torch.float64)
        for system, rows in self._groups(systems):
            checks, canon = self._problems(system, lattice[rows], CHECK_RTOL, CHECK_ATOL_DEG)
            for bad, text in checks:
                if bool(bad.any()):
                    local = int(bad.nonzero()[0])
                    row = int(row_ids[rows[local]])
                    raise ValueError(
                        f"row {row}: lattice {lattice[rows[local]].tolist()} "
                        "(a, b, c in Å; alpha, beta, "
                        f"gamma in degrees) is not a valid {LATTICE_SYSTEMS[system]} cell: {text}"
                    )
            out[rows] = self.cellmap.clamp(system, canon)
        return out

    def _problems(self, system: int, lattice: torch.Tensor, rtol: float, atol: float):
        """``([(bad rows (n,), reason)], canonical lattice)`` for rows of ``lattice`` as
        ``system`` cells."""
        lattice = lattice.to(torch.float64)
        finite = torch.isfinite(lattice).all(dim=1)
        safe = torch.where(finite[:, None], lattice, 0.0)
        canon = canonicalize(system, safe)
        (l_lo, l_hi), (a_lo, a_hi) = self.lengths, self.angles
        free = FREE_MASK[system].to(lattice.device)
        length_out = (
            (canon[:, :3] < l_lo * (1 - rtol)) | (canon[:, :3] > l_hi * (1 + rtol))
        ) & free[:3]
        name = LATTICE_SYSTEMS[system]
        if name == "triclinic":
            region = (
                f"angles in [{a_lo:g}, {a_hi:g}] satisfying the triangle inequalities with margin "
                f"{ANGLE_MARGIN:g} degree (each < sum of the others, sum < 360)"
            )
        elif name in ("monoclinic", "trigonal-rhombohedral"):
            lo, hi = self.cellmap.angle_interval(system)
            region = f"its free angle in [{lo:g}, {hi:g}] degrees"
        else:
            region = "fixed angles"
        checks = [
            (~finite, "values must be finite"),
            (pattern_error(system, safe, rtol, atol) & finite, f"{name} needs {_RULES[name]}"),
            (length_out.any(dim=1) & finite, f"lengths must lie in [{l_lo:g}, {l_hi:g}] Å"),
            ((self.cellmap.angle_excess(system, canon) > atol) & finite, f"{name} needs {region}"),
        ]
        return checks, canon

    def __repr__(self) -> str:
        return f"<LatticeEnv {LATTICE_SYSTEMS[self.system]!r}: {self._ranges_text()}>"


__all__ = ["LatticeEnv"]
