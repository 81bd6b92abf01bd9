"""Checkpoints: written atomically, read safely and with clear errors.

A checkpoint holds only tensors and plain data (numbers, strings, booleans, ``None``, lists,
tuples and dicts of them), and is read with ``torch.load(..., weights_only=True)``: opening a
run folder someone shared never runs code pickled into it. A file that carries anything else
is refused with a :class:`~crystalgfn.errors.CheckpointError`.
"""

from __future__ import annotations

import os
import pickle
import re
from pathlib import Path

import torch

from crystalgfn.atomic import atomic_path
from crystalgfn.errors import CheckpointError

FORMAT = 2  # 2: per-rank generators and replay buffers

#: How ``torch.load(weights_only=True)`` explains what it refused to unpickle.
_REFUSED_GLOBAL = re.compile(r"Unsupported global: GLOBAL (\S+)")
_REFUSED = re.compile(r"WeightsUnpickler error:\s*(.+)")


def save_checkpoint(path: str | os.PathLike, payload: dict) -> Path:
    """Write ``payload`` to ``path`` atomically: a crash leaves the previous file intact."""
    with atomic_path(path) as temporary:
        torch.save({"format": FORMAT, **payload}, temporary)
    return Path(path)


def load_checkpoint(path: str | os.PathLike) -> dict:
    """Read a checkpoint written by :func:`save_checkpoint` (tensors and plain data only)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(f"no checkpoint at {path}")
    try:
        payload = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as error:
        raise _unpickling_error(path, str(error)) from None
    except Exception as error:  # truncated or not a torch file at all
        raise CheckpointError(
            f"checkpoint {path} is corrupt or unreadable ({type(error).__name__}: {error})"
        ) from None
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        raise CheckpointError(f"{path} is not a Crystal-GFN checkpoint of format {FORMAT}")
    return payload


def _unpickling_error(path: Path, message: str) -> CheckpointError:
    """The error for a file ``torch.load(weights_only=True)`` would not read: one that carries
    Python objects is refused (naming what it carries), anything else is corrupt."""
    unsafe = "loading such objects could run code hidden in the file"
    refused = _REFUSED_GLOBAL.search(message)
    if refused is not None:
        return CheckpointError(
            f"refused to load {path}: it carries the Python object {refused.group(1)!r}, but a "
            "Crystal-GFN checkpoint holds only tensors and plain data (numbers, strings, lists, "
            f"dicts); {unsafe}"
        )
    detail = _REFUSED.search(message)
    if detail is None or detail.group(1).startswith("Unsupported operand"):
        return CheckpointError(f"checkpoint {path} is corrupt or unreadable (not a torch file)")
    return CheckpointError(
        f"refused to load {path}: it carries more than tensors and plain data "
        f"({detail.group(1).strip()}); {unsafe}"
    )
