"""The lattice environment on the plausibility envelope of real crystals.

:class:`PlausibleLatticeEnv` samples the same parameters as
:class:`~crystalgfn_lattice.env.LatticeEnv`, inside the envelope of
:mod:`crystalgfn_lattice.envelope`:

* ``max(a, b, c) / min(a, b, c) ≤ max_length_ratio`` for every cell;
* once a composition is known (the ``composition → lattice`` constraint of
  :mod:`crystalgfn_lattice.constraints` sets ``"window"`` to ``log V̂``, Å³), the cell volume
  lies in ``[tau_low · V̂, tau_high · V̂]``.

Parametrisation: the free angles first, on their region exactly as in ``LatticeEnv``; then the
free lengths in the volume-first chart of :mod:`crystalgfn_lattice.volumechart`, whose first
coordinate ``t = log(a·b·c)`` has the interval that the length range and the volume window
leave at those angles. The unit slots of the one action are the same six (only the free ones
are read), so the policy and the Beta-mixture head are unchanged.

No dead ends: the window must be satisfiable at *every* angle of the region, which holds for
``log V̂`` in ``[w_min, w_max]`` of the row's system (:meth:`PlausibleLatticeEnv.log_volume_range`).
The constraint masks compositions outside that interval before they are finished. So that the
upper end never binds for the systems with free angles, their angle regions exclude the
near-flat cells whose volume factor is too small for the largest composition
(:meth:`PlausibleLatticeEnv.for_compositions`).

Densities are against the uniform probability measure on each row's constrained region (the
same convention as ``LatticeEnv``): the region's volume (Lebesgue in the free lengths, Å^k, and
angles, degrees^m) is the angle integral of the chart's mass, by quadrature over the angles
(exact for fixed-angle systems; 4,096 midpoint nodes for one free angle; 128³ nodes, binned by
volume factor, for triclinic: 0.02 % from Monte Carlo at ``V̂`` = 12 Å³, 0.7 % at the smallest
windows) and memoised per ``(system, log V̂)``.
"""

from __future__ import annotations

import math
import sys
from itertools import combinations

import numpy as np
import torch
from crystalgfn.cache import cached_arrays
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn.geometry import volume_factor
from crystalgfn.states import State

from crystalgfn_lattice import cellmap
from crystalgfn_lattice.cellmap import ANGLE_MARGIN, CellMap, _assemble
from crystalgfn_lattice.env import LatticeEnv
from crystalgfn_lattice.envelope import Envelope
from crystalgfn_lattice.systems import (
    FREE_MASK,
    HEXAGONAL,
    LATTICE_SYSTEMS,
    MONOCLINIC,
    RHOMBOHEDRAL,
    TRICLINIC,
    TRIGONAL_HEXAGONAL,
)
from crystalgfn_lattice.volumechart import LengthChart

_F64 = torch.float64
#: Quadrature sizes of the angle integral of the region volume (see the module docstring).
ONE_ANGLE_NODES = 4096
TRICLINIC_NODES = 128
TRICLINIC_BINS = 4096
#: Relative slack kept between a window and what the ranges allow, so that rounding never
#: leaves an empty interval.
SLACK = 1e-9
#: ``"window"`` of a row without a composition (a standalone lattice): no volume window. A
#: number rather than NaN, so that states compare equal to themselves.
NO_WINDOW = -math.inf


def _rhombohedral_vf(alpha_deg: np.ndarray | float) -> np.ndarray:
    c = np.cos(np.radians(alpha_deg))
    return np.sqrt(np.clip((1 - c) ** 2 * (1 + 2 * c), 0.0, None))


def _triclinic_bounds(lo: float, hi: float, margin: float) -> np.ndarray:
    """The right-hand sides ``b`` ``(10,)`` of the triclinic angle region ``A x ≤ b``."""
    return np.array([-lo, hi, -lo, hi, -lo, hi, -margin, -margin, -margin, 360.0 - margin])


