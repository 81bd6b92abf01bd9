"""Scores comparison sets with the run's own reward, so that a baseline written without one
(``crystalgfn sample --policy uniform``) shows its proxy predictions and log R next to the
samples', and the reference shows the log R the run's reward gives its crystals.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import torch

from crystalgfn.errors import CrystalGFNError
from crystalgfn.report.io import Crystals


def run_reward(run_dir: str | Path, env):
    """The reward of a run folder's config on ``env`` (the proxies load once)."""
    from crystalgfn.config import RunConfig

    return RunConfig.from_file(Path(run_dir) / "config.toml").build_reward(env)


def add_scores(crystals: Crystals, reward, env, proxies: bool = True) -> list[str]:
    """Add ``reward``, ``log_reward`` and (with ``proxies``) each proxy's prediction to the
    numeric columns of ``crystals`` that lack them; returns the names added. A set the
    reward cannot score (a part missing from the table, a proxy that fails on its crystals)
    is left as it is, with a warning."""
    if any(part not in crystals.values for part in env.provides):
        return []
    values = {part: crystals.values[part] for part in env.provides}
    try:
        with torch.no_grad():
            log_r, predictions = reward(values)
    except (CrystalGFNError, ValueError, RuntimeError) as error:
        warnings.warn(
            f"{crystals.path}: the run's reward could not score these crystals ({error}); "
            "they are shown without it",
            stacklevel=2,
        )
        return []
    scores = {"log_reward": log_r, "reward": log_r.exp()}
    if proxies:
        scores.update(predictions)
    added = []
    for name, column in scores.items():
        if name not in crystals.numeric:
            crystals.numeric[name] = np.asarray(column.detach().double().cpu().numpy())
            added.append(name)
    return added
