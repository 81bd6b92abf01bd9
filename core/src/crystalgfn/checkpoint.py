"""Checkpoints: written atomically, read with clear errors."""

from __future__ import annotations

import os
from pathlib import Path

import torch

from crystalgfn.atomic import atomic_path
from crystalgfn.errors import CheckpointError

FORMAT = 2  # 2: per-rank generators and replay buffers


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically: a crash leaves the previous file intact."""
    with atomic_path(path) as temporary:
        torch.save({"format": FORMAT, **payload}, temporary)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=False)
    except Exception as error:  # truncated or not a torch file at all
        raise CheckpointError(f"checkpoint {path} is corrupt or unreadable ({type(error).__name__}: {error})") from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Crystal-GFN checkpoint of format {FORMAT}")
    return payload
