"""Sampling-time restrictions: declared by the environment plugins, offered as command-line
flags, turned into ``Environment.restrict`` keyword arguments.

An environment plugin declares what its class's ``restrict`` accepts when it registers it::

    register("my_package.env:MyEnv", name="mine", restrictions=[
        Restriction("max_units", kind="int", help="at most N formula units"),
    ])

and ``crystalgfn sample`` / ``crystalgfn report`` grow a ``--max-units N`` flag, without
importing the class (so ``--help`` stays fast). The value reaches ``restrict(max_units=N)``.
This module imports neither torch nor any plugin.
"""

from __future__ import annotations

import argparse
import re
from collections.abc import Iterable, Mapping, Sequence

import attrs

from crystalgfn.errors import ConfigError, PluginLoadError

#: Kinds of value a restriction takes on the command line.
KINDS = ("str", "int", "float", "list", "range")
_METAVARS = {"str": "VALUE", "int": "N", "float": "X", "list": "A,B", "range": "LOW:HIGH"}
_LOOKS_NEGATIVE = re.compile(r"^-[\d.]")


@attrs.frozen
class Restriction:
    """One keyword argument of an environment's ``restrict``, as a command-line flag.

    ``kind`` says how the flag's text becomes the value: ``"str"`` (as given), ``"int"``,
    ``"float"``, ``"list"`` (comma-separated, e.g. ``Fe,O`` -> ``["Fe", "O"]``) or ``"range"``
    (``LOW:HIGH`` -> ``(low, high)``, LOW < HIGH).
    """

    name: str = attrs.field()
    help: str = ""
    kind: str = attrs.field(default="str")
    metavar: str | None = None

    @name.validator
    def _check_name(self, attribute, value):
        if not isinstance(value, str) or not value.isidentifier():
            raise ValueError(
                f"a restriction name must be a Python identifier (the keyword argument of "
                f"restrict()), got {value!r}"
            )

    @kind.validator
    def _check_kind(self, attribute, value):
        if value not in KINDS:
            raise ValueError(f"restriction kind must be one of {list(KINDS)}, got {value!r}")

    @property
    def flag(self) -> str:
        """The command-line flag, e.g. ``--max-atoms-per-element``."""
        return "--" + self.name.replace("_", "-")

    def parse(self, value):
        """The ``restrict`` keyword value of the flag's (argparse-converted) value."""
        if self.kind == "list":
            return [s.strip() for s in str(value).split(",") if s.strip()]
        if self.kind == "range":
            return parse_range(str(value), self.flag)
        return value

    def format(self, value) -> str:
        """The flag's text for the ``restrict`` keyword value ``value``: the inverse of
        :meth:`parse` (``["Fe", "O"]`` -> ``"Fe,O"``, ``(10.0, 20.0)`` -> ``"10:20"``)."""
        if self.kind == "list" and not isinstance(value, str):
            return ",".join(str(item) for item in value)
        if self.kind == "range" and not isinstance(value, str):
            low, high = value
            return f"{float(low):g}:{float(high):g}"
        return str(value)


def as_flags(restrictions: Mapping) -> list[str]:
    """The command-line arguments that give ``restrictions`` (``restrict`` keyword
    arguments, e.g. from :func:`from_config`) to ``crystalgfn sample``:
    ``{"elements": ["Fe", "O"]}`` -> ``["--elements", "Fe,O"]``. A name no installed
    environment declares is a :class:`ConfigError`."""
    declared = {restriction.name: restriction for restriction, _ in declared_restrictions()}
    argv = []
    for name, value in restrictions.items():
        if name not in declared:
            raise ConfigError(
                f"restriction {name!r} is not declared by any installed environment; "
                f"declared: {sorted(declared)}"
            )
        argv += [declared[name].flag, declared[name].format(value)]
    return argv


def check_restrictions(restrictions: object, what: str, distribution: str) -> tuple:
    """``restrictions`` as a tuple of :class:`Restriction`, or :class:`PluginLoadError`."""
    if isinstance(restrictions, (str, Restriction)) or not isinstance(restrictions, Iterable):
        restrictions = [restrictions]
    restrictions = tuple(restrictions)
    for item in restrictions:
        if not isinstance(item, Restriction):
            raise PluginLoadError(
                f"{what} from distribution {distribution!r} declares restrictions={item!r}; "
                "each must be a crystalgfn.restrictions.Restriction(name, help=..., kind=...)"
            )
    return restrictions


