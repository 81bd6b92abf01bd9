"""The 8 lattice systems and which of the 6 lattice parameters each one leaves free.

Lattice parameters are always the 6 columns ``a, b, c`` (Å) and ``α, β, γ`` (degrees), in
this order; column ``k`` is also *slot* ``k`` of the unit-interval action parameters (see
:mod:`crystalgfn_lattice.cellmap`). A system's parameters are either free (sampled), tied to
a free one (``b = a``) or fixed (``α = 90``).

The order of :data:`LATTICE_SYSTEMS` is shared with the space-group plugin: the index of a
system is the value stored in the ``"system"`` entry of a lattice state.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from crystalgfn.errors import ConfigError
from crystalgfn.parts import LATTICE_SYSTEMS  # the 8 lattice systems, in the shared order

(
    TRICLINIC,
    MONOCLINIC,
    ORTHORHOMBIC,
    TETRAGONAL,
    RHOMBOHEDRAL,
    TRIGONAL_HEXAGONAL,
    HEXAGONAL,
    CUBIC,
) = range(8)

PARAMETER_NAMES = ("a", "b", "c", "alpha", "beta", "gamma")


@dataclass(frozen=True)
class SystemSpec:
    """How one lattice system builds its 6 parameters.

    Attributes:
        name: the system's name in :data:`LATTICE_SYSTEMS`.
        free: sampled slots (indices into ``a, b, c, α, β, γ``), ascending.
        source: for each of the 6 parameters, the free slot whose value it takes (an
            ``int``), or its fixed value in degrees (a ``float``).
    """

    name: str
    free: tuple[int, ...]
    source: tuple[int | float, ...]

    def fixed(self) -> dict[int, float]:
        """Column → fixed value (degrees) of the fixed angles."""
        return {k: v for k, v in enumerate(self.source) if isinstance(v, float)}

    def tied(self) -> dict[int, int]:
        """Column → free slot it copies, for tied parameters (e.g. ``b`` of tetragonal)."""
        return {k: v for k, v in enumerate(self.source) if isinstance(v, int) and v != k}


SPECS: tuple[SystemSpec, ...] = (
    SystemSpec("triclinic", (0, 1, 2, 3, 4, 5), (0, 1, 2, 3, 4, 5)),
    SystemSpec("monoclinic", (0, 1, 2, 4), (0, 1, 2, 90.0, 4, 90.0)),
    SystemSpec("orthorhombic", (0, 1, 2), (0, 1, 2, 90.0, 90.0, 90.0)),
    SystemSpec("tetragonal", (0, 2), (0, 0, 2, 90.0, 90.0, 90.0)),
    SystemSpec("trigonal-rhombohedral", (0, 3), (0, 0, 0, 3, 3, 3)),
    SystemSpec("trigonal-hexagonal", (0, 2), (0, 0, 2, 90.0, 90.0, 120.0)),
    SystemSpec("hexagonal", (0, 2), (0, 0, 2, 90.0, 90.0, 120.0)),
    SystemSpec("cubic", (0,), (0, 0, 0, 90.0, 90.0, 90.0)),
)
"""One :class:`SystemSpec` per entry of :data:`LATTICE_SYSTEMS`, same order."""

#: Bool ``(8, 6)``: ``FREE_MASK[s, k]`` is true when slot ``k`` is free in system ``s``.
FREE_MASK = torch.tensor([[k in spec.free for k in range(6)] for spec in SPECS])

#: Systems from the most to the least specific: the order in which
#: :func:`infer_systems` tries them (hexagonal before trigonal-hexagonal unless preferred).
SPECIFICITY = (
    CUBIC,
    RHOMBOHEDRAL,
    TETRAGONAL,
    HEXAGONAL,
    TRIGONAL_HEXAGONAL,
    ORTHORHOMBIC,
    MONOCLINIC,
    TRICLINIC,
)


def system_index(system: str | int) -> int:
    """Index in :data:`LATTICE_SYSTEMS` of a system given by name or index.

    Raises :class:`ConfigError` naming the accepted values.
    """
    if isinstance(system, str) and system in LATTICE_SYSTEMS:
        return LATTICE_SYSTEMS.index(system)
    if (
        isinstance(system, int)
        and not isinstance(system, bool)
        and 0 <= system < len(LATTICE_SYSTEMS)
    ):
        return system
    raise ConfigError(
        f"unknown lattice_system {system!r}; accepted: one of {list(LATTICE_SYSTEMS)} "
        f"or its index 0-{len(LATTICE_SYSTEMS) - 1}"
    )


def pattern_error(system: int, lattice: torch.Tensor, rtol: float, atol_deg: float) -> torch.Tensor:
    """Bool ``(n,)``: rows of ``lattice`` ``(n, 6)`` (Å, degrees) that break the ties and fixed
    angles of ``system``, beyond a relative tolerance ``rtol`` on lengths and an absolute
    tolerance ``atol_deg`` (degrees) on angles. Ranges are not checked here."""
    lattice = lattice.double()
    bad = torch.zeros(lattice.shape[0], dtype=torch.bool, device=lattice.device)
    for column, slot in SPECS[system].tied().items():
        diff = (lattice[:, column] - lattice[:, slot]).abs()
        if column < 3:
            bad |= diff > rtol * lattice[:, slot].abs()
        else:
            bad |= diff > atol_deg
    for column, value in SPECS[system].fixed().items():
        bad |= (lattice[:, column] - value).abs() > atol_deg
    return bad


def canonicalize(system: int, lattice: torch.Tensor) -> torch.Tensor:
    """Copy of ``lattice`` ``(n, 6)`` with tied parameters set exactly to their free slot and
    fixed angles set exactly to their value (float64)."""
    out = lattice.double().clone()
    for column, slot in SPECS[system].tied().items():
        out[:, column] = out[:, slot]
    for column, value in SPECS[system].fixed().items():
        out[:, column] = value
    return out
