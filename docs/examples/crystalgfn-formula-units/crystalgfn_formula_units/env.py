"""The number of formula units per cell, Z, chosen in one step among ``1..max_z``.

State (batch ``B``): ``z`` int64 ``(B,)``, 0 while unset. Action ``a`` sets ``Z = a + 1``.
"""

from __future__ import annotations

import torch
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError, InfeasibleError


class FormulaUnitsEnv(Environment):
    """Pick Z in ``1..max_z``, optionally among ``units`` only."""

    name = "formula_units"
    provides = ("formula_units",)
    restrictions = ("max_units", "units")

    def __init__(self, max_z: int = 8, units=None):
        if isinstance(max_z, bool) or not isinstance(max_z, int) or max_z < 1:
            raise ConfigError(f"formula_units: max_z must be an integer >= 1, got {max_z!r}")
        self.max_z = max_z
        self.units = _units(units, max_z) if units is not None else tuple(range(1, max_z + 1))
        self.n_actions = max_z
        self.encoding_dim = max_z + 1
        self.max_steps = 1
        self.allowed = torch.zeros(max_z, dtype=torch.bool)
        self.allowed[[z - 1 for z in self.units]] = True

    def restrict(self, max_units=None, units=None) -> FormulaUnitsEnv:
        """A copy with the same actions (so the same policy applies) and fewer allowed Z."""
        keep = set(self.units)
        if units is not None:
            keep &= set(_units(units, self.max_z))
        if max_units is not None:
            keep = {z for z in keep if z <= int(max_units)}
        if not keep:
            raise InfeasibleError(
                f"formula_units: max_units={max_units!r}, units={units!r} leave none of "
                f"Z in {list(self.units)}"
            )
        return FormulaUnitsEnv(self.max_z, sorted(keep))

    def source(self, batch_size, device="cpu"):
        return {"z": torch.zeros(batch_size, dtype=torch.long, device=device)}

    def is_done(self, state):
        return state["z"] > 0

    def is_source(self, state):
        return state["z"] == 0

    def forward_mask(self, state):
        allowed = self.allowed.to(state["z"].device)
        return allowed[None, :] & self.is_source(state)[:, None]

    def backward_mask(self, state):
        z = state["z"]
        columns = torch.arange(1, self.max_z + 1, device=z.device)
        return columns[None, :] == z[:, None]

    def step(self, state, actions, params=None):
        return {**state, "z": actions + 1}

    def step_back(self, state, actions):
        return {**state, "z": torch.zeros_like(state["z"])}, None

    def encode(self, state):
        return torch.nn.functional.one_hot(state["z"], self.max_z + 1).float()

    def values(self, state):
        return {"formula_units": state["z"].clone()}

    def from_values(self, values):
        z = values["formula_units"].long()
        if not bool(self.validity(values)["allowed_formula_units"].all()):
            raise ValueError(
                f"formula_units: Z must be one of {list(self.units)}, got {z.tolist()}"
            )
        return {"z": z.clone()}

    def validity(self, values):
        z = values["formula_units"].long()
        inside = (z >= 1) & (z <= self.max_z)
        allowed = self.allowed.to(z.device)[(z - 1).clamp(0, self.max_z - 1)]
        return {"allowed_formula_units": inside & allowed}

    def describe(self, values):
        return {"Z": values["formula_units"].tolist()}


def _units(units, max_z: int) -> tuple[int, ...]:
    """``units`` (ints, or strings such as ``"1,2,4"`` from the command line) as sorted Z."""
    if isinstance(units, (str, int)):
        units = str(units).split(",")
    try:
        numbers = sorted({int(str(z).strip()) for z in units})
    except (TypeError, ValueError):
        raise ConfigError(f"formula_units: units must be integers, got {units!r}") from None
    if not numbers or numbers[0] < 1 or numbers[-1] > max_z:
        raise ConfigError(f"formula_units: units must lie in 1..{max_z}, got {units!r}")
    return tuple(numbers)
