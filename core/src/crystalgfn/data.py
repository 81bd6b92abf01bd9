"""Training from a data set of finished crystals (replayed through backward trajectories).

The paper trained Crystal-GFN partly on known crystals; here a CSV in the sample format (as
``crystalgfn sample`` writes, e.g. ``data/mp_validation.csv``) is turned into done states of
the training environment. Crystals outside the environment's space (other elements, more atoms
per element, a lattice outside the ranges, a composition that breaks the charge rule) cannot be
reached by any trajectory, so they are dropped and counted.
"""

from __future__ import annotations

import os
import warnings

import torch

from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError
from crystalgfn.states import State, concat


def load_done_states(env: Environment, path: str | os.PathLike) -> tuple[State, int]:
    """Done states of ``env`` for the crystals of a sample-format CSV, and how many rows were
    dropped because no trajectory of ``env`` reaches them."""
    from crystalgfn.report.io import read_crystals

    values = read_crystals(path, what="training data").values
    checks = env.validity({part: values[part] for part in env.provides})
    inside = torch.ones(next(iter(values.values())).shape[0], dtype=torch.bool)
    for passed in checks.values():
        inside &= passed.cpu()
    states = []
    for row in inside.nonzero().squeeze(1).tolist():
        try:
            states.append(
                env.from_values({part: values[part][row : row + 1] for part in env.provides})
            )
        except ValueError:  # e.g. a lattice outside the ranges, or a group pruned by constraints
            inside[row] = False
    dropped = int((~inside).sum())
    if not states:
        raise ConfigError(
            f"none of the {len(inside)} crystals in {path} lies in the training space"
        )
    if dropped:
        warnings.warn(
            f"{dropped} of {len(inside)} crystals in {path} lie outside the training space; "
            "dropped",
            stacklevel=2,
        )
    return concat(states), dropped
