"""Unit-cell geometry from lattice parameters, batched."""

from __future__ import annotations

import torch


def volume_factor(lattice: torch.Tensor) -> torch.Tensor:
    """``1 − cos²α − cos²β − cos²γ + 2 cos α cos β cos γ`` for lattices ``(batch, 6)``.

    Angles in degrees. The cell is real (non-degenerate) exactly when this is positive; the
    volume is ``a·b·c·sqrt(volume_factor)``. Computed in float64.
    """
    cos = torch.cos(torch.deg2rad(lattice[:, 3:6].double()))
    ca, cb, cg = cos.unbind(dim=1)
    return 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg


def cell_volume(lattice: torch.Tensor, strict: bool = True) -> torch.Tensor:
    """Cell volumes in Å³, float64 ``(batch,)``, of lattices ``(batch, 6)`` (Å, degrees).

    An angle triple that gives no real cell raises ``ValueError`` (``strict``) or gives NaN.
    """
    factor = volume_factor(lattice)
    if not strict:
        volume = lattice[:, :3].double().prod(dim=1) * factor.clamp(min=0).sqrt()
        return torch.where(factor > 0, volume, torch.full_like(volume, float("nan")))
    if bool((factor <= 0).any()):
        bad = lattice[factor <= 0][0].tolist()
        raise ValueError(f"lattice {bad} (a, b, c, alpha, beta, gamma) has no real cell volume")
    return lattice[:, :3].double().prod(dim=1) * factor.sqrt()
