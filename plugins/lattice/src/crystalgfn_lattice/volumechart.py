"""Volume-first coordinates for the free lattice lengths of one lattice system.

A volume window is not a box in ``(a, b, c)``, but it is one in log-lengths: with
``z = log(length)`` every plausibility condition is linear,

* lengths in ``[min_length, max_length]``: ``log min_length ≤ z_i ≤ log max_length``;
* shape ``max/min ≤ r``: ``z_i − z_j ≤ log r`` for every pair;
* cell volume ``V = a·b·c·vf(angles)`` in ``[V_lo, V_hi]``: with ``t = log(a·b·c) = Σ m_i z_i``
  (``m_i`` = how many of ``a, b, c`` the free length ``i`` sets, e.g. ``(3,)`` for cubic,
  ``(2, 1)`` for tetragonal), ``log V_lo − log vf ≤ t ≤ log V_hi − log vf``.

The chart's coordinates are ``x = (t, z_1, …, z_{k−1})`` for ``k`` free lengths
(``z_k = (t − Σ_{i<k} m_i z_i) / m_k``). The box and shape rows are eliminated once by
Fourier–Motzkin, so each coordinate has an interval given the ones before it and no interval
is ever empty; ``t`` comes first, so the angle-dependent window only moves ``t``'s interval.
A unit slot maps affinely onto each interval (a triangular map with exact log-Jacobian).

:meth:`LengthChart.mass` integrates the Lebesgue measure of the lengths (``da·db·dc`` over
the free ones) over the chart between two values of ``t``: the region volume that makes
densities exact against the uniform measure of the constrained set.
"""

from __future__ import annotations

import math
import sys
from itertools import permutations

import numpy as np
import torch
from crystalgfn.cache import cached_arrays

from crystalgfn_lattice.cellmap import MIN_WIDTH, TINY_WIDTH, _eliminate
from crystalgfn_lattice.systems import SPECS

_F64 = torch.float64
#: Grid of ``t`` on which the cumulative mass is tabulated (trapezoid rule; relative error of
#: the region volume about 1e-6 for the default ranges).
T_GRID = 4001
#: Midpoint nodes of the one numerical integral over a shape coordinate (three free lengths).
SHAPE_NODES = 400