#: ``A`` ``(10, 3)`` of the triclinic angle region ``A (α, β, γ) ≤ b``: the angle range, and
#: the three "each angle below the sum of the others" and the "sum below 360°" faces, each
#: kept ``margin`` degrees inside (:func:`_triclinic_bounds` gives ``b``).
_TRICLINIC_FACES = np.array([
    (-1.0, 0.0, 0.0), (1.0, 0.0, 0.0),
    (0.0, -1.0, 0.0), (0.0, 1.0, 0.0),
    (0.0, 0.0, -1.0), (0.0, 0.0, 1.0),
    (1.0, -1.0, -1.0), (-1.0, 1.0, -1.0), (-1.0, -1.0, 1.0),
    (1.0, 1.0, 1.0),
])


def _vertex_solvers() -> tuple[np.ndarray, np.ndarray]:
    """``(triples, inverses)``: every triple of faces of the triclinic region that meet in
    one point ``(T, 3)`` and the inverse of each triple's ``3 × 3`` matrix ``(T, 3, 3)``.
    The faces do not depend on the region's numbers, so the vertices of any region are
    ``inverses @ b[triples]``: one batched product instead of a solve per triple."""
    triples = np.array(list(combinations(range(len(_TRICLINIC_FACES)), 3)))
    matrices = _TRICLINIC_FACES[triples]
    regular = np.abs(np.linalg.det(matrices)) >= 1e-9
    return triples[regular], np.linalg.inv(matrices[regular])


_VERTEX_TRIPLES, _VERTEX_INVERSES = _vertex_solvers()


def triclinic_min_volume_factor(lo: float, hi: float, margin: float) -> float:
    """Smallest volume factor ``sqrt(1 − Σcos² + 2Πcos)`` over the triclinic angle region.

    Exact: the squared factor is ``4 sin s · sin(s−α) sin(s−β) sin(s−γ)`` with
    ``s = (α+β+γ)/2``, every argument is linear in the angles and lies in ``(0°, 180°)`` on the
    region, and ``log sin`` is concave there, so the factor's logarithm is concave and its
    minimum over the polytope lies at a vertex: the vertices are enumerated."""
    b = _triclinic_bounds(lo, hi, margin)
    points = np.einsum("tij,tj->ti", _VERTEX_INVERSES, b[_VERTEX_TRIPLES])  # (T, 3) degrees
    inside = (points @ _TRICLINIC_FACES.T <= b + 1e-7).all(axis=1)
    if not inside.any():
        return math.inf
    c = np.cos(np.radians(points[inside]))
    squared = 1 - (c * c).sum(axis=1) + 2 * c.prod(axis=1)
    return float(np.sqrt(np.clip(squared, 0.0, None)).min())


