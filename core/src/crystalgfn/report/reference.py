"""Reference tables in other formats than the sample format, converted by the plugin that
knows the format (hook ``register_reference_formats``; e.g. a Materials Project table)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import ClassVar

from crystalgfn.errors import ConfigError
from crystalgfn.report.io import _rows


class ReferenceFormat:
    """A table format a reference may come in (subclass it and register the subclass).

    ``columns``: the header columns that identify the format; :meth:`convert` gives the
    columns of the sample format (name -> one entry per row), ready for
    :func:`crystalgfn.table.write_csv`.
    """

    name: ClassVar[str] = ""
    columns: ClassVar[tuple[str, ...]] = ()

    def convert(self, path: Path) -> dict[str, list]:
        raise NotImplementedError(f"reference format {self.name!r} converts nothing")


def _formats() -> list[ReferenceFormat]:
    from crystalgfn.plugins import get_plugins

    return [entry.subclass_of(ReferenceFormat)() for entry in get_plugins().reference_formats]


def table_format(path: str | os.PathLike, what: str = "reference") -> ReferenceFormat | None:
    """The registered format whose columns the header of ``path`` has (None: the sample
    format, or one no plugin knows)."""
    table = _rows(Path(path), what)
    header = table[0] if table else []
    return next((f for f in _formats() if all(name in header for name in f.columns)), None)


def is_table_format(path: str | os.PathLike, what: str = "reference") -> bool:
    """Whether ``path`` is a table in a registered reference format (to be converted)."""
    return table_format(path, what) is not None


def reference_from_table(table_csv: str | os.PathLike) -> dict[str, list]:
    """Convert a table in a registered reference format into columns of the sample format
    (write them with :func:`crystalgfn.table.write_csv`). A file of no known format goes to
    the only registered format, which says what it lacks."""
    path = Path(table_csv)
    if not path.is_file():
        raise ConfigError(f"reference table {str(path)!r} does not exist")
    found = table_format(path, "reference table")
    formats = _formats()
    if found is None and len(formats) != 1:
        known = {f.name: list(f.columns) for f in formats}
        raise ConfigError(
            f"reference table {str(path)!r} is in no registered reference format "
            f"(format -> columns it needs: {known})"
        )
    return (found or formats[0]).convert(path)
