"""A family of restrictions a conditional model is trained over: canonical forms, features and
the draws of training.

A restriction is a mapping ``name -> value`` of :meth:`Environment.restrict` keyword
arguments. Within a family each name has a :mod:`~crystalgfn.conditioning.domains` domain; a
name not given takes the domain's full value (unrestricted), so every restriction of the family
has one canonical form, a hashable key and a feature vector of fixed width.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import torch

from crystalgfn.conditioning.domains import Domain
from crystalgfn.errors import ConfigError

Restriction = dict[str, object]


class RestrictionFamily:
    """The restrictions ``names`` of an environment whose domains are ``domains``.

    Args:
        domains: every restriction domain the environment declares.
        names: the ones this family varies (the run config's ``[conditioning]
            restrictions``); the others stay at their full value.
        share: the probability that a drawn restriction restricts each name (otherwise the
            name keeps its full value), so that draws mix narrow and wide spaces.
    """

    def __init__(self, domains: Mapping[str, Domain], names: Sequence[str], share: float = 0.5):
        unknown = sorted(set(names) - set(domains))
        if unknown:
            raise ConfigError(
                f"[conditioning] restrictions: {unknown} cannot be conditioned on; this "
                f"environment declares domains for {sorted(domains)}"
            )
        if not names:
            raise ConfigError("[conditioning] restrictions is empty; name at least one")
        if not 0.0 < share <= 1.0:
            raise ConfigError(f"[conditioning] share must be in (0, 1], got {share!r}")
        self.names = tuple(names)
        self.domains = {name: domains[name] for name in self.names}
        self.share = float(share)

    @property
    def width(self) -> int:
        """Length of :meth:`features`."""
        return sum(domain.width for domain in self.domains.values())

    def full(self) -> Restriction:
        """The unrestricted member."""
        return {name: domain.full() for name, domain in self.domains.items()}

    def canonical(self, restriction: Mapping[str, object]) -> Restriction:
        """``restriction`` with every name of the family, each value in canonical form; a
        :class:`ConfigError` for a name outside the family."""
        unknown = sorted(set(restriction) - set(self.names))
        if unknown:
            raise ConfigError(
                f"this model was trained conditioned on {list(self.names)}, not on {unknown}; "
                "retrain with them in [conditioning] restrictions, or sample from a run "
                "trained on that restricted space"
            )
        out = self.full()
        for name, value in restriction.items():
            out[name] = self.domains[name].canonical(name, value)
        return out

    @staticmethod
    def key(canonical: Restriction) -> tuple:
        return tuple(sorted(canonical.items()))

    def features(self, canonical: Restriction) -> list[float]:
        values: list[float] = []
        for name, domain in self.domains.items():
            values += domain.features(canonical[name])
        return values

    def arguments(self, canonical: Restriction) -> dict[str, object]:
        """The ``restrict`` keyword arguments of ``canonical``: only the names it restricts."""
        return {
            name: domain.to_argument(canonical[name])
            for name, domain in self.domains.items()
            if canonical[name] != domain.full()
        }

    def draw(self, generator: torch.Generator) -> Restriction:
        """A random member: each name restricted with probability ``share``."""
        out = self.full()
        for name, domain in self.domains.items():
            if float(torch.rand((), generator=generator, dtype=torch.float64)) < self.share:
                out[name] = domain.draw(generator)
        return out

    def describe(self, canonical: Restriction) -> str:
        """A short text of what ``canonical`` restricts, e.g. ``elements=Li,O``."""
        parts = []
        for name, value in self.arguments(canonical).items():
            if isinstance(value, (list, tuple)) and not (
                len(value) == 2 and all(isinstance(x, float) for x in value)
            ):
                parts.append(f"{name}={','.join(map(str, value))}")
            elif isinstance(value, tuple):
                parts.append(f"{name}={value[0]:g}:{value[1]:g}")
            else:
                parts.append(f"{name}={value}")
        return " ".join(parts) or "unrestricted"
