"""Sampling-time restrictions given on the command line, turned into ``Environment.restrict``
keyword arguments."""

from __future__ import annotations

import argparse
import re
from collections.abc import Sequence

from crystalgfn.errors import ConfigError

#: Flags that take ``LOW:HIGH``; a negative ``LOW`` must be attached (``--lengths=-1:5``),
#: since argparse reads a separate ``-1:5`` as a flag.
RANGE_FLAGS = ("--lengths", "--angles")
_LOOKS_NEGATIVE = re.compile(r"^-[\d.]")


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


def detached_negative_range(argv: Sequence[str]) -> str | None:
    """The error for a range flag followed by a separate negative value (``--lengths -1:5``,
    which argparse would reject as "expected one argument"), suggesting the attached form."""
    for flag, value in zip(argv[:-1], argv[1:], strict=True):
        if flag in RANGE_FLAGS and _LOOKS_NEGATIVE.match(value):
            return (
                f"argument {flag}: {value!r} starts with '-', so it is read as a flag, not as "
                f"LOW:HIGH; attach it with '=': {flag}={value}"
            )
    return None


def add_restriction_arguments(parser: argparse.ArgumentParser) -> None:
    group = parser.add_argument_group("restrictions (applied at sampling time)")
    group.add_argument("--elements", help="only these elements, e.g. Fe,O")
    group.add_argument("--max-atoms-per-element", type=int, metavar="N",
                       help="at most N atoms of each element")
    group.add_argument("--space-groups", metavar="SPEC",
                       help="space-group numbers and ranges, e.g. 195-230")
    group.add_argument("--crystal-systems", metavar="NAMES", help="e.g. cubic,hexagonal")
    group.add_argument("--lengths", metavar="LOW:HIGH",
                       help="lattice lengths a, b, c in angstrom, e.g. 10:20")
    group.add_argument("--angles", metavar="LOW:HIGH",
                       help="lattice angles in degrees, e.g. 75:135")


def restrictions_from_args(args: argparse.Namespace) -> dict:
    """The restrictions the user gave, as ``restrict`` keyword arguments."""
    given: dict = {}
    if args.elements:
        given["elements"] = [s.strip() for s in args.elements.split(",") if s.strip()]
    if args.max_atoms_per_element is not None:
        given["max_atoms_per_element"] = args.max_atoms_per_element
    if args.space_groups:
        given["space_groups"] = args.space_groups
    if args.crystal_systems:
        given["crystal_systems"] = args.crystal_systems
    if args.lengths:
        given["lengths"] = parse_range(args.lengths, "--lengths")
    if args.angles:
        given["angles"] = parse_range(args.angles, "--angles")
    return given
