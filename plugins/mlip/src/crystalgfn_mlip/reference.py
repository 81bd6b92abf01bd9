"""The shipped competing phases of the ``chgnet`` oracle, and the known crystals for novelty.

``data/chgnet_reference.csv.gz``: Materials Project crystals whose elements lie in the 22
elements of the Crystal-GFN paper, each relaxed with CHGNet 0.3.0 (and elemental ground
states of elements the data set lacks, found by a search with the same potential), written
by ``scripts/build_reference.py``; ``data/chgnet_reference.json`` records how.
``data/mp_structures.jsonl.gz``: the same Materials Project crystals as published (DFT
relaxed), for novelty.
"""

from __future__ import annotations

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


@functools.lru_cache(maxsize=1)
def known_structures() -> tuple:
    """``(material_id, Structure)`` of the shipped Materials Project crystals (cached)."""
    from pymatgen.core import Lattice, Structure

    pairs = []
    with _data(STRUCTURES_FILE).open("rb") as raw:
        for line in io.TextIOWrapper(gzip.open(raw), encoding="utf-8"):
            record = json.loads(line)
            structure = Structure(Lattice(record["lattice"]), record["species"], record["frac"])
            pairs.append((record["material_id"], structure))
    return tuple(pairs)
