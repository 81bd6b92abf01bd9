"""The map between unit-interval action parameters and lattice parameters, per system.

Parameter convention
--------------------
The one action of the lattice environment carries ``u`` of shape ``(n, 6)``, one slot per
lattice parameter ``a, b, c, α, β, γ``. Only a system's *free* slots are read (see
:data:`crystalgfn_lattice.systems.SPECS`); the others are ignored, and the environment fills
them with ``0.5``. Each free parameter is an affine image of its slot,
``x = lo + (hi − lo)·u``:

* lengths ``a, b, c``: ``[min_length, max_length]`` (Å);
* monoclinic ``β``: ``[min_angle, max_angle]`` (degrees);
* rhombohedral ``α`` (``= β = γ``): ``[min_angle, min(max_angle, 120 − δ)]``; the cell is
  real exactly when ``α < 120``;
* triclinic ``α, β, γ``, in this order, each on an interval that depends on the angles
  before it (a triangular change of variables)::

      α ∈ [α_lo, α_hi]                       constant
      β ∈ [β_lo(α), β_hi(α)]
      γ ∈ [max(min_angle, |α − β| + δ),  min(max_angle, α + β − δ, 360 − α − β − δ)]

  The γ interval is the triangle inequalities of the three angles with margin ``δ``, which
  make every sampled cell real (``volume_factor > 0``). ``α``'s interval and ``β``'s
  conditional interval are the exact projections of that region (box ∩ triangle
  inequalities), computed once by Fourier–Motzkin elimination, so no conditional interval is
  ever empty. When the whole angle box already fits (e.g. the default 50–150°), they are the
  box itself.

The log-Jacobian of the map ``u → x`` is ``Σ log(hi − lo)`` over the free slots (the map is
triangular, so this is exact for triclinic too). All arithmetic is float64.

``δ = ANGLE_MARGIN = 1°``.
"""

from __future__ import annotations

import math

import torch

from crystalgfn_lattice.systems import (
    FREE_MASK,
    HEXAGONAL,
    MONOCLINIC,
    RHOMBOHEDRAL,
    SPECS,
    TRICLINIC,
    TRIGONAL_HEXAGONAL,
)

#: δ (degrees): margin kept from every degenerate-cell boundary (triangle inequalities,
#: angle sum 360°, rhombohedral α = 120°).
ANGLE_MARGIN = 1.0
#: Narrowest interval (Å or degrees) for which a system counts as possible.
MIN_WIDTH = 1e-6
#: Floor of interval widths inside logarithms (only reached at degenerate corners).
TINY_WIDTH = 1e-12

_F64 = torch.float64


def _eliminate(rows: list[tuple[float, ...]], k: int) -> tuple[list[tuple[float, ...]], bool]:
    """Fourier–Motzkin: drop variable ``k`` from rows ``(c_0, ..., c_m, d)`` meaning
    ``c·x ≤ d``. Returns the rows without variable ``k`` and whether they are consistent."""
    keep, upper, lower = [], [], []
    for row in rows:
        (upper if row[k] > 0 else lower if row[k] < 0 else keep).append(row)
    for p in upper:
        for q in lower:
            keep.append(tuple(-q[k] * pi + p[k] * qi for pi, qi in zip(p, q, strict=True)))
    out, seen, consistent = [], set(), True
    for row in keep:
        row = row[:k] + row[k + 1 :]
        scale = max(abs(c) for c in row[:-1])
        if scale == 0:
            consistent &= row[-1] >= -1e-12
            continue
        row = tuple(c / scale for c in row)
        if row not in seen:
            seen.add(row)
            out.append(row)
    return out, consistent


