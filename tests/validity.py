"""Independent validity checks of sampled crystals, used by the integration tests."""

from __future__ import annotations

import math

import torch
from crystalgfn.elements import symbols
from crystalgfn_spacegroup.tables import space_group
from crystalgfn_spacegroup.wyckoff import wyckoff_assignment

ANGLE_TOLERANCE = 1e-4  # degrees
LENGTH_TOLERANCE = 1e-6  # relative


def formula_dict(row: list[float]) -> dict[str, int]:
    names = symbols()
    return {names[z]: int(n) for z, n in enumerate(row) if n}


def lattice_consistent(system: str, lattice: list[float]) -> bool:
    """Whether ``a, b, c, alpha, beta, gamma`` obey the constraints of ``system``."""
    a, b, c, alpha, beta, gamma = lattice

    def same(x, y):
        return abs(x - y) <= LENGTH_TOLERANCE * max(abs(x), abs(y))

    def angle(x, value):
        return abs(x - value) <= ANGLE_TOLERANCE

    rules = {
        "triclinic": True,
        "monoclinic": angle(alpha, 90) and angle(gamma, 90),
        "orthorhombic": angle(alpha, 90) and angle(beta, 90) and angle(gamma, 90),
        "tetragonal": same(a, b) and angle(alpha, 90) and angle(beta, 90) and angle(gamma, 90),
        "trigonal-rhombohedral": (
            same(a, b) and same(b, c) and angle(alpha, beta) and angle(beta, gamma)
        ),
        "trigonal-hexagonal": (
            same(a, b) and angle(alpha, 90) and angle(beta, 90) and angle(gamma, 120)
        ),
        "hexagonal": same(a, b) and angle(alpha, 90) and angle(beta, 90) and angle(gamma, 120),
        "cubic": (
            same(a, b) and same(b, c) and angle(alpha, 90) and angle(beta, 90) and angle(gamma, 90)
        ),
    }
    cosines = [math.cos(math.radians(x)) for x in (alpha, beta, gamma)]
    factor = 1 - sum(x * x for x in cosines) + 2 * cosines[0] * cosines[1] * cosines[2]
    return bool(rules[system]) and factor > 0 and min(a, b, c) > 0


def check_crystals(values: dict[str, torch.Tensor]) -> dict[str, int]:
    """Counts of crystals failing each independent check (SMACT, Wyckoff witness, lattice)."""
    from smact.screening import smact_validity

    failures = {"smact": 0, "wyckoff": 0, "lattice": 0}
    smact_cache: dict[tuple, bool] = {}
    for group, row, lattice in zip(
        values["spacegroup"].tolist(),
        values["composition"].tolist(),
        values["lattice"].tolist(),
        strict=True,
    ):
        comp = formula_dict(row)
        key = tuple(sorted(comp.items()))
        if key not in smact_cache:
            smact_cache[key] = smact_validity("".join(f"{el}{n}" for el, n in key))
        failures["smact"] += not smact_cache[key]
        witness = wyckoff_assignment(group, list(comp.values()))
        failures["wyckoff"] += witness is None
        failures["lattice"] += not lattice_consistent(space_group(group).lattice_system, lattice)
    return failures
