"""The declared interface of a proxy that learns a second fidelity (an oracle's labels).

Core never imports a proxy package: a campaign builds the proxy by its registered name and
checks that it declares this capability (a method), as any third-party proxy can.

A fine-tunable proxy writes a *copy* of itself, fine-tuned on labels of another fidelity
(e.g. a universal interatomic potential's formation energies), to a folder, and returns the
keyword arguments that build that copy with ``make_proxy(name, **kwargs)``. The proxy it is
called on — the one trained on DFT — is left unchanged: DFT and oracle energy scales are
kept apart, the oracle-fidelity copy being a separate set of weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from typing import Protocol, runtime_checkable

import torch

from crystalgfn.builders import make_proxy
from crystalgfn.errors import ConfigError


@runtime_checkable
class FineTunable(Protocol):
    def fine_tune(self, batch: Mapping[str, torch.Tensor], labels: torch.Tensor,
                  out: str | Path, **settings) -> dict:
        """Write a copy fine-tuned on ``labels`` of the states ``batch`` to ``out``; return
        the keyword arguments that build the copy. ``settings``: ``steps``, ``lr``,
        ``anchor`` (pull towards the original weights), ``seed``, ``fidelity``."""


def fine_tunable_proxy(name: str, **kwargs):
    """The proxy ``name`` built with ``kwargs``; a :class:`ConfigError` unless it declares
    :class:`FineTunable`."""
    proxy = make_proxy(name, **kwargs)
    if not isinstance(proxy, FineTunable):
        raise ConfigError(
            f"proxy {name!r} ({type(proxy).__name__}) cannot be refitted on oracle labels: it "
            "has no fine_tune(batch, labels, out, **settings) method (crystalgfn.active."
            "fidelity.FineTunable)")
    return proxy


def predict(proxy, values: Mapping[str, torch.Tensor]) -> tuple[list[float], list[float]]:
    """The proxy's mean and std (0 for a proxy without uncertainty) on ``values``."""
    with torch.no_grad():
        if getattr(proxy, "uncertainty", None) is not None:
            mean, std = proxy.predict_with_uncertainty(values)
        else:
            mean = proxy.predict(values)
            std = torch.zeros_like(mean)
    return mean.double().tolist(), std.double().tolist()
