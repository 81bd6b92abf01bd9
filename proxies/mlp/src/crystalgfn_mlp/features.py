"""Featurisation of ``(spacegroup, composition, lattice)`` batches into MLP inputs.

Everything is computed from the batch itself (no atomic positions), in torch, batched, on the
batch's device. A batch of ``B`` crystals becomes a :class:`Features` tuple:

``spacegroup`` (B,) int64
    Space-group index 0–229 (international number − 1). The network looks it up in a learned
    230-row embedding, i.e. a one-hot encoding times a weight matrix.

``elements`` (B, K) int64 and ``fractions`` (B, K) float32
    The K (≤ number of distinct elements in the batch's richest crystal) present elements and
    their atomic fractions ``counts / Σ counts``; padding entries have fraction 0. The network
    multiplies a learned 119-row element embedding by the fractions and sums, which equals a
    linear layer over the 119 composition fractions but costs K gathers instead of a dense
    119-column product.

``dense`` (B, D) float32, :data:`DENSE_NAMES` (D = 49):

* crystal-system one-hot (7, from the space-group number);
* lattice: ln a, ln b, ln c; the same three sorted (a/b/c labels are setting-dependent);
  cos α, cos β, cos γ;
* cell: ln V (triclinic volume formula, float64), ln(V/N) (volume per atom), ln N (atoms in
  the conventional cell), number of distinct elements, density (g/cm³, Σ counts·mass / V),
  packing fraction Σ counts·(4/3)π r³ / V (r: element atomic radius);
* composition: largest and smallest atomic fraction, ‖fractions‖₂;
* element descriptors (row, group, Pauling electronegativity, atomic radius, Mendeleev number,
  block, atomic mass): fraction-weighted mean and standard deviation, minimum and maximum
  over the present elements (4 × 7 = 28).

The dense block is standardised with training-set means and standard deviations stored next to
the weights (see :class:`crystalgfn_mlp.model.CrystalMLP`).
"""

from __future__ import annotations

import functools
import json
import math
from importlib import resources
from typing import NamedTuple

import torch
from crystalgfn.elements import atomic_masses

CRYSTAL_SYSTEM_LAST = (2, 15, 74, 142, 167, 194, 230)
ELEMENT_PROPERTIES = ("row", "group", "electronegativity", "atomic_radius", "mendeleev_number",
                      "block")
ELEMENT_STAT_PROPERTIES = ELEMENT_PROPERTIES + ("atomic_mass",)
#: Avogadro's constant × 1e-24: g/mol per Å³ → g/cm³ is 1 / 0.60221408.
_GMOL_PER_A3_TO_G_CM3 = 1.0 / 0.602214076

DENSE_NAMES: tuple[str, ...] = (
    tuple(f"crystal_system_{i}" for i in range(7))
    + ("ln_a", "ln_b", "ln_c", "ln_len_min", "ln_len_mid", "ln_len_max",
       "cos_alpha", "cos_beta", "cos_gamma",
       "ln_volume", "ln_volume_per_atom", "ln_atoms", "n_elements", "density", "packing",
       "frac_max", "frac_min", "frac_norm")
    + tuple(f"{stat}_{p}" for p in ELEMENT_STAT_PROPERTIES
            for stat in ("mean", "std", "min", "max"))
)


class Features(NamedTuple):
    spacegroup: torch.Tensor  # (B,) int64, 0..229
    elements: torch.Tensor  # (B, K) int64, Z
    fractions: torch.Tensor  # (B, K) float32
    dense: torch.Tensor  # (B, D) float32 (not yet standardised)

    def to(self, device) -> Features:
        return Features(*(t.to(device) for t in self))

    def index(self, idx) -> Features:
        return Features(*(t[idx] for t in self))


@functools.cache
def element_table() -> torch.Tensor:
    """(119, P) float64 element descriptors (:data:`ELEMENT_STAT_PROPERTIES`); row 0 unused."""
    raw = json.loads(resources.files("crystalgfn_mlp").joinpath(
        "data/element_properties.json").read_text())
    table = torch.zeros(119, len(ELEMENT_STAT_PROPERTIES), dtype=torch.float64)
    for j, prop in enumerate(ELEMENT_PROPERTIES):
        table[1:, j] = torch.tensor(raw["values"][prop], dtype=torch.float64)
    table[:, -1] = atomic_masses()
    return table


_RADIUS = ELEMENT_STAT_PROPERTIES.index("atomic_radius")


def element_table32(device) -> torch.Tensor:
    """:func:`element_table` as float32 on ``device`` (cached per device)."""
    key = str(device)
    cached = _TABLE32.get(key)
    if cached is None:
        cached = _TABLE32[key] = element_table().to(device=device, dtype=torch.float32)
    return cached


