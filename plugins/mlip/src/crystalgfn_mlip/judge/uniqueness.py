"""Uniqueness of relaxed structures within one evaluation (pymatgen ``StructureMatcher``)."""

from __future__ import annotations

import collections
import warnings
from pathlib import Path


def unique_flags(out_dir: Path, rows: list[dict]) -> list[bool | None]:
    """For each row in order: ``True`` when no earlier relaxed structure matches its relaxed
    structure (``relaxed/<row>.cif``), ``False`` when one does, ``None`` when it was not
    relaxed. Only structures of the same reduced formula are compared."""
    from pymatgen.analysis.structure_matcher import StructureMatcher
    from pymatgen.core import Structure

    matcher = StructureMatcher()
    seen: dict[str, list] = collections.defaultdict(list)
    flags: list[bool | None] = []
    for row in rows:
        if row.get("relaxed") != 1:
            flags.append(None)
            continue
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            structure = Structure.from_file(Path(out_dir) / "relaxed" / f"{row['row']}.cif")
        formula = structure.composition.reduced_formula
        duplicate = any(matcher.fit(structure, other) for other in seen[formula])
        seen[formula].append(structure)
        flags.append(not duplicate)
    return flags
