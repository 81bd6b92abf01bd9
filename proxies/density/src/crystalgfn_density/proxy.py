"""Exact mass density of a unit cell: ρ = Σ_Z counts_Z · m_Z / V.

* masses: standard atomic masses from :func:`crystalgfn.elements.atomic_masses` (g/mol);
* volume: the triclinic formula
  ``V = a b c sqrt(1 − cos²α − cos²β − cos²γ + 2 cosα cosβ cosγ)`` (Å³);
* unit conversion: 1 g/mol / Å³ = 10²⁴ / N_A g/cm³ = 1 / 0.602214076 g/cm³.

All arithmetic is float64; the result is returned as float64 ``(batch,)``. A lattice with no
volume (degenerate angles) gives ``inf`` (or ``nan`` for an empty cell in a degenerate lattice).
Tensors of the wrong shape raise ``ValueError`` naming the shape received and the one expected.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from crystalgfn.elements import atomic_masses
from crystalgfn.proxy import Proxy

#: N_A × 10⁻²⁴ (mol⁻¹ · cm³/Å³).
AVOGADRO_E_MINUS_24 = 0.602214076


def cell_volume(lattice: torch.Tensor) -> torch.Tensor:
    """Cell volume in Å³ (float64) of ``(batch, 6)`` a, b, c (Å), α, β, γ (°)."""
    if lattice.shape[-1:] != (6,):
        raise ValueError(
            f"lattice must have shape (batch, 6) holding a, b, c, alpha, beta, gamma; "
            f"got shape {tuple(lattice.shape)}"
        )
    lat = lattice.to(torch.float64)
    cos = torch.cos(torch.deg2rad(lat[..., 3:6]))
    ca, cb, cg = cos.unbind(-1)
    factor = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg
    return lat[..., 0] * lat[..., 1] * lat[..., 2] * torch.sqrt(torch.clamp(factor, min=0.0))


def density(composition: torch.Tensor, lattice: torch.Tensor) -> torch.Tensor:
    """Density in g/cm³ (float64) of cells with ``(batch, 119)`` atom counts indexed by Z."""
    width = atomic_masses().shape[0]
    if composition.ndim != 2 or composition.shape[1] != width:
        raise ValueError(
            f"composition must have shape (batch, {width}) of atom counts indexed by Z; "
            f"got shape {tuple(composition.shape)}"
        )
    counts = composition.to(torch.float64)
    masses = atomic_masses(dtype=torch.float64, device=counts.device)
    mass = counts @ masses
    return mass / (cell_volume(lattice.to(counts.device)) * AVOGADRO_E_MINUS_24)


class Density(Proxy):
    """Mass density of the unit cell, g/cm³ (exact, no model)."""

    name = "density"
    requires = ("composition", "lattice")
    unit = "g/cm³"

    def __init__(self, device: torch.device | str | None = None):
        self.device = None if device is None else torch.device(device)

    def to(self, device: torch.device | str) -> Density:
        self.device = torch.device(device)
        return self

    def predict(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        comp, lat = batch["composition"], batch["lattice"]
        if self.device is not None:
            comp, lat = comp.to(self.device), lat.to(self.device)
        return density(comp, lat)