_TABLE32: dict[str, torch.Tensor] = {}


def _crystal_system_index(spacegroup: torch.Tensor) -> torch.Tensor:
    bounds = torch.tensor(CRYSTAL_SYSTEM_LAST, device=spacegroup.device)
    return torch.bucketize(spacegroup, bounds, right=False)


def cell_volume(lattice: torch.Tensor) -> torch.Tensor:
    """Volume (Å³, float64) from ``(B, 6)`` a, b, c, α, β, γ (triclinic formula)."""
    lat = lattice.to(torch.float64)
    cos = torch.cos(torch.deg2rad(lat[:, 3:6]))
    ca, cb, cg = cos.unbind(-1)
    factor = 1.0 - ca * ca - cb * cb - cg * cg + 2.0 * ca * cb * cg
    return lat[:, 0] * lat[:, 1] * lat[:, 2] * torch.sqrt(torch.clamp(factor, min=0.0))


def featurize(batch) -> Features:
    """:class:`Features` of a batch mapping ``spacegroup``, ``composition``, ``lattice``.

    Composition statistics are computed in float32 (counts are exact small integers), the
    cell volume in float64.
    """
    sg = batch["spacegroup"].to(torch.int64).reshape(-1)
    counts = batch["composition"].to(torch.float32)
    lattice = batch["lattice"]
    device = counts.device
    bsz = counts.shape[0]

    n_present = (counts > 0).sum(1)
    k = max(int(n_present.max()) if bsz else 1, 1)
    top_counts, elements = torch.topk(counts, k, dim=1, sorted=True)  # (B, K)
    present = top_counts > 0
    n_atoms = top_counts.sum(1)
    safe_atoms = torch.clamp(n_atoms, min=1e-12)
    frac = top_counts / safe_atoms[:, None]  # (B, K)

    table = element_table32(device)
    props = table[elements]  # (B, K, P)
    w = frac[:, :, None]
    mean = (w * props).sum(1)
    std = torch.sqrt(torch.clamp((w * (props - mean[:, None, :]) ** 2).sum(1), min=0.0))
    # top-k is sorted by count, so the present elements come first and entry 0 is present
    # whenever the cell is not empty: pad absent entries with entry 0's values for min/max.
    filled = torch.where(present[:, :, None], props, props[:, :1, :])
    pmin = filled.amin(1)
    pmax = filled.amax(1)

    volume = torch.clamp(cell_volume(lattice), min=1e-6)  # float64
    mass = (top_counts * props[:, :, -1]).sum(1).to(torch.float64)
    radius = props[:, :, _RADIUS]
    atom_volume = (top_counts * radius ** 3).sum(1).to(torch.float64) * (4.0 / 3.0 * math.pi)
    volume32 = volume.to(torch.float32)

    ln_len = torch.log(torch.clamp(lattice[:, :3].to(torch.float32), min=1e-6))
    ln_sorted = torch.sort(ln_len, dim=1).values
    cos = torch.cos(torch.deg2rad(lattice[:, 3:6].to(torch.float32)))

    system = torch.nn.functional.one_hot(_crystal_system_index(sg), 7).to(torch.float32)
    frac_min = torch.where(present, frac, frac[:, :1]).amin(1)
    stats = torch.stack([mean, std, pmin, pmax], dim=2).reshape(bsz, 4 * table.shape[1])

    dense = torch.cat([
        system,
        ln_len, ln_sorted, cos,
        torch.stack([
            torch.log(volume32), torch.log(volume32 / safe_atoms), torch.log(safe_atoms),
            n_present.to(torch.float32),
            (mass / volume * _GMOL_PER_A3_TO_G_CM3).to(torch.float32),
            (atom_volume / volume).to(torch.float32),
            frac[:, 0], frac_min, torch.linalg.vector_norm(frac, dim=1),
        ], dim=1),
        stats,
    ], dim=1)
    return Features(
        spacegroup=torch.clamp(sg - 1, 0, 229),
        elements=elements,
        fractions=frac,
        dense=dense,
    )


def to_flat(features: Features) -> torch.Tensor:
    """Dense ``(B, D + 119 + 1)`` matrix: dense block, the 119 composition fractions and the
    space-group number (for tree models such as the gradient-boosting baseline)."""
    bsz = features.dense.shape[0]
    frac119 = torch.zeros(bsz, 119, dtype=torch.float32, device=features.dense.device)
    frac119.scatter_add_(1, features.elements, features.fractions)
    return torch.cat([features.dense, frac119, (features.spacegroup + 1)[:, None].float()], 1)
