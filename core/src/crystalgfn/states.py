"""Helpers for batched states: a state is a ``dict[str, Tensor]`` of equal leading size."""

from __future__ import annotations

import torch

State = dict[str, torch.Tensor]


def batch_size(state: State) -> int:
    """Leading dimension shared by every tensor of ``state``."""
    return next(iter(state.values())).shape[0]


def select(state: State, index: torch.Tensor) -> State:
    """Rows ``index`` (boolean mask or int64 indices) of every tensor."""
    return {key: value[index] for key, value in state.items()}


def assign(state: State, index: torch.Tensor, rows: State) -> State:
    """A copy of ``state`` whose rows ``index`` are replaced by ``rows``."""
    out = {}
    for key, value in state.items():
        value = value.clone()
        value[index] = rows[key]
        out[key] = value
    return out


def concat(states: list[State]) -> State:
    """Stack several batches of the same environment along the batch dimension."""
    return {key: torch.cat([s[key] for s in states]) for key in states[0]}


def equal(a: State, b: State) -> torch.Tensor:
    """Row-wise equality ``(batch,)`` of two batches of states with the same keys."""
    result = torch.ones(batch_size(a), dtype=torch.bool, device=next(iter(a.values())).device)
    for key, value in a.items():
        other = b[key]
        same = value == other
        result &= same.reshape(same.shape[0], -1).all(dim=1)
    return result