class LengthChart:
    """Volume-first chart of the free lengths of ``system``.

    Args:
        system: index into :data:`~crystalgfn_lattice.systems.SPECS`.
        lengths: ``(min_length, max_length)`` in Å.
        max_ratio: largest ``max/min`` of the lengths (``inf``: no shape condition).
    """

    def __init__(self, system: int, lengths: tuple[float, float], max_ratio: float):
        spec = SPECS[system]
        self.free = [k for k in spec.free if k < 3]
        self.mult = [sum(1 for col in range(3) if spec.source[col] == k) for k in self.free]
        k = len(self.free)
        self.k = k
        lo, hi = math.log(lengths[0]), math.log(lengths[1])
        # z_i as linear forms over x = (t, z_1..z_{k-1}).
        forms = []
        for i in range(k - 1):
            forms.append(tuple(1.0 if j == i + 1 else 0.0 for j in range(k)))
        last = [1.0 / self.mult[-1]] + [-m / self.mult[-1] for m in self.mult[:-1]]
        forms.append(tuple(last))
        self.forms = torch.tensor(forms, dtype=_F64)  # (k, k): z = forms @ x
        rows = []
        for f in forms:
            rows.append(tuple(-c for c in f) + (-lo,))
            rows.append(tuple(f) + (hi,))
        if math.isfinite(max_ratio) and k > 1:
            rho = math.log(max_ratio)
            for fi, fj in permutations(forms, 2):
                rows.append(tuple(a - b for a, b in zip(fi, fj, strict=True)) + (rho,))
        # levels[j]: rows over x_0..x_j (later coordinates eliminated).
        levels = [rows]
        for j in range(k - 1, 0, -1):
            reduced, _ = _eliminate(levels[0], j)
            levels.insert(0, reduced)
        self._levels = [
            [r for r in level if abs(r[j]) > 1e-12] for j, level in enumerate(levels)
        ]
        t_lo = max(r[1] / r[0] for r in self._levels[0] if r[0] < 0)
        t_hi = min(r[1] / r[0] for r in self._levels[0] if r[0] > 0)
        # With every length equal, any t of the box satisfies the shape rows too.
        self.t_range = (t_lo, t_hi)
        # Tabulating the mass takes about a second for three free lengths: cached on disk,
        # keyed by what it depends on (and this module's source).
        key = (system, tuple(lengths), max_ratio, T_GRID, SHAPE_NODES)
        table = cached_arrays(
            "lattice-chart", key, lambda: dict(zip("tph", self._cumulative_mass(), strict=True)),
            code=[sys.modules[__name__]],
        )
        self._table = (table["t"], table["p"], table["h"])

    # -- intervals ------------------------------------------------------------------------------
    def bounds(self, j: int, prefix: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Interval of coordinate ``j ≥ 1`` given ``prefix`` = ``x_0..x_{j−1}`` ``(n, j)``."""
        # The row tensors are built once per (j, device): bounds runs several times a step.
        cache = self.__dict__.setdefault("_bound_rows", {})
        key = (j, str(prefix.device))
        if key not in cache:
            rows = self._levels[j]
            cache[key] = (
                torch.tensor([r[:j] for r in rows], dtype=_F64, device=prefix.device),  # (R, j)
                torch.tensor([r[j] for r in rows], dtype=_F64, device=prefix.device),
                torch.tensor([r[-1] for r in rows], dtype=_F64, device=prefix.device),
            )
        c, cj, d = cache[key]
        bound = (d[None, :] - prefix @ c.T) / cj[None, :]
        upper = (cj > 0)[None, :]
        lo = torch.where(upper, -math.inf, bound).amax(dim=1)
        hi = torch.where(upper, bound, math.inf).amin(dim=1)
        return lo, hi

    def t_bounds(self, window: tuple[torch.Tensor, torch.Tensor] | None, log_vf: torch.Tensor):
        """Interval of ``t`` (float64 ``(n,)`` each) for a log-volume window ``(lo, hi)``
        (``(n,)`` each, log Å³; ``None``: no window) at angles of log volume factor
        ``log_vf`` ``(n,)``."""
        lo = torch.full_like(log_vf, self.t_range[0])
        hi = torch.full_like(log_vf, self.t_range[1])
        if window is not None:
            lo = torch.maximum(lo, window[0] - log_vf)
            hi = torch.minimum(hi, window[1] - log_vf)
        return lo, hi

    # -- maps -----------------------------------------------------------------------------------
    def to_log_lengths(self, u: torch.Tensor, t_lo: torch.Tensor, t_hi: torch.Tensor):
        """Log-lengths ``(n, k)`` of the free lengths from unit values ``u`` ``(n, k)`` and the
        log-Jacobian ``(n,)`` of ``u → (a, b, c)`` on the free lengths (Å)."""
        u = u.to(_F64)
        x = torch.empty_like(u)
        width = t_hi - t_lo
        x[:, 0] = t_lo + width * u[:, 0]
        log_jac = torch.log(width.clamp(min=TINY_WIDTH))
        for j in range(1, self.k):
            lo, hi = self.bounds(j, x[:, :j])
            x[:, j] = lo + (hi - lo) * u[:, j]
            log_jac = log_jac + torch.log((hi - lo).clamp(min=TINY_WIDTH))
        z = x @ self.forms.to(x.device).T
        log_jac = log_jac - math.log(self.mult[-1]) + z.sum(dim=1)
        return z, log_jac

    def to_unit(self, z: torch.Tensor, t_lo: torch.Tensor, t_hi: torch.Tensor):
        """Inverse of :meth:`to_log_lengths`: unit values ``(n, k)`` and the log-Jacobian."""
        z = z.to(_F64)
        mult = torch.tensor(self.mult, dtype=_F64, device=z.device)
        x = torch.cat([(z * mult).sum(dim=1, keepdim=True), z[:, : self.k - 1]], dim=1)
        u = torch.empty_like(x)
        width = t_hi - t_lo
        u[:, 0] = (x[:, 0] - t_lo) / width
        log_jac = torch.log(width.clamp(min=TINY_WIDTH))
        for j in range(1, self.k):
            lo, hi = self.bounds(j, x[:, :j])
            u[:, j] = (x[:, j] - lo) / (hi - lo)
            log_jac = log_jac + torch.log((hi - lo).clamp(min=TINY_WIDTH))
        log_jac = log_jac - math.log(self.mult[-1]) + z.sum(dim=1)
        return u, log_jac

    def excess(self, z: torch.Tensor) -> torch.Tensor:
        """How far (in log-length) rows ``z`` ``(n, k)`` violate the box and shape rows."""
        mult = torch.tensor(self.mult, dtype=_F64, device=z.device)
        x = torch.cat([(z * mult).sum(dim=1, keepdim=True), z[:, : self.k - 1]], dim=1)
        rows = torch.tensor(self._levels[-1], dtype=_F64, device=z.device)
        return (x @ rows[:, :-1].T - rows[:, -1]).amax(dim=1).clamp(min=0.0)

    # -- region volume --------------------------------------------------------------------------
    def _slice_mass(self, t: np.ndarray) -> np.ndarray:
        """``H(t)``: Lebesgue mass of the free lengths on the slice of fixed ``t`` (per unit
        ``t``), float64 ``(n,)``."""
        g = self.forms.sum(dim=0).numpy()  # Σ z = g · x
        m_last = self.mult[-1]
        if self.k == 1:
            return np.exp(g[0] * t) / m_last
        t_torch = torch.from_numpy(t)[:, None]
        lo1, hi1 = (v.numpy() for v in self.bounds(1, t_torch))
        if self.k == 2:
            return np.exp(g[0] * t) * _exp_integral(g[1], lo1, hi1) / m_last
        # Three free lengths: midpoint rule over z_1, closed form over z_2.
        frac = (np.arange(SHAPE_NODES) + 0.5) / SHAPE_NODES
        width1 = np.clip(hi1 - lo1, 0.0, None)
        z1 = lo1[:, None] + width1[:, None] * frac[None, :]  # (n, N)
        prefix = torch.from_numpy(np.stack([np.repeat(t, SHAPE_NODES), z1.reshape(-1)], axis=1))
        lo2, hi2 = (v.numpy().reshape(z1.shape) for v in self.bounds(2, prefix))
        inner = _exp_integral(g[2], lo2, hi2) * np.exp(g[1] * z1)
        return np.exp(g[0] * t) * inner.mean(axis=1) * width1 / m_last

    def _cumulative_mass(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(t grid, Φ(t), H(t))`` with ``Φ(t) = ∫_{t_min}^t H``: Simpson's rule per cell, so
        that :meth:`mass` can interpolate Φ with cubic Hermite polynomials (Φ and its
        derivative H known at the nodes). Hermite matters at the edges of the box, where a
        window leaves a sliver of ``t`` in which H grows from 0 like a power of its width."""
        t = np.linspace(self.t_range[0], self.t_range[1], T_GRID)
        h = self._slice_mass(t)
        middle = self._slice_mass((t[1:] + t[:-1]) / 2)
        cells = np.diff(t) / 6 * (h[:-1] + 4 * middle + h[1:])
        return t, np.concatenate([[0.0], np.cumsum(cells)]), h

    def _cumulative(self, x: np.ndarray) -> np.ndarray:
        grid, phi, h = self._table
        x = np.clip(x, grid[0], grid[-1])
        i = np.clip(np.searchsorted(grid, x, side="right") - 1, 0, len(grid) - 2)
        step = grid[i + 1] - grid[i]
        s = (x - grid[i]) / step
        h00, h10 = 2 * s**3 - 3 * s**2 + 1, s**3 - 2 * s**2 + s
        h01, h11 = -2 * s**3 + 3 * s**2, s**3 - s**2
        return h00 * phi[i] + h10 * step * h[i] + h01 * phi[i + 1] + h11 * step * h[i + 1]

    def mass(self, t_lo: np.ndarray, t_hi: np.ndarray) -> np.ndarray:
        """Lebesgue mass (Å^k) of the chart with ``t`` in ``[t_lo, t_hi]`` (clipped to the box;
        0 where empty), float64, broadcasting."""
        t_lo, t_hi = np.broadcast_arrays(np.asarray(t_lo, float), np.asarray(t_hi, float))
        return np.clip(self._cumulative(t_hi) - self._cumulative(t_lo), 0, None)

    def feasible(self) -> bool:
        return self.t_range[1] - self.t_range[0] > MIN_WIDTH


def _exp_integral(g: float, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """``∫_lo^hi exp(g·z) dz`` (0 where ``hi ≤ lo``)."""
    hi = np.maximum(hi, lo)
    if abs(g) < 1e-12:
        return hi - lo
    return (np.exp(g * hi) - np.exp(g * lo)) / g


__all__ = ["LengthChart"]
