"""The proxy interface: a batched property predictor that rewards are computed from.

Contract
--------
A proxy declares the state parts it reads in ``requires`` (see :mod:`crystalgfn.parts`) and
is called on a mapping ``part name -> tensor`` holding at least those parts, all with the
same leading batch size::

    "spacegroup":  int64 (batch,)       international numbers 1-230
    "composition": (batch, 119)          atom counts of the unit cell indexed by Z
    "lattice":     (batch, 6)            a, b, c (angstrom), alpha, beta, gamma (degrees)

It returns a float tensor ``(batch,)`` of property values in the unit named by ``unit``.
Turning values into rewards is the job of reward functions, not of the proxy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import torch

from crystalgfn.errors import ConfigError


class Proxy(ABC):
    """Abstract base of every property predictor.

    Subclasses set ``name``, ``requires`` and ``unit`` and implement :meth:`predict`.
    Callers use ``proxy(batch)``, which checks the batch against ``requires`` first.
    """

    #: Registry name, e.g. ``"formation_energy"``.
    name: ClassVar[str] = ""
    #: State parts read by :meth:`predict`, e.g. ``("composition", "lattice")``.
    requires: ClassVar[tuple[str, ...]] = ()
    #: Unit of the returned values, e.g. ``"eV/atom"``.
    unit: ClassVar[str] = ""

    @abstractmethod
    def predict(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Property values ``(batch,)`` for a batch holding (at least) ``requires``."""

    def to(self, device: torch.device | str) -> Proxy:
        """Move any tensors/modules the proxy holds to ``device``; returns ``self``."""
        return self

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        missing = [part for part in self.requires if part not in batch]
        if missing:
            raise ConfigError(
                f"proxy {self.name!r} needs the state parts {list(self.requires)}, but the batch "
                f"lacks {missing} (it has {sorted(batch)})"
            )
        sizes = {part: batch[part].shape[0] for part in self.requires}
        if len(set(sizes.values())) > 1:
            raise ConfigError(f"proxy {self.name!r} got parts of different batch sizes: {sizes}")
        values = self.predict(batch)
        expected = next(iter(sizes.values())) if sizes else values.shape[0]
        if values.shape != (expected,):
            raise RuntimeError(
                f"proxy {self.name!r} returned shape {tuple(values.shape)}; the contract is "
                f"({expected},)"
            )
        return values
