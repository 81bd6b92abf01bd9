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

Uncertainty (optional)
----------------------
A proxy that can say how sure it is (e.g. an ensemble: the spread of its members) declares
an :class:`Uncertainty` in ``uncertainty`` and implements :meth:`Proxy.predict_with_uncertainty`,
returning ``(mean, std)``, both ``(batch,)`` in ``unit``; ``predict`` returns the same mean.
Proxies that cannot (e.g. the exact density) leave ``uncertainty = None``: rewards refuse an
uncertainty penalty on them and sample tables get no ``<name>_std`` column for them.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Mapping
from typing import ClassVar

import attrs
import torch

from crystalgfn.errors import ConfigError


@attrs.frozen
class Uncertainty:
    """What a proxy that reports its uncertainty declares.

    Attributes:
        kind: how the standard deviation is obtained, e.g. ``"ensemble"``.
        members: number of ensemble members (or samples) the standard deviation is taken over.
        threshold: a prediction whose standard deviation exceeds this (in the proxy's unit) is
            flagged as uncertain (the ``<name>_uncertain`` column of sample tables).
        threshold_rule: how ``threshold`` was chosen, e.g. ``"99th percentile of the ensemble
            std on the 3491 validation crystals"``.
    """

    kind: str
    members: int
    threshold: float
    threshold_rule: str = ""


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
    #: ``None``: the proxy reports no uncertainty. A proxy that does sets an
    #: :class:`Uncertainty` (a class attribute or a property) and implements
    #: :meth:`predict_with_uncertainty`.
    uncertainty: Uncertainty | None = None

    @abstractmethod
    def predict(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        """Property values ``(batch,)`` for a batch holding (at least) ``requires``."""

    def to(self, device: torch.device | str) -> Proxy:
        """Move any tensors/modules the proxy holds to ``device``; returns ``self``."""
        return self

    def predict_with_uncertainty(
        self, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """``(mean, std)``, both ``(batch,)`` in ``unit``, for proxies whose ``uncertainty``
        is set; ``mean`` equals :meth:`predict`. Others raise :class:`ConfigError`."""
        raise ConfigError(
            f"proxy {self.name!r} reports no uncertainty (its 'uncertainty' is None); only "
            "proxies that declare one (e.g. ensembles) have predict_with_uncertainty"
        )

    def _check_batch(self, batch: Mapping[str, torch.Tensor]) -> int | None:
        """The batch size, after checking the batch holds ``requires`` of one size."""
        missing = [part for part in self.requires if part not in batch]
        if missing:
            raise ConfigError(
                f"proxy {self.name!r} needs the state parts {list(self.requires)}, but the batch "
                f"lacks {missing} (it has {sorted(batch)})"
            )
        sizes = {part: batch[part].shape[0] for part in self.requires}
        if len(set(sizes.values())) > 1:
            raise ConfigError(f"proxy {self.name!r} got parts of different batch sizes: {sizes}")
        return next(iter(sizes.values())) if sizes else None

    def _check_shape(self, values: torch.Tensor, expected: int | None, what: str) -> None:
        expected = values.shape[0] if expected is None and values.dim() else expected
        if values.shape != (expected,):
            raise RuntimeError(
                f"proxy {self.name!r} returned {what} of shape {tuple(values.shape)}; the "
                f"contract is ({expected},)"
            )

    def __call__(self, batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
        expected = self._check_batch(batch)
        values = self.predict(batch)
        self._check_shape(values, expected, "values")
        return values

    def call_with_uncertainty(
        self, batch: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`predict_with_uncertainty` with the checks of ``proxy(batch)``."""
        expected = self._check_batch(batch)
        mean, std = self.predict_with_uncertainty(batch)
        self._check_shape(mean, expected, "a mean")
        self._check_shape(std, mean.shape[0], "a std")
        return mean, std