class PlausibleLatticeEnv(LatticeEnv):
    """Lattices inside the envelope of real crystals (see the module docstring).

    Args (beyond :class:`~crystalgfn_lattice.env.LatticeEnv`'s):
        envelope: name of a shipped envelope (``"mp2018"``).
        tau_low, tau_high, max_length_ratio: the envelope's numbers for the composition's
            element set (default: those of all the envelope's elements); the constraint sets
            them from the composition environment.
        max_predicted_volume: the largest ``V̂`` (Å³) a composition can have; the angle
            regions of monoclinic, rhombohedral and triclinic cells are narrowed so that such a
            composition still fits at every angle (``None``: no narrowing).
    """

    def __init__(
        self,
        min_length: float = 0.9,
        max_length: float = 100.0,
        min_angle: float = 50.0,
        max_angle: float = 150.0,
        lattice_system: str | int = "triclinic",
        n_components: int = 4,
        envelope: str = "mp2018",
        tau_low: float | None = None,
        tau_high: float | None = None,
        max_length_ratio: float | None = None,
        max_predicted_volume: float | None = None,
    ):
        window = None
        if tau_low is None or tau_high is None or max_length_ratio is None:
            loaded = Envelope.load(envelope)
            window = loaded.window(sorted(loaded.element_volumes))
        self.envelope = envelope
        self.tau_low = float(window.tau_low if tau_low is None else tau_low)
        self.tau_high = float(window.tau_high if tau_high is None else tau_high)
        self.max_length_ratio = float(
            window.max_length_ratio if max_length_ratio is None else max_length_ratio
        )
        if not 0 < self.tau_low < self.tau_high or not self.max_length_ratio >= 1:
            raise ConfigError(
                f"the envelope needs 0 < tau_low < tau_high and max_length_ratio >= 1, got "
                f"{self.tau_low}, {self.tau_high}, {self.max_length_ratio}"
            )
        self.max_predicted_volume = (
            None if max_predicted_volume is None else float(max_predicted_volume)
        )
        super().__init__(
            min_length, max_length, min_angle, max_angle, lattice_system, n_components
        )
        self._narrow_angles()
        self._check_possible(self.system)
        self.charts = {
            s: LengthChart(s, self.lengths, self.max_length_ratio) for s in self.cellmap.feasible
        }
        self._quadrature: dict[int, tuple[np.ndarray, np.ndarray]] = {}
        self._log_volumes_by_window: dict[tuple[int, float], float] = {}
        # log_volume_range per system: asked for every batch by the composition constraint,
        # and the triclinic one enumerates the region's vertices (numpy solves) each time.
        self._log_volume_ranges: dict[int, tuple[float, float]] = {}

    # -- construction ---------------------------------------------------------------------------
    def _options(self) -> dict:
        return dict(
            envelope=self.envelope, tau_low=self.tau_low, tau_high=self.tau_high,
            max_length_ratio=self.max_length_ratio,
            max_predicted_volume=self.max_predicted_volume,
        )

    def for_compositions(
        self, tau_low: float, tau_high: float, max_length_ratio: float, max_predicted_volume: float
    ) -> PlausibleLatticeEnv:
        """A copy with the envelope numbers of a composition environment's element set and its
        largest predicted volume (Å³), for the ``composition → lattice`` constraint."""
        (l_lo, l_hi), (a_lo, a_hi) = self.lengths, self.angles
        return PlausibleLatticeEnv(
            l_lo, l_hi, a_lo, a_hi, self.system, self.n_components, envelope=self.envelope,
            tau_low=tau_low, tau_high=tau_high, max_length_ratio=max_length_ratio,
            max_predicted_volume=max_predicted_volume,
        )

    def restrict(self, lengths=None, angles=None, **unknown) -> PlausibleLatticeEnv:
        if unknown:
            raise ConfigError(
                f"environment 'lattice' does not accept the restrictions {sorted(unknown)}; "
                f"accepted: {list(self.restrictions)}"
            )
        l_lo, l_hi = self._checked_range("lengths", lengths, self.lengths, "Å")
        a_lo, a_hi = self._checked_range("angles", angles, self.angles, "degrees")
        return PlausibleLatticeEnv(
            l_lo, l_hi, a_lo, a_hi, self.system, self.n_components, **self._options()
        )

    def _narrow_angles(self) -> None:
        """Keep out of the free-angle regions the cells too flat for the largest composition:
        ``vf(angles) ≥ f = V̂_max · tau_low / max_length³`` must hold at every angle."""
        if self.max_predicted_volume is None:
            return
        floor = self.max_predicted_volume * self.tau_low / self.lengths[1] ** 3 * (1 + SLACK)
        lo, hi = self.angles
        overrides = {}
        if floor >= 1:
            return  # no angle helps: the fixed-angle systems bound the compositions instead
        spread = math.degrees(math.asin(floor))
        overrides["monoclinic"] = (max(lo, spread), min(hi, 180.0 - spread))
        r_lo, r_hi = self.cellmap.rhombohedral
        overrides["rhombohedral"] = _interval_where(_rhombohedral_vf, r_lo, r_hi, floor)
        margin = ANGLE_MARGIN
        if triclinic_min_volume_factor(lo, hi, margin) < floor:
            top = 120.0
            for _ in range(60):  # bisection: the minimum grows with the margin
                middle = (margin + top) / 2
                if triclinic_min_volume_factor(lo, hi, middle) >= floor:
                    top = middle
                else:
                    margin = middle
            margin = top
        self.cellmap = CellMap(self.lengths, self.angles, triclinic_margin=margin, **overrides)
        self.__dict__.pop("_log_volumes", None)

    # -- volume factors and windows -------------------------------------------------------------
    def volume_factor_range(self, system: int) -> tuple[float, float]:
        """``(min, max)`` of the volume factor over ``system``'s angle region (the maximum of
        triclinic is bounded by 1, which is safe: it only narrows the allowed compositions)."""
        if system in (HEXAGONAL, TRIGONAL_HEXAGONAL):
            return math.sqrt(3) / 2, math.sqrt(3) / 2
        if system == MONOCLINIC:
            b_lo, b_hi = self.cellmap.monoclinic
            ends = [math.sin(math.radians(v)) for v in (b_lo, b_hi)]
            return min(ends), 1.0 if b_lo <= 90 <= b_hi else max(ends)
        if system == RHOMBOHEDRAL:
            r_lo, r_hi = self.cellmap.rhombohedral
            ends = _rhombohedral_vf(np.array([r_lo, r_hi]))
            top = 1.0 if r_lo <= 90 <= r_hi else float(ends.max())
            return float(ends.min()), top
        if system == TRICLINIC:
            region = self.cellmap.triclinic
            return triclinic_min_volume_factor(region.lo, region.hi, region.margin), 1.0
        return 1.0, 1.0

    def log_volume_range(self, system: int) -> tuple[float, float]:
        """``[w_min, w_max]``: the ``log V̂`` (log Å³) whose window fits at every angle."""
        cached = self._log_volume_ranges.get(system)
        if cached is None:
            vf_lo, vf_hi = self.volume_factor_range(system)
            t_lo, t_hi = self.charts[system].t_range
            cached = (
                t_lo + math.log(vf_hi) - math.log(self.tau_high) + SLACK,
                t_hi + math.log(vf_lo) - math.log(self.tau_low) - SLACK,
            )
            self._log_volume_ranges[system] = cached
        return cached

    def predicted_volume_bounds(self) -> tuple[float, float]:
        """``(low, high)`` in Å³: compositions with ``V̂`` in this range fit every feasible
        system (what the constraint asks the composition environment to enforce)."""
        ranges = [self.log_volume_range(s) for s in self.cellmap.feasible]
        return math.exp(max(r[0] for r in ranges)), math.exp(min(r[1] for r in ranges))

    def with_predicted_volumes(self, state: State, predicted: torch.Tensor) -> State:
        """Copy of ``state`` whose rows carry the window of a composition with predicted volume
        ``predicted`` (Å³, ``(B,)``). Rows outside their system's range are an
        :class:`InfeasibleError` naming the row (a dead end the masks should have prevented);
        done rows outside their window a ``ValueError``."""
        predicted = torch.as_tensor(predicted, dtype=_F64, device=state["system"].device)
        w = torch.log(predicted.reshape(-1))
        for system, rows in self._groups(state["system"]):
            w_lo, w_hi = self.log_volume_range(system)
            bad = (w[rows] < w_lo) | (w[rows] > w_hi) | torch.isnan(w[rows]) | torch.isinf(w[rows])
            if bool(bad.any()):
                row = int(rows[bad.nonzero()[0]])
                raise InfeasibleError(
                    f"row {row}: a composition of predicted volume {float(predicted[row]):.4g} "
                    f"Å³ cannot fit a {LATTICE_SYSTEMS[system]} cell inside the envelope at "
                    f"every angle with {self._ranges_text()} (it needs "
                    f"{math.exp(w_lo):.4g}-{math.exp(w_hi):.4g} Å³)"
                )
        out = {**state, "window": w.clone()}
        done = state["done"]
        if bool(done.any()):
            volume = self._volumes(state["params"])
            lo, hi = self._window_bounds(w)
            outside = done & ((torch.log(volume) < lo - 1e-9) | (torch.log(volume) > hi + 1e-9))
            if bool(outside.any()):
                row = int(outside.nonzero()[0])
                raise ValueError(
                    f"row {row}: cell volume {float(volume[row]):.4g} Å³ lies outside the "
                    f"envelope window {math.exp(lo[row]):.4g}-{math.exp(hi[row]):.4g} Å³ of its "
                    "composition"
                )
        return out

    def _window_bounds(self, w: torch.Tensor):
        return w + math.log(self.tau_low), w + math.log(self.tau_high)

    @staticmethod
    def _volumes(lattice: torch.Tensor) -> torch.Tensor:
        return lattice[:, :3].prod(dim=1) * volume_factor(lattice).clamp(min=0).sqrt()

    # -- states ---------------------------------------------------------------------------------
    def source(self, batch_size: int, device: torch.device | str = "cpu") -> State:
        state = super().source(batch_size, device)
        state["window"] = torch.full((batch_size,), NO_WINDOW, dtype=_F64, device=device)
        return state

    def with_systems(self, state: State, systems: torch.Tensor) -> State:
        out = super().with_systems(state, systems)
        out["window"] = state["window"].clone()
        return out

    def from_values_with_systems(self, values, systems) -> State:
        state = super().from_values_with_systems(values, systems)
        state["window"] = torch.full_like(state["params"][:, 0], NO_WINDOW)
        return state

    # -- maps -----------------------------------------------------------------------------------
    def _length_slots(self, system: int) -> list[int]:
        return self.charts[system].free

    def _to_lattice(self, system: int, u: torch.Tensor, w: torch.Tensor):
        """Lattices ``(n, 6)`` of unit values ``u`` ``(n, 6)`` for rows of ``system`` with
        windows ``w`` ``(n,)`` (``NO_WINDOW``: none), and the log-Jacobian ``(n,)`` (Å, degrees)."""
        lattice, log_jac = self.cellmap.to_lattice(system, u)
        chart = self.charts[system]
        length_log_jac = len(chart.free) * math.log(self.lengths[1] - self.lengths[0])
        log_jac = log_jac - length_log_jac  # the angles' part only
        log_vf = 0.5 * torch.log(volume_factor(lattice))
        t_lo, t_hi = chart.t_bounds(self._windows_or_none(w), log_vf)
        z, chart_log_jac = chart.to_log_lengths(u[:, chart.free], t_lo, t_hi)
        free = lattice.clone()
        free[:, chart.free] = z.exp()
        return _assemble(system, free), log_jac + chart_log_jac

    def _windows_or_none(self, w: torch.Tensor):
        none = w == NO_WINDOW
        if bool(none.all()):
            return None
        lo, hi = self._window_bounds(w)
        return torch.where(none, -math.inf, lo), torch.where(none, math.inf, hi)

    def _to_unit(self, system: int, lattice: torch.Tensor, w: torch.Tensor):
        u, log_jac = self.cellmap.to_unit(system, lattice)
        chart = self.charts[system]
        log_jac = log_jac - len(chart.free) * math.log(self.lengths[1] - self.lengths[0])
        log_vf = 0.5 * torch.log(volume_factor(lattice))
        t_lo, t_hi = chart.t_bounds(self._windows_or_none(w), log_vf)
        z = torch.log(lattice[:, chart.free].to(_F64))
        length_u, chart_log_jac = chart.to_unit(z, t_lo, t_hi)
        u[:, chart.free] = length_u
        return u, log_jac + chart_log_jac

    def _lattice_rows(self, system: int, u: torch.Tensor, state: State, rows: torch.Tensor):
        return self._to_lattice(system, u, state["window"][rows])[0]

    def step_back(self, state: State, actions: torch.Tensor):
        parent, u = super().step_back(state, actions)
        parent["window"] = state["window"].clone()
        return parent, u

    def _unit(self, state: State) -> torch.Tensor:
        u = torch.full_like(state["params"], 0.5, dtype=_F64)
        for system, rows in self._groups(state["system"]):
            u[rows] = self._to_unit(system, state["params"][rows], state["window"][rows])[0]
        return u

    # -- densities ------------------------------------------------------------------------------
    def param_log_prob(self, state, actions, params, raw):
        """Log-density ``(B,)`` against the uniform probability measure on each row's
        constrained region (see :meth:`LatticeEnv.param_log_prob` for why this measure)."""
        from crystalgfn_lattice import beta

        u = params.to(_F64)
        free = FREE_MASK.to(u.device)[state["system"]]
        per_slot = beta.log_prob(u, raw, self.n_components)
        log_prob = torch.where(free, per_slot, 0.0).sum(dim=1)
        correction = torch.zeros_like(log_prob)
        for system, rows in self._groups(state["system"]):
            w = state["window"][rows]
            log_jac = self._to_lattice(system, u[rows], w)[1]
            correction[rows] = log_jac - self.region_log_volumes(system, w).to(u.device)
        return (log_prob - correction).to(raw.dtype)

    def region_log_volumes(self, system: int, w: torch.Tensor) -> torch.Tensor:
        """Log-volume ``(n,)`` of ``system``'s constrained region for windows ``w`` ``(n,)``
        (``log V̂``; ``NO_WINDOW``: none), memoised per distinct window."""
        # Rows share windows (one per composition), so each distinct window is looked up
        # once, and the new ones are integrated together in one broadcast quadrature.
        values, inverse = np.unique(w.detach().cpu().double().numpy(), return_inverse=True)
        memo = self._log_volumes_by_window
        found = [memo.get((system, float(value))) for value in values]
        missing = [i for i, cached in enumerate(found) if cached is None]
        if missing:
            if len(memo) > 500_000:
                memo.clear()
            fresh = self._region_log_volumes(system, values[missing])
            for i, cached in zip(missing, fresh.tolist(), strict=True):
                found[i] = memo[(system, float(values[i]))] = cached
        return torch.tensor(found, dtype=_F64)[torch.from_numpy(inverse.reshape(-1))]

    def _region_log_volumes(self, system: int, w: np.ndarray) -> np.ndarray:
        """Log-volumes ``(n,)`` of the region for windows ``w`` ``(n,)`` (not memoised)."""
        log_vf, weight = self._angle_quadrature(system)
        chart = self.charts[system]
        w = w[:, None]
        none = w == NO_WINDOW
        t_lo = np.where(none, chart.t_range[0], w + math.log(self.tau_low) - log_vf)
        t_hi = np.where(none, chart.t_range[1], w + math.log(self.tau_high) - log_vf)
        return np.log((weight * chart.mass(t_lo, t_hi)).sum(axis=1))

    def _angle_quadrature(self, system: int) -> tuple[np.ndarray, np.ndarray]:
        """Nodes (log volume factor) and weights (degrees^m, summing to the angle region's
        volume) of the angle integral; one node for fixed-angle systems."""
        if system in self._quadrature:
            return self._quadrature[system]
        if system == TRICLINIC:
            region = self.cellmap.triclinic
            key = (region.lo, region.hi, region.margin, TRICLINIC_NODES, TRICLINIC_BINS)
            table = cached_arrays(
                "lattice-triclinic-quadrature", key, self._triclinic_quadrature,
                code=[sys.modules[__name__], cellmap],
            )
            nodes = (table["log_vf"], table["weight"])
        elif system in (MONOCLINIC, RHOMBOHEDRAL):
            lo, hi = self.cellmap.angle_interval(system)
            angle = lo + (hi - lo) * (np.arange(ONE_ANGLE_NODES) + 0.5) / ONE_ANGLE_NODES
            vf = np.sin(np.radians(angle)) if system == MONOCLINIC else _rhombohedral_vf(angle)
            nodes = (np.log(vf), np.full(ONE_ANGLE_NODES, (hi - lo) / ONE_ANGLE_NODES))
        else:
            vf = self.volume_factor_range(system)[0]
            nodes = (np.array([math.log(vf)]), np.array([1.0]))
        self._quadrature[system] = nodes
        return nodes

    def _triclinic_quadrature(self) -> dict[str, np.ndarray]:
        """Midpoint nodes of the triclinic angle region (``TRICLINIC_NODES³`` in the unit
        slots, weighted by the map's Jacobian), binned by log volume factor: the region volume
        depends on the angles only through it."""
        grid = (torch.arange(TRICLINIC_NODES, dtype=_F64) + 0.5) / TRICLINIC_NODES
        log_vf, weight = [], []
        for first in grid.split(8):  # chunks keep the memory to a few tens of MB
            angles = torch.cartesian_prod(first, grid, grid)
            u = torch.cat([torch.full((angles.shape[0], 3), 0.5, dtype=_F64), angles], dim=1)
            lattice, log_jac = self.cellmap.to_lattice(TRICLINIC, u)
            log_jac = log_jac - 3 * math.log(self.lengths[1] - self.lengths[0])
            log_vf.append((0.5 * torch.log(volume_factor(lattice))).numpy())
            weight.append(torch.exp(log_jac).numpy() / TRICLINIC_NODES**3)
        log_vf, weight = np.concatenate(log_vf), np.concatenate(weight)
        edges = np.linspace(log_vf.min(), log_vf.max() + 1e-12, TRICLINIC_BINS + 1)
        which = np.clip(np.searchsorted(edges, log_vf, side="right") - 1, 0, TRICLINIC_BINS - 1)
        total = np.bincount(which, weights=weight, minlength=TRICLINIC_BINS)
        mean = np.bincount(which, weights=weight * log_vf, minlength=TRICLINIC_BINS)
        keep = total > 0
        return {"log_vf": mean[keep] / total[keep], "weight": total[keep]}

    # -- checks ---------------------------------------------------------------------------------
    def validity(self, values) -> dict[str, torch.Tensor]:
        """``LatticeEnv``'s checks and ``plausible_shape``: max/min length within the
        envelope."""
        checks = super().validity(values)
        lengths = values["lattice"].double()[:, :3]
        ratio = lengths.max(dim=1).values / lengths.min(dim=1).values
        checks["plausible_shape"] = ratio <= self.max_length_ratio * (1 + 1e-9)
        return checks

    def _problems(self, system: int, lattice: torch.Tensor, rtol: float, atol: float):
        checks, canon = super()._problems(system, lattice, rtol, atol)
        lengths = canon[:, :3].clamp(min=1e-300)
        ratio = lengths.max(dim=1).values / lengths.min(dim=1).values
        checks.append(
            (
                ratio > self.max_length_ratio * (1 + rtol),
                f"max/min length must be at most {self.max_length_ratio:g} (the envelope)",
            )
        )
        return checks, canon

    def log_region_volume(self, system: int) -> float:
        """Log-volume of ``system``'s region without a volume window (lengths and shape only)."""
        return float(self.region_log_volumes(system, torch.tensor([NO_WINDOW]))[0])

    def __repr__(self) -> str:
        return (
            f"<PlausibleLatticeEnv {LATTICE_SYSTEMS[self.system]!r}: {self._ranges_text()}, "
            f"envelope {self.envelope!r} (volume {self.tau_low:g}-{self.tau_high:g} x V_hat, "
            f"max/min length <= {self.max_length_ratio:g})>"
        )


def _interval_where(function, lo: float, hi: float, floor: float) -> tuple[float, float]:
    """The sub-interval of ``[lo, hi]`` where a function unimodal with its peak at 90° is at
    least ``floor`` (bisection on each side; empty as ``(x, x)``)."""

    def edge(inside: float, outside: float) -> float:
        for _ in range(80):
            middle = (inside + outside) / 2
            if function(middle) >= floor:
                inside = middle
            else:
                outside = middle
        return inside

    peak = min(max(90.0, lo), hi)
    if function(peak) < floor:
        return (peak, peak)
    left = lo if function(lo) >= floor else edge(peak, lo)
    right = hi if function(hi) >= floor else edge(peak, hi)
    return (left, right)


__all__ = ["PlausibleLatticeEnv", "triclinic_min_volume_factor"]
