"""Transitions of the composition environment: adding and removing the last element, and the
prefix summary (mode, charge, automaton state) they maintain.

A mixin of :class:`crystalgfn_composition.env.CompositionEnv`.
"""

from __future__ import annotations

import torch
from crystalgfn.states import State

from crystalgfn_composition.feasibility import (
    ANIONS,
    CATIONS,
    NEUTRAL_METAL,
    NEUTRAL_SINGLE,
    START,
)


class CompositionTransitions:
    """Forward and backward steps of the composition environment."""

    # -- transitions ------------------------------------------------------------------------------
    def step(self, state: State, actions: torch.Tensor, params=None) -> State:
        t = self._tensors(actions.device)
        new = {key: value.clone() for key, value in state.items()}
        eos = actions == self.eos
        new["done"] = state["done"] | eos
        rows = (~eos).nonzero().squeeze(1)
        if rows.numel():
            position, count, slot = self.decode(actions[rows])
            value = t["labels"][position, slot]
            new["counts"][rows, position] = count
            new["slots"][rows, position] = slot
            new["last"][rows] = position
            new["charge"][rows] = state["charge"][rows] + count * value
            new["automaton"][rows] = t["trans"][state["automaton"][rows], count]
            charged_mode = torch.where((value > 0) & self.chem.pauling, CATIONS, ANIONS)
            neutral_mode = torch.where(t["metal"][position], NEUTRAL_METAL, NEUTRAL_SINGLE)
            new["mode"][rows] = torch.where(slot == 0, neutral_mode, charged_mode)
        return new

    def _summary(self, counts: torch.Tensor, slots: torch.Tensor, start: torch.Tensor, t):
        """``(last, mode, charge, automaton)`` recomputed from counts and labels."""
        present = counts > 0
        k = counts.shape[1]
        positions = torch.arange(k, device=counts.device)
        last = torch.where(present, positions[None], -1).max(dim=1).values
        values = t["labels"][positions[None].expand_as(slots), slots.clamp(min=0)] * present
        charge = (counts * values).sum(dim=1)
        any_present = present.any(dim=1)
        charged = (present & (slots > 0)).any(dim=1)
        has_anion = (present & (values < 0)).any(dim=1)
        all_metal = (~present | t["metal"][None]).all(dim=1)
        if self.chem.pauling:
            charged_mode = torch.where(has_anion, ANIONS, CATIONS)
        else:
            charged_mode = torch.full_like(last, ANIONS)
        neutral_mode = torch.where(all_metal, NEUTRAL_METAL, NEUTRAL_SINGLE)
        mode = torch.where(charged, charged_mode, neutral_mode)
        mode = torch.where(any_present, mode, torch.full_like(mode, START))
        automaton = start.clone()
        for position in range(k):
            here = present[:, position]
            automaton = torch.where(here, t["trans"][automaton, counts[:, position]], automaton)
        return last, mode, charge, automaton

    def step_back(self, state: State, actions: torch.Tensor):
        t = self._tensors(actions.device)
        new = {key: value.clone() for key, value in state.items()}
        eos = actions == self.eos
        new["done"] = state["done"] & ~eos
        rows = (~eos).nonzero().squeeze(1)
        if rows.numel():
            position, _, _ = self.decode(actions[rows])
            new["counts"][rows, position] = 0
            new["slots"][rows, position] = -1
            last, mode, charge, automaton = self._summary(
                new["counts"][rows], new["slots"][rows], state["start"][rows], t
            )
            new["last"][rows], new["mode"][rows] = last, mode
            new["charge"][rows], new["automaton"][rows] = charge, automaton
        return new, None