class TriclinicRegion:
    """Angles ``(α, β, γ)`` in the box ``[lo, hi]³`` satisfying the triangle inequalities
    ``γ ≥ |α − β| + δ``, ``γ ≤ α + β − δ`` and ``α + β + γ ≤ 360 − δ`` (degrees)."""

    def __init__(self, lo: float, hi: float, margin: float = ANGLE_MARGIN):
        self.lo, self.hi, self.margin = float(lo), float(hi), float(margin)
        d = self.margin
        rows = [
            (-1.0, 0.0, 0.0, -lo),
            (1.0, 0.0, 0.0, hi),
            (0.0, -1.0, 0.0, -lo),
            (0.0, 1.0, 0.0, hi),
            (0.0, 0.0, -1.0, -lo),
            (0.0, 0.0, 1.0, hi),
            (1.0, -1.0, -1.0, -d),
            (-1.0, 1.0, -1.0, -d),
            (-1.0, -1.0, 1.0, -d),
            (1.0, 1.0, 1.0, 360.0 - d),
        ]
        rows_ab, ok_ab = _eliminate(rows, 2)  # constraints on (α, β)
        rows_a, ok_a = _eliminate(rows_ab, 1)  # constraints on α
        uppers = [r[1] / r[0] for r in rows_a if r[0] > 0]
        lowers = [r[1] / r[0] for r in rows_a if r[0] < 0]
        self.alpha = (max(lowers), min(uppers))
        beta_rows = [r for r in rows_ab if r[1] != 0]
        self._beta_c = torch.tensor([[r[0], r[1]] for r in beta_rows], dtype=_F64)
        self._beta_d = torch.tensor([r[2] for r in beta_rows], dtype=_F64)
        feasible = ok_ab and ok_a and self.alpha[1] - self.alpha[0] > MIN_WIDTH
        if feasible:  # an interior point exists iff the mid-point slices are non-degenerate
            mid_a = torch.tensor([sum(self.alpha) / 2], dtype=_F64)
            b_lo, b_hi = self.beta_bounds(mid_a)
            g_lo, g_hi = self.gamma_bounds(mid_a, (b_lo + b_hi) / 2)
            feasible = bool(b_hi - b_lo > MIN_WIDTH) and bool(g_hi - g_lo > MIN_WIDTH)
        self.feasible = feasible

    def beta_bounds(self, alpha: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Interval ``(lo, hi)`` of β given α, each float64 ``(n,)`` (degrees)."""
        c = self._beta_c.to(alpha.device)
        bound = (
            self._beta_d.to(alpha.device)[None, :] - c[None, :, 0] * alpha.double()[:, None]
        ) / c[None, :, 1]
        is_upper = (c[:, 1] > 0)[None, :]
        lo = torch.where(is_upper, -math.inf, bound).amax(dim=1)
        hi = torch.where(is_upper, bound, math.inf).amin(dim=1)
        return lo, hi

    def gamma_bounds(
        self, alpha: torch.Tensor, beta: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Interval ``(lo, hi)`` of γ given α and β, each float64 ``(n,)`` (degrees)."""
        alpha, beta, d = alpha.double(), beta.double(), self.margin
        lo = torch.clamp((alpha - beta).abs() + d, min=self.lo)
        hi = torch.minimum(alpha + beta - d, 360.0 - alpha - beta - d).clamp(max=self.hi)
        return lo, hi


def _log_width(width: torch.Tensor | float) -> torch.Tensor:
    return torch.log(torch.clamp(torch.as_tensor(width, dtype=_F64), min=TINY_WIDTH))


class CellMap:
    """Affine maps between ``u ∈ [0, 1]⁶`` and lattice parameters for given ranges.

    Args:
        lengths: ``(min_length, max_length)`` in Å.
        angles: ``(min_angle, max_angle)`` in degrees, inside ``[δ, 180 − δ]``.
    """

    def __init__(
        self,
        lengths: tuple[float, float],
        angles: tuple[float, float],
        triclinic_margin: float = ANGLE_MARGIN,
        monoclinic: tuple[float, float] | None = None,
        rhombohedral: tuple[float, float] | None = None,
    ):
        self.lengths = (float(lengths[0]), float(lengths[1]))
        self.angles = (float(angles[0]), float(angles[1]))
        lo, hi = self.angles
        # The three overrides narrow the angle regions of the systems with free angles (the
        # plausibility envelope keeps near-flat cells out this way; see crystalgfn_lattice.
        # plausible); by default they are the ranges themselves.
        self.triclinic = TriclinicRegion(lo, hi, triclinic_margin)
        self.monoclinic = tuple(monoclinic) if monoclinic is not None else self.angles
        self.rhombohedral = (
            tuple(rhombohedral) if rhombohedral is not None else (lo, min(hi, 120.0 - ANGLE_MARGIN))
        )
        self.feasible = tuple(s for s in range(len(SPECS)) if self._possible(s))

    def _possible(self, system: int) -> bool:
        lo, hi = self.angles
        if system == TRICLINIC:
            return self.triclinic.feasible
        if system == RHOMBOHEDRAL:
            return self.rhombohedral[1] - self.rhombohedral[0] > MIN_WIDTH
        if system == MONOCLINIC:
            return self.monoclinic[1] - self.monoclinic[0] > MIN_WIDTH and lo <= 90.0 <= hi
        needed = [90.0] + ([120.0] if system in (TRIGONAL_HEXAGONAL, HEXAGONAL) else [])
        return all(lo <= v <= hi for v in needed)

    def why_impossible(self, system: int) -> str:
        """A sentence explaining why ``system`` has no cell under these ranges."""
        lo, hi = self.angles
        if system == TRICLINIC:
            return (
                f"no angle triple in [{lo:g}, {hi:g}] degrees satisfies the triangle inequalities "
                f"with margin {self.triclinic.margin:g} (each angle < sum of the others, sum < 360)"
            )
        if system == RHOMBOHEDRAL and lo >= 120.0 - ANGLE_MARGIN:
            return f"it needs alpha < {120 - ANGLE_MARGIN:g} degrees but min_angle is {lo:g}"
        if system == RHOMBOHEDRAL or (system == MONOCLINIC and lo <= 90.0 <= hi):
            a_lo, a_hi = self.angle_interval(system)
            return f"its free angle's interval [{a_lo:g}, {a_hi:g}] degrees is empty"
        needed = "90 and 120" if system in (TRIGONAL_HEXAGONAL, HEXAGONAL) else "90"
        return f"its fixed angles ({needed} degrees) are outside the angle range [{lo:g}, {hi:g}]"

    def angle_interval(self, system: int) -> tuple[float, float]:
        """Interval of the single free angle of monoclinic (β) or rhombohedral (α)."""
        return self.rhombohedral if system == RHOMBOHEDRAL else self.monoclinic

    # -- maps ---------------------------------------------------------------------------------
    def to_lattice(self, system: int, u: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Lattices ``(n, 6)`` float64 (Å, degrees) of the unit parameters ``u`` ``(n, 6)`` of
        ``system``, and the log-Jacobian ``(n,)`` float64 of the map on the free slots."""
        u = u.to(_F64)
        spec = SPECS[system]
        free = torch.zeros_like(u)
        log_jac = torch.zeros(u.shape[0], dtype=_F64, device=u.device)
        l_lo, l_hi = self.lengths
        for k in spec.free:
            if k < 3:
                free[:, k] = l_lo + (l_hi - l_lo) * u[:, k]
                log_jac = log_jac + math.log(l_hi - l_lo)
        if system == TRICLINIC:
            region = self.triclinic
            a_lo, a_hi = region.alpha
            free[:, 3] = a_lo + (a_hi - a_lo) * u[:, 3]
            b_lo, b_hi = region.beta_bounds(free[:, 3])
            free[:, 4] = b_lo + (b_hi - b_lo) * u[:, 4]
            g_lo, g_hi = region.gamma_bounds(free[:, 3], free[:, 4])
            free[:, 5] = g_lo + (g_hi - g_lo) * u[:, 5]
            log_jac = (
                log_jac + math.log(a_hi - a_lo) + _log_width(b_hi - b_lo) + _log_width(g_hi - g_lo)
            )
        elif system in (MONOCLINIC, RHOMBOHEDRAL):
            k = 4 if system == MONOCLINIC else 3
            lo, hi = self.angle_interval(system)
            free[:, k] = lo + (hi - lo) * u[:, k]
            log_jac = log_jac + math.log(hi - lo)
        return _assemble(system, free), log_jac

    def to_unit(self, system: int, lattice: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Inverse of :meth:`to_lattice`: unit parameters ``(n, 6)`` float64 (``0.5`` in the
        slots ``system`` ignores) and the log-Jacobian ``(n,)`` of the forward map."""
        x = lattice.to(_F64)
        spec = SPECS[system]
        u = torch.full_like(x, 0.5)
        log_jac = torch.zeros(x.shape[0], dtype=_F64, device=x.device)
        l_lo, l_hi = self.lengths
        for k in spec.free:
            if k < 3:
                u[:, k] = (x[:, k] - l_lo) / (l_hi - l_lo)
                log_jac = log_jac + math.log(l_hi - l_lo)
        if system == TRICLINIC:
            region = self.triclinic
            a_lo, a_hi = region.alpha
            u[:, 3] = (x[:, 3] - a_lo) / (a_hi - a_lo)
            b_lo, b_hi = region.beta_bounds(x[:, 3])
            u[:, 4] = (x[:, 4] - b_lo) / (b_hi - b_lo)
            g_lo, g_hi = region.gamma_bounds(x[:, 3], x[:, 4])
            u[:, 5] = (x[:, 5] - g_lo) / (g_hi - g_lo)
            log_jac = (
                log_jac + math.log(a_hi - a_lo) + _log_width(b_hi - b_lo) + _log_width(g_hi - g_lo)
            )
        elif system in (MONOCLINIC, RHOMBOHEDRAL):
            k = 4 if system == MONOCLINIC else 3
            lo, hi = self.angle_interval(system)
            u[:, k] = (x[:, k] - lo) / (hi - lo)
            log_jac = log_jac + math.log(hi - lo)
        return u, log_jac

    # -- checks -------------------------------------------------------------------------------
    def angle_excess(self, system: int, lattice: torch.Tensor) -> torch.Tensor:
        """Float64 ``(n,)``: how far (degrees) the free angles of rows of ``lattice`` lie
        outside their (conditional) intervals; ``0`` inside."""
        x = lattice.to(_F64)
        excess = torch.zeros(x.shape[0], dtype=_F64, device=x.device)

        def outside(value, lo, hi):
            return torch.clamp(torch.maximum(lo - value, value - hi), min=0.0)

        if system == TRICLINIC:
            region = self.triclinic
            a_lo, a_hi = region.alpha
            excess = outside(
                x[:, 3], torch.tensor(a_lo, dtype=_F64), torch.tensor(a_hi, dtype=_F64)
            )
            excess = torch.maximum(excess, outside(x[:, 4], *region.beta_bounds(x[:, 3])))
            excess = torch.maximum(excess, outside(x[:, 5], *region.gamma_bounds(x[:, 3], x[:, 4])))
        elif system in (MONOCLINIC, RHOMBOHEDRAL):
            k = 4 if system == MONOCLINIC else 3
            lo, hi = (torch.tensor(v, dtype=_F64) for v in self.angle_interval(system))
            excess = outside(x[:, k], lo, hi)
        return excess

    def clamp(self, system: int, lattice: torch.Tensor) -> torch.Tensor:
        """``lattice`` (float64 copy) with free parameters clamped into their intervals, in
        sampling order; values already inside are returned unchanged, bit for bit."""
        x = lattice.to(_F64).clone()
        free = FREE_MASK[system]
        lengths = x[:, :3].clamp(*self.lengths)
        x[:, :3] = torch.where(free[:3].to(x.device), lengths, x[:, :3])
        if system == TRICLINIC:
            region = self.triclinic
            x[:, 3] = x[:, 3].clamp(*region.alpha)
            x[:, 4] = torch.clamp(x[:, 4], *region.beta_bounds(x[:, 3]))
            x[:, 5] = torch.clamp(x[:, 5], *region.gamma_bounds(x[:, 3], x[:, 4]))
        elif system in (MONOCLINIC, RHOMBOHEDRAL):
            k = 4 if system == MONOCLINIC else 3
            x[:, k] = x[:, k].clamp(*self.angle_interval(system))
        return _assemble(system, x)


def _assemble(system: int, free: torch.Tensor) -> torch.Tensor:
    """Full lattices ``(n, 6)`` from the values of the free slots (other columns ignored)."""
    out = torch.empty_like(free)
    for column, source in enumerate(SPECS[system].source):
        out[:, column] = free[:, source] if isinstance(source, int) else source
    return out


__all__ = ["ANGLE_MARGIN", "CellMap", "MIN_WIDTH", "TINY_WIDTH", "TriclinicRegion"]
