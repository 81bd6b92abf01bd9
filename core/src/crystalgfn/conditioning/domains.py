"""What values a restriction can take, so that core can draw restrictions and encode them.

An environment declares, per restriction name its :meth:`Environment.restrict` accepts, the
domain of that restriction's values (:meth:`Environment.restriction_domains`). Core draws
training restrictions from these domains and turns each into a fixed-width feature vector
for the policy, without knowing what an element or a space group is:

* :class:`Subset` — a non-empty subset of finitely many choices (elements, space groups,
  crystal systems); features: one 0/1 per choice.
* :class:`Interval` — a sub-interval ``(low, high)`` of a range (lattice lengths, angles);
  features: its two ends scaled to [0, 1] (on a log scale when ``log``).
* :class:`Count` — an integer bound (at most N atoms per element); features: N scaled to
  [0, 1].

Every domain has a *full* value, the unrestricted space; a restriction that is not given is
its full value. This module imports no plugin.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import attrs
import torch

from crystalgfn.errors import ConfigError

#: How :class:`Subset` may draw the size of a subset.
SIZE_DRAWS = ("uniform", "log-uniform")


def _uniform(generator: torch.Generator) -> float:
    return float(torch.rand((), generator=generator, dtype=torch.float64))


@attrs.frozen
class Subset:
    """A restriction to a non-empty subset of ``choices``.

    Args:
        choices: every allowed value, in a fixed order (the order of the features).
        min_size: the fewest choices a drawn subset keeps.
        parse: turns a user's value (e.g. a space-group spec ``"195-230"``) into an iterable
            of choices; default: a list, tuple or set as it is, a string split at commas.
        argument: turns the canonical tuple of choices into the value ``restrict`` takes;
            default: a list.
        sizes: how the size of a drawn subset is chosen: ``"uniform"`` over ``min_size ..
            len(choices)``, or ``"log-uniform"`` (P(k) ∝ log((k+1)/k)), which favours the small
            subsets users ask for — chemical systems of 2–4 of 22 elements are 29 % of the
            draws instead of 14 %.
    """

    choices: tuple = attrs.field(converter=tuple)
    min_size: int = 1
    sizes: str = attrs.field(default="uniform", validator=attrs.validators.in_(SIZE_DRAWS))
    parse: Callable[[Any], Iterable] | None = attrs.field(default=None, eq=False)
    argument: Callable[[tuple], Any] | None = attrs.field(default=None, eq=False)

    @property
    def width(self) -> int:
        return len(self.choices)

    def full(self) -> tuple:
        return self.choices

    def canonical(self, name: str, value) -> tuple:
        """``value`` as a tuple of choices in the domain's order; a :class:`ConfigError`
        naming any value outside ``choices``."""
        if self.parse is not None:
            items = list(self.parse(value))
        elif isinstance(value, str):
            items = [part.strip() for part in value.split(",") if part.strip()]
        else:
            items = list(value)
        unknown = [item for item in items if item not in self.choices]
        if unknown:
            raise ConfigError(
                f"restriction {name!r}: {unknown} not in the space this model was trained on; "
                f"accepted: {list(self.choices)}"
            )
        if not items:
            raise ConfigError(f"restriction {name!r} is empty; give at least one value")
        chosen = set(items)
        return tuple(choice for choice in self.choices if choice in chosen)

    def features(self, value: tuple) -> list[float]:
        chosen = set(value)
        return [1.0 if choice in chosen else 0.0 for choice in self.choices]

    def draw(self, generator: torch.Generator) -> tuple:
        if self.sizes == "uniform":
            size = int(torch.randint(self.min_size, self.width + 1, (), generator=generator))
        else:
            low, high = math.log(self.min_size), math.log(self.width + 1)
            size = int(math.exp(low + (high - low) * _uniform(generator)))
            size = min(max(size, self.min_size), self.width)
        picked = set(torch.randperm(self.width, generator=generator)[:size].tolist())
        return tuple(choice for i, choice in enumerate(self.choices) if i in picked)

    def to_argument(self, value: tuple):
        return self.argument(value) if self.argument is not None else list(value)


@attrs.frozen
class Interval:
    """A restriction to a sub-interval of ``[low, high]``.

    Args:
        low, high: the unrestricted range.
        min_width: the narrowest interval drawn, as a fraction of the range (on the log
            scale when ``log``).
        log: draw and encode on a log scale (lattice lengths spanning two decades).
    """

    low: float
    high: float
    min_width: float = 0.1
    log: bool = False

    width = 2

    def full(self) -> tuple[float, float]:
        return (float(self.low), float(self.high))

    def _scale(self, x: float) -> float:
        if self.log:
            return (math.log(x) - math.log(self.low)) / (math.log(self.high) - math.log(self.low))
        return (x - self.low) / (self.high - self.low)

    def _unscale(self, u: float) -> float:
        if self.log:
            return math.exp(math.log(self.low) + u * (math.log(self.high) - math.log(self.low)))
        return self.low + u * (self.high - self.low)

    def canonical(self, name: str, value) -> tuple[float, float]:
        try:
            low, high = (float(x) for x in value)
        except (TypeError, ValueError):
            raise ConfigError(
                f"restriction {name!r} must be a range (low, high), got {value!r}"
            ) from None
        if not (self.low <= low < high <= self.high):
            raise ConfigError(
                f"restriction {name!r} = ({low:g}, {high:g}) is outside the range this model "
                f"was trained on; accepted: low < high within [{self.low:g}, {self.high:g}]"
            )
        return (low, high)

    def features(self, value: tuple[float, float]) -> list[float]:
        return [self._scale(value[0]), self._scale(value[1])]

    def draw(self, generator: torch.Generator) -> tuple[float, float]:
        while True:
            a, b = sorted((_uniform(generator), _uniform(generator)))
            if b - a >= self.min_width:
                return (round(self._unscale(a), 6), round(self._unscale(b), 6))

    def to_argument(self, value: tuple[float, float]):
        return value


@attrs.frozen
class Count:
    """A restriction to an integer bound in ``[low, high]`` (``high``: unrestricted)."""

    low: int
    high: int

    width = 1

    def full(self) -> int:
        return int(self.high)

    def canonical(self, name: str, value) -> int:
        if isinstance(value, bool) or not isinstance(value, int):
            raise ConfigError(f"restriction {name!r} must be an integer, got {value!r}")
        if not self.low <= value <= self.high:
            raise ConfigError(
                f"restriction {name!r} = {value} is outside the range this model was trained "
                f"on; accepted: {self.low}..{self.high}"
            )
        return int(value)

    def features(self, value: int) -> list[float]:
        span = max(self.high - self.low, 1)
        return [(value - self.low) / span]

    def draw(self, generator: torch.Generator) -> int:
        return int(torch.randint(self.low, self.high + 1, (), generator=generator))

    def to_argument(self, value: int):
        return value


Domain = Subset | Interval | Count
