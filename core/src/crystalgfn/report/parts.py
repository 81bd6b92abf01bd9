"""What reports know about a state part, declared by the plugin that provides it.

A report reads sample tables back into the parts an environment provides, counts their
diversity, shows them in the top-k table and plots them. None of that is written in core:
each part's :class:`ReportPart` (registered with the ``register_report_parts`` hook, keyed by
the part's name) declares its columns and draws its own sections, the way a third-party
environment's part would. A part without one is still summarised column by column.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import ClassVar

import numpy as np
import torch


@dataclass(frozen=True)
class Column:
    """One table column: its name, how axes and tables label it, its unit and whether it
    holds text (never summarised as a number)."""

    name: str
    label: str = ""
    unit: str = ""
    text: bool = False

    @property
    def title(self) -> str:
        """The label, or the name with spaces."""
        return self.label or self.name.replace("_", " ")


class ReportPart:
    """How reports read and show one state part (subclass it in the plugin of the part).

    ``columns``: the table columns the part is read back from (a table of an environment
    that provides the part must have them); ``described``: the other columns the part's
    environment writes (its ``describe``), which describe a crystal rather than a property of
    it. Override what the part has; the defaults add nothing.
    """

    #: the part's name, as in an environment's ``provides``
    name: ClassVar[str] = ""
    columns: ClassVar[tuple[Column, ...]] = ()
    described: ClassVar[tuple[Column, ...]] = ()
    #: whether a row whose value is NaN or infinite is flagged (counted, never measured)
    finite: ClassVar[bool] = False
    #: captions of the plots :meth:`plots` draws, by file name
    captions: ClassVar[dict[str, str]] = {}

    def read(self, cells: Callable[[str, Callable[[str], object]], list]) -> torch.Tensor:
        """The part's values from the table: ``cells(column, parse)`` is every cell of
        ``column`` parsed by ``parse`` (a ``ValueError`` it raises names the row)."""
        raise NotImplementedError(f"report part {self.name!r} cannot be read from a table")

    def derived(self, value: torch.Tensor) -> dict[str, torch.Tensor]:
        """Columns computed from the part, for tables that lack them (e.g. a reference)."""
        return {}

    def keys(self, value: torch.Tensor, decimals: int) -> list:
        """One hashable entry per row (crystals with equal entries of every part are the
        same): floats rounded to ``decimals``, integers as they are."""
        if value.is_floating_point():
            rounded = np.round(value.double().numpy(), decimals) + 0.0  # no -0.0
            return [tuple(np.atleast_1d(row).tolist()) for row in rounded]
        return [tuple(np.atleast_1d(row).tolist()) for row in value.numpy()]

    def diversity(self, crystals) -> dict:
        """Numbers of distinct values of the part (and of its described columns)."""
        return {}

    def top_columns(self, crystals) -> list[tuple[str, Callable[[int], object]]]:
        """``(header, row -> cell)`` of the top-k table, for the columns ``crystals`` has."""
        return []

    def plots(self, out_dir: Path, series: Sequence, space: Sequence) -> list[str]:
        """Draw the part's plots (:class:`crystalgfn.report.plots.Series` of every set;
        ``space``: the sets sampled in the environment) into ``out_dir``; their names."""
        return []


def report_parts(parts: Sequence[str] | None = None) -> list[ReportPart]:
    """The registered report parts of ``parts`` (default: every registered one), in order."""
    from crystalgfn.plugins import get_plugins

    registry = get_plugins().report_parts
    names = registry.names() if parts is None else [p for p in parts if p in registry]
    return [registry.get(name).subclass_of(ReportPart)() for name in names]


def column_info(name: str, parts: Sequence[ReportPart] = ()) -> Column:
    """What is declared about column ``name``: by a report part, else by the proxy of that
    name (its ``unit``), else nothing but the name."""
    for part in parts:
        for column in (*part.columns, *part.described):
            if column.name == name:
                return column
    from crystalgfn.plugins import get_plugins

    proxies = get_plugins().proxies
    if name in proxies:
        try:
            factory = proxies.get(name).factory
        except Exception:  # a proxy that cannot load still gets its column plotted
            return Column(name)
        return Column(name, getattr(factory, "label", ""), getattr(factory, "unit", ""))
    return Column(name)
