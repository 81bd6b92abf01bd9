"""The space-group environment: crystal-lattice system, point symmetry, then space group.

As in the Crystal-GFN paper, the policy first fixes the crystal-lattice system (8 values) and
the point-symmetry class (5 values), in either order, then picks a space group consistent
with both. Every space group is therefore reached by exactly two trajectories. The masks only
offer lattice systems and point symmetries for which an allowed group remains.

State tensors (batch ``B``):

* ``lattice_system`` int64 ``(B,)``: index into :data:`LATTICE_SYSTEMS`, -1 if unset;
* ``point_symmetry`` int64 ``(B,)``: index into :data:`POINT_SYMMETRIES`, -1 if unset;
* ``space_group`` int64 ``(B,)``: international number 1–230, 0 if unset;
* ``allowed`` bool ``(B, 231)``: groups this row may still take (column 0 unused); a
  cross-environment constraint (e.g. from an earlier composition) narrows it per row.

Actions: ``0..7`` set the lattice system, ``8..12`` the point symmetry, ``13..242`` the space
group ``action - 12``.
"""

from __future__ import annotations

import re
from collections.abc import Iterable

import torch
from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn.interfaces import GroupChoiceSource
from crystalgfn.states import State

from crystalgfn_spacegroup.tables import (
    CRYSTAL_SYSTEMS,
    LATTICE_SYSTEMS,
    N_SPACE_GROUPS,
    POINT_SYMMETRIES,
    crystal_system_of,
    lattice_system_of,
    point_symmetry_of,
    space_group,
)

N_LATTICE = len(LATTICE_SYSTEMS)
N_POINT = len(POINT_SYMMETRIES)
FIRST_GROUP_ACTION = N_LATTICE + N_POINT


def parse_space_groups(spec: str | int | Iterable[int | str]) -> list[int]:
    """International numbers from ``"195-230"``, ``"1,2,10-15"``, ``225`` or a list of those.

    Raises :class:`ConfigError` naming the bad item and the accepted forms.
    """
    items: Iterable = (
        spec.split(",") if isinstance(spec, str) else ([spec] if isinstance(spec, int) else spec)
    )
    numbers: set[int] = set()
    for item in items:
        text = str(item).strip()
        match = re.fullmatch(r"(\d+)\s*(?:-\s*(\d+))?", text)
        if match is None:
            raise ConfigError(
                f"cannot read space groups {text!r}: use numbers and ranges such as "
                "'195-230' or '1,2,10-15'"
            )
        low = int(match.group(1))
        high = int(match.group(2) or low)
        if not 1 <= low <= high <= N_SPACE_GROUPS:
            raise ConfigError(
                f"space-group range {text!r} must lie within 1-{N_SPACE_GROUPS} with low <= high"
            )
        numbers.update(range(low, high + 1))
    return sorted(numbers)


def _systems(name: str, values: Iterable[str] | str, accepted: tuple[str, ...]) -> list[str]:
    if isinstance(values, str):
        values = [v.strip() for v in values.split(",") if v.strip()]
    if not isinstance(values, (list, tuple)) or not all(isinstance(v, str) for v in values):
        raise ConfigError(
            f"{name} must be names such as {list(accepted[:2])} or a string "
            f"{','.join(accepted[:2])!r}, got {values!r}; accepted: {list(accepted)}"
        )
    values = list(values)
    unknown = [v for v in values if v not in accepted]
    if unknown:
        raise ConfigError(f"unknown {name} {unknown}; accepted: {list(accepted)}")
    return values


