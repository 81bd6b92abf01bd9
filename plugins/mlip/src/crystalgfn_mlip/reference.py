"""The shipped competing phases of the ``chgnet`` oracle, and the known crystals for novelty.

``data/chgnet_reference.csv.gz``: Materials Project crystals whose elements lie in the 22
elements of the Crystal-GFN paper, each relaxed with CHGNet 0.3.0 (and elemental ground
states of elements the data set lacks, found by a search with the same potential), written
by ``scripts/build_reference.py``; ``data/chgnet_reference.json`` records how.
``data/mp_structures.jsonl.gz``: the same Materials Project crystals as published (DFT
relaxed), for novelty.
"""

from __future__ import annotations

import collections
import csv
import functools
import gzip
import io
import json
from importlib import resources

from crystalgfn.oracle import OracleReference, ReferenceEntry

REFERENCE_FILE = "chgnet_reference.csv.gz"
PROVENANCE_FILE = "chgnet_reference.json"
STRUCTURES_FILE = "mp_structures.jsonl.gz"


def _data(name: str):
    return resources.files("crystalgfn_mlip") / "data" / name


@functools.lru_cache(maxsize=1)
def load_reference() -> OracleReference:
    """The shipped CHGNet competing phases (cached)."""
    with _data(REFERENCE_FILE).open("rb") as raw, gzip.open(raw, "rt", newline="") as stream:
        entries = tuple(
            ReferenceEntry(row["material_id"], row["formula"], float(row["energy_per_atom"]))
            for row in csv.DictReader(stream)
        )
    provenance = json.loads(_data(PROVENANCE_FILE).read_text())
    return OracleReference(entries=entries, structures=known_structures, provenance=provenance)


def known_structures(reduced_formula: str) -> list:
    """The shipped Materials Project crystals of ``reduced_formula`` (pymatgen
    ``Structure`` objects, built on first use of that formula)."""
    from pymatgen.core import Lattice, Structure

    return [Structure(Lattice(r["lattice"]), r["species"], r["frac"],
                      properties={"material_id": r["material_id"]})
            for r in _records().get(reduced_formula, ())]


@functools.lru_cache(maxsize=1)
def _records() -> dict[str, list[dict]]:
    from pymatgen.core import Composition

    by_formula: dict[str, list[dict]] = {}
    with _data(STRUCTURES_FILE).open("rb") as raw:
        for line in io.TextIOWrapper(gzip.open(raw), encoding="utf-8"):
            record = json.loads(line)
            formula = Composition(dict(collections.Counter(record["species"]))).reduced_formula
            by_formula.setdefault(formula, []).append(record)
    return by_formula