def parse_range(text: str, flag: str) -> tuple[float, float]:
    """``"10:20"`` → ``(10.0, 20.0)``; anything else is a :class:`ConfigError`."""
    parts = text.split(":")
    try:
        low, high = (float(p) for p in parts)
    except ValueError:
        raise ConfigError(f"{flag} expects LOW:HIGH (e.g. 10:20), got {text!r}") from None
    if not low < high:
        raise ConfigError(f"{flag} expects LOW < HIGH, got {text!r}")
    return low, high


def declared_restrictions() -> list[tuple[Restriction, list[str]]]:
    """Every restriction the installed environments declare, once per name (the first
    declaration wins), with the names of the environments that declare it."""
    from crystalgfn.plugins import get_plugins

    found: dict[str, tuple[Restriction, list[str]]] = {}
    for entry in get_plugins().envs:
        for restriction in entry.details.get("restrictions", ()):
            found.setdefault(restriction.name, (restriction, []))[1].append(entry.name)
    return list(found.values())


def detached_negative_range(argv: Sequence[str]) -> str | None:
    """The error for a range flag followed by a separate negative value (``--lengths -1:5``,
    which argparse would reject as "expected one argument"), suggesting the attached form."""
    if len(argv) < 2 or not any(_LOOKS_NEGATIVE.match(value) for value in argv[1:]):
        return None  # the common case: no need to look the declared restrictions up
    range_flags = {r.flag for r, _ in declared_restrictions() if r.kind == "range"}
    for flag, value in zip(argv[:-1], argv[1:], strict=True):
        if flag in range_flags and _LOOKS_NEGATIVE.match(value):
            return (
                f"argument {flag}: {value!r} starts with '-', so it is read as a flag, not as "
                f"LOW:HIGH; attach it with '=': {flag}={value}"
            )
    return None


def add_restriction_arguments(parser: argparse.ArgumentParser) -> None:
    """One flag per declared restriction. A restriction whose flag another option of
    ``parser`` already uses is left out (the parser's own option wins)."""
    group = parser.add_argument_group("restrictions (applied at sampling time)")
    added = []
    for restriction, env_names in declared_restrictions():
        converter = {"int": int, "float": float}.get(restriction.kind)
        help_text = f"{restriction.help or restriction.name} [{', '.join(env_names)}]"
        try:
            group.add_argument(
                restriction.flag,
                dest=restriction.name,
                type=converter,
                metavar=restriction.metavar or _METAVARS[restriction.kind],
                help=help_text.replace("%", "%%"),
            )
        except argparse.ArgumentError:
            continue
        added.append(restriction)
    parser.set_defaults(restriction_flags=tuple(added))


def from_config(given: Mapping, where: str = "[restrictions]") -> dict:
    """A run config's ``[restrictions]`` table as ``restrict`` keyword arguments: a string
    value of a declared restriction is read as its flag would be (``lengths = "10:20"`` ->
    ``(10.0, 20.0)``, ``elements = "Fe,O"`` -> ``["Fe", "O"]``); anything else is passed as
    it is, for the environment's ``restrict`` to validate. ``where`` names the table in
    errors."""
    declared = {restriction.name: restriction for restriction, _ in declared_restrictions()}
    out = dict(given)
    for name, value in given.items():
        restriction = declared.get(name)
        if restriction is None or not isinstance(value, str):
            continue
        if restriction.kind in ("int", "float"):
            try:
                out[name] = int(value) if restriction.kind == "int" else float(value)
            except ValueError:
                raise ConfigError(
                    f"{where} {name} must be a number ({restriction.kind}), got {value!r}"
                ) from None
        elif restriction.kind == "range":
            out[name] = parse_range(value, f"{where} {name}")
        else:
            out[name] = restriction.parse(value)
    return out


def restrictions_from_args(args: argparse.Namespace) -> dict:
    """The restrictions the user gave, as ``restrict`` keyword arguments."""
    given: dict = {}
    for restriction in getattr(args, "restriction_flags", ()):
        value = getattr(args, restriction.name, None)
        if value is None or value == "":
            continue
        parsed = restriction.parse(value)
        if restriction.kind == "list" and not parsed:
            continue
        given[restriction.name] = parsed
    return given
