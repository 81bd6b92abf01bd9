"""Calling registered factories with the user's keyword arguments, validated."""

from __future__ import annotations

import inspect
from collections.abc import Callable, Mapping

from crystalgfn.errors import ConfigError


def accepted_kwargs(factory: Callable) -> list[str] | None:
    """Keyword names ``factory`` accepts, or ``None`` when it takes ``**kwargs``."""
    parameters = inspect.signature(factory).parameters.values()
    if any(p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
        return None
    return [
        p.name
        for p in parameters
        if p.kind in (inspect.Parameter.POSITIONAL_OR_KEYWORD, inspect.Parameter.KEYWORD_ONLY)
    ]


def call_with_kwargs(kind: str, name: str, factory: Callable, kwargs: Mapping[str, object]):
    """``factory(**kwargs)``, with unknown keys reported together with the accepted ones."""
    accepted = accepted_kwargs(factory)
    if accepted is not None:
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ConfigError(
                f"{kind} {name!r} does not accept {unknown}; accepted keyword arguments: "
                f"{accepted or '(none)'}"
            )
    return factory(**kwargs)
