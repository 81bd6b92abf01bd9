"""Checks of user-supplied values (run config keys, settings): each names the key, the value
and what is accepted, e.g. ``steps must be an integer >= 1, got 'many' (a string)``."""

from __future__ import annotations

import math
import numbers
from collections.abc import Mapping, Sequence

import attrs

from crystalgfn.errors import ConfigError

_TYPE_NAMES = {
    bool: "a boolean", int: "an integer", float: "a number", str: "a string",
    list: "an array", dict: "a table", type(None): "nothing",
}


def _type_name(value) -> str:
    if isinstance(value, Mapping):
        return "a table"
    return _TYPE_NAMES.get(type(value), f"a {type(value).__name__}")


def _bound(value: float) -> str:
    return str(int(value)) if float(value).is_integer() else repr(value)


@attrs.frozen
class Rule:
    """What one value must be: of ``kind`` (``int``, ``float``, ``bool``, ``str``), within
    ``low``/``high`` (inclusive unless ``open_low``/``open_high``) or one of ``choices``.

    ``float`` accepts integers too (and numpy scalars are numbers); no number accepts a
    boolean; numbers must be finite."""

    kind: type
    low: float | None = None
    high: float | None = None
    open_low: bool = False
    open_high: bool = False
    choices: Sequence[str] | None = None

    def accepted(self) -> str:
        if self.choices is not None:
            return f"one of {list(self.choices)}"
        if self.kind is bool:
            return "true or false"
        if self.kind is str:
            return "a string"
        what = "an integer" if self.kind is int else "a number"
        if self.low is not None and self.high is not None:
            left, right = "(" if self.open_low else "[", ")" if self.open_high else "]"
            return f"{what} in {left}{_bound(self.low)}, {_bound(self.high)}{right}"
        if self.low is not None:
            return f"{what} {'>' if self.open_low else '>='} {_bound(self.low)}"
        if self.high is not None:
            return f"{what} {'<' if self.open_high else '<='} {_bound(self.high)}"
        return what

    def _fits(self, value) -> bool:
        if self.kind is bool:
            return isinstance(value, bool)
        if self.kind is str:
            return isinstance(value, str) and (self.choices is None or value in self.choices)
        numeric = numbers.Integral if self.kind is int else numbers.Real
        if isinstance(value, bool) or not isinstance(value, numeric) or not math.isfinite(value):
            return False
        if self.low is not None and (value <= self.low if self.open_low else value < self.low):
            return False
        if self.high is not None and (value >= self.high if self.open_high else value > self.high):
            return False
        return True

    def check(self, key: str, value) -> None:
        """Raise :class:`ConfigError` unless ``value`` is accepted for ``key``."""
        if self._fits(value):
            return
        expected = {int: numbers.Integral, float: numbers.Real}.get(self.kind, self.kind)
        wrong_type = not isinstance(value, expected)
        wrong_type = wrong_type or (self.kind is not bool and isinstance(value, bool))
        shown = f"{value!r} ({_type_name(value)})" if wrong_type else repr(value)
        raise ConfigError(f"{key} must be {self.accepted()}, got {shown}")
