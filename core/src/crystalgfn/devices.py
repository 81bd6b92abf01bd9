"""Devices and random generators: one place that turns a device name into a usable device and
makes the ``torch.Generator`` that goes with it.

PyTorch draws random numbers for tensors on a device only from a generator on the same device
(``torch.rand(..., device="cuda", generator=<CPU generator>)`` is an error), so everything that
samples (training, ``crystalgfn sample``) makes its generator with :func:`make_generator` for
the device its tensors live on.
"""

from __future__ import annotations

import torch

from crystalgfn.errors import ConfigError

#: Device names the command line and run configs accept.
DEVICES = ("cpu", "cuda")


def resolve_device(device: str | torch.device) -> torch.device:
    """``device`` as a :class:`torch.device`, checked to be usable on this machine.

    Raises :class:`ConfigError` for a name that is not a device and for CUDA when this
    PyTorch build or machine has none (instead of PyTorch's assertion deep in a run)."""
    if isinstance(device, torch.device):
        resolved = device
    else:
        if not isinstance(device, str):
            raise ConfigError(f"device must be one of {list(DEVICES)}, got {device!r}")
        try:
            resolved = torch.device(device)
        except RuntimeError:
            raise ConfigError(f"device must be one of {list(DEVICES)}, got {device!r}") from None
    if resolved.type not in DEVICES:
        raise ConfigError(f"device must be one of {list(DEVICES)}, got {str(device)!r}")
    if resolved.type == "cuda":
        if not torch.cuda.is_available():
            build = "was built without CUDA" if torch.version.cuda is None else "finds no CUDA GPU"
            raise ConfigError(
                f"device {str(device)!r} is not available: this PyTorch ({torch.__version__}) "
                f"{build}; use --device cpu (or device = \"cpu\" in the run config)"
            )
        count = torch.cuda.device_count()
        if resolved.index is not None and resolved.index >= count:
            raise ConfigError(
                f"device {str(device)!r} is not available: this machine has {count} CUDA "
                f"device(s), cuda:0..cuda:{count - 1}"
            )
    return resolved


def make_generator(seed: int, device: str | torch.device = "cpu") -> torch.Generator:
    """A ``torch.Generator`` on ``device`` (the device of the tensors it will fill), seeded
    with ``seed``."""
    resolved = resolve_device(device)
    return torch.Generator(device=resolved).manual_seed(seed)