class SpaceGroupEnv(Environment, GroupChoiceSource):
    """All 230 space groups, or any subset.

    Args:
        space_groups: allowed international numbers (``"195-230"``, a list, ...); default all.
        crystal_systems: keep only groups of these crystal systems (the 7 of ITA).
        lattice_systems: keep only groups of these crystal-lattice systems (the 8 of the paper).
    """

    name = "spacegroup"
    provides = ("spacegroup",)
    restrictions = ("space_groups", "crystal_systems", "lattice_systems")

    def __init__(self, space_groups=None, crystal_systems=None, lattice_systems=None):
        allowed = torch.zeros(N_SPACE_GROUPS + 1, dtype=torch.bool)
        allowed[1:] = True
        if space_groups is not None:
            allowed[:] = False
            allowed[parse_space_groups(space_groups)] = True
        if crystal_systems is not None:
            names = _systems("crystal systems", crystal_systems, CRYSTAL_SYSTEMS)
            keep = [CRYSTAL_SYSTEMS.index(s) for s in names]
            allowed &= torch.isin(torch.from_numpy(crystal_system_of().copy()), torch.tensor(keep))
        if lattice_systems is not None:
            names = _systems("lattice systems", lattice_systems, LATTICE_SYSTEMS)
            keep = [LATTICE_SYSTEMS.index(s) for s in names]
            allowed &= torch.isin(torch.from_numpy(lattice_system_of().copy()), torch.tensor(keep))
        allowed[0] = False
        if not bool(allowed.any()):
            raise InfeasibleError(
                f"no space group satisfies space_groups={space_groups!r}, "
                f"crystal_systems={crystal_systems!r}, lattice_systems={lattice_systems!r}"
            )
        self.allowed = allowed
        self.n_actions = FIRST_GROUP_ACTION + N_SPACE_GROUPS
        self.encoding_dim = (N_LATTICE + 1) + (N_POINT + 1) + (N_SPACE_GROUPS + 1)
        self.max_steps = 3
        self.lattice_system_of = torch.from_numpy(lattice_system_of().copy())
        self.point_symmetry_of = torch.from_numpy(point_symmetry_of().copy())

    @property
    def groups(self) -> list[int]:
        """Allowed international numbers, ascending."""
        return self.allowed.nonzero().squeeze(1).tolist()

    def restriction_domains(self) -> dict:
        """Conditioning on ``space_groups`` (any subset of the allowed groups; a spec such as
        ``"195-230"`` is read as the flag reads it) and on ``crystal_systems`` (a subset of
        the systems the allowed groups belong to)."""
        from crystalgfn.conditioning import Subset

        systems = sorted(set(crystal_system_of()[self.groups].tolist()))
        return {
            "space_groups": Subset(
                tuple(self.groups),
                parse=lambda value: value if isinstance(value, (list, tuple)) else
                parse_space_groups(value),
                argument=list,
            ),
            "crystal_systems": Subset(tuple(CRYSTAL_SYSTEMS[i] for i in systems)),
        }

    def with_groups(self, groups: Iterable[int]) -> SpaceGroupEnv:
        """A copy restricted to ``groups`` (intersected with the current ones)."""
        return SpaceGroupEnv(space_groups=sorted(set(groups) & set(self.groups)) or "0")

    def restrict(
        self, space_groups=None, crystal_systems=None, lattice_systems=None
    ) -> SpaceGroupEnv:
        narrower = SpaceGroupEnv(space_groups, crystal_systems, lattice_systems)
        keep = sorted(set(narrower.groups) & set(self.groups))
        if not keep:
            raise InfeasibleError(
                f"the restriction space_groups={space_groups!r}, "
                f"crystal_systems={crystal_systems!r}, lattice_systems={lattice_systems!r} "
                f"leaves no group among the {len(self.groups)} allowed"
            )
        return SpaceGroupEnv(space_groups=keep)

    # -- states ---------------------------------------------------------------------------------
    def source(self, batch_size: int, device="cpu") -> State:
        return {
            "lattice_system": torch.full((batch_size,), -1, dtype=torch.long, device=device),
            "point_symmetry": torch.full((batch_size,), -1, dtype=torch.long, device=device),
            "space_group": torch.zeros(batch_size, dtype=torch.long, device=device),
            "allowed": self.allowed.to(device).expand(batch_size, -1).clone(),
        }

    def is_done(self, state: State) -> torch.Tensor:
        return state["space_group"] > 0

    def is_source(self, state: State) -> torch.Tensor:
        return (
            (state["lattice_system"] < 0)
            & (state["point_symmetry"] < 0)
            & (state["space_group"] == 0)
        )

    def _candidates(self, state: State) -> torch.Tensor:
        """Bool ``(B, 231)``: allowed groups consistent with what is set so far."""
        ls = self.lattice_system_of.to(state["space_group"].device)
        ps = self.point_symmetry_of.to(state["space_group"].device)
        lattice, point = state["lattice_system"], state["point_symmetry"]
        match = state["allowed"] & ((lattice[:, None] < 0) | (ls[None] == lattice[:, None]))
        return match & ((point[:, None] < 0) | (ps[None] == point[:, None]))

    def forward_mask(self, state: State) -> torch.Tensor:
        device = state["space_group"].device
        candidates = self._candidates(state)
        open_ = ~self.is_done(state)
        one_hot = torch.nn.functional.one_hot
        lattice_onehot = one_hot(self.lattice_system_of.clamp(min=0), N_LATTICE).to(device)
        point_onehot = one_hot(self.point_symmetry_of.clamp(min=0), N_POINT).to(device)
        lattice_onehot[0] = 0
        point_onehot[0] = 0
        has_lattice = (candidates.float() @ lattice_onehot.float()) > 0
        has_point = (candidates.float() @ point_onehot.float()) > 0
        set_lattice = has_lattice & ((state["lattice_system"] < 0) & open_)[:, None]
        set_point = has_point & ((state["point_symmetry"] < 0) & open_)[:, None]
        both = (state["lattice_system"] >= 0) & (state["point_symmetry"] >= 0) & open_
        set_group = candidates[:, 1:] & both[:, None]
        return torch.cat([set_lattice, set_point, set_group], dim=1)

    def backward_mask(self, state: State) -> torch.Tensor:
        b = state["space_group"].shape[0]
        device = state["space_group"].device
        mask = torch.zeros(b, self.n_actions, dtype=torch.bool, device=device)
        done = self.is_done(state)
        rows = done.nonzero().squeeze(1)
        mask[rows, FIRST_GROUP_ACTION + state["space_group"][rows] - 1] = True
        lattice_rows = (~done & (state["lattice_system"] >= 0)).nonzero().squeeze(1)
        mask[lattice_rows, state["lattice_system"][lattice_rows]] = True
        point_rows = (~done & (state["point_symmetry"] >= 0)).nonzero().squeeze(1)
        mask[point_rows, N_LATTICE + state["point_symmetry"][point_rows]] = True
        return mask

    def step(self, state: State, actions: torch.Tensor, params=None) -> State:
        new = dict(state)
        lattice = actions < N_LATTICE
        point = (actions >= N_LATTICE) & (actions < FIRST_GROUP_ACTION)
        group = actions >= FIRST_GROUP_ACTION
        new["lattice_system"] = torch.where(lattice, actions, state["lattice_system"])
        new["point_symmetry"] = torch.where(point, actions - N_LATTICE, state["point_symmetry"])
        new["space_group"] = torch.where(
            group, actions - FIRST_GROUP_ACTION + 1, state["space_group"]
        )
        return new

    def step_back(self, state: State, actions: torch.Tensor):
        new = dict(state)
        lattice = actions < N_LATTICE
        point = (actions >= N_LATTICE) & (actions < FIRST_GROUP_ACTION)
        group = actions >= FIRST_GROUP_ACTION
        new["lattice_system"] = torch.where(lattice, -1, state["lattice_system"])
        new["point_symmetry"] = torch.where(point, -1, state["point_symmetry"])
        new["space_group"] = torch.where(group, 0, state["space_group"])
        return new, None

    def encode(self, state: State) -> torch.Tensor:
        one_hot = torch.nn.functional.one_hot
        return torch.cat(
            [
                one_hot(state["lattice_system"] + 1, N_LATTICE + 1),
                one_hot(state["point_symmetry"] + 1, N_POINT + 1),
                one_hot(state["space_group"], N_SPACE_GROUPS + 1),
            ],
            dim=1,
        ).float()

    def values(self, state: State) -> dict[str, torch.Tensor]:
        return {"spacegroup": state["space_group"].clone()}

    def validity(self, values) -> dict[str, torch.Tensor]:
        """``allowed_space_group``: the group is among this environment's allowed groups."""
        groups = values["spacegroup"].long()
        inside = (groups >= 1) & (groups <= N_SPACE_GROUPS)
        allowed = self.allowed.to(groups.device)[groups.clamp(0, N_SPACE_GROUPS)]
        return {"allowed_space_group": inside & allowed}

    def describe(self, values) -> dict[str, list]:
        groups = values["spacegroup"].tolist()
        facts = [space_group(g) for g in groups]
        return {
            "space_group": groups,
            "symbol": [f.symbol for f in facts],
            "crystal_system": [f.crystal_system for f in facts],
            "lattice_system": [f.lattice_system for f in facts],
            "point_symmetry": [f.point_symmetry for f in facts],
        }

    def from_values(self, values) -> State:
        groups = values["spacegroup"].long()
        device = groups.device
        bad = (groups < 1) | (groups > N_SPACE_GROUPS)
        if not bool(bad.any()):
            bad = ~self.allowed.to(device)[groups]
        if bool(bad.any()):
            row = int(bad.nonzero()[0])
            raise ValueError(
                f"space group {int(groups[row])} (row {row}) is not among the allowed groups "
                f"{self.groups}"
            )
        state = self.source(groups.shape[0], device)
        state["lattice_system"] = self.lattice_system_of.to(device)[groups]
        state["point_symmetry"] = self.point_symmetry_of.to(device)[groups]
        state["space_group"] = groups.clone()
        return state
