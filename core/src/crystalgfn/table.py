"""Tables of sampled objects: one row per done state, written as CSV."""

from __future__ import annotations

import csv
import os
from collections.abc import Mapping
from pathlib import Path

from crystalgfn.atomic import atomic_path
from crystalgfn.env import Environment
from crystalgfn.states import State


def describing_names() -> list[str]:
    """Names of the installed proxies registered with ``describes=True``: exact properties of
    a state (e.g. a density), not predictions, computed alike for every table."""
    from crystalgfn.plugins import get_plugins

    return [e.name for e in get_plugins().proxies if e.details.get("describes", False)]


def describing_proxies(parts) -> list:
    """The describing proxies (:func:`describing_names`) that read only parts among
    ``parts``, built with their defaults."""
    from crystalgfn.builders import make_proxy

    proxies = [make_proxy(name) for name in sorted(describing_names())]
    return [proxy for proxy in proxies if set(proxy.requires) <= set(parts)]


def describe(env: Environment, done: State) -> dict[str, list]:
    """Columns describing done states: the environment's own columns (its
    :meth:`~crystalgfn.env.Environment.describe`) plus one column per installed proxy that
    declares it describes states (``register(..., describes=True)``, e.g. an exact density)
    and reads only parts the environment provides."""
    values = env.values(done)
    columns = env.describe(values)
    for proxy in describing_proxies(values):
        if proxy.name not in columns:
            columns[proxy.name] = proxy(values).tolist()
    return columns


def write_csv(path: str | os.PathLike, columns: Mapping[str, list]) -> Path:
    """Write columns as CSV atomically (a temporary file renamed into place)."""
    names = list(columns)
    rows = zip(*(columns[name] for name in names), strict=True)  # columns of one table
    with atomic_path(path) as temporary, temporary.open("w", newline="") as stream:
        writer = csv.writer(stream)
        writer.writerow(names)
        for row in rows:
            writer.writerow([f"{v:.6g}" if isinstance(v, float) else v for v in row])
    return Path(path)
