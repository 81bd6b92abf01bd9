"""The composition environment's start-up tables, through Crystal-GFN's disk cache.

The count automata and the completability tables of the default space take about two
seconds to compute and depend only on their inputs, so each command after the first reads
them from :mod:`crystalgfn.cache` (keyed by those inputs and by the source of the modules
that compute them).
"""

from __future__ import annotations

from collections.abc import Mapping

import attrs
import numpy as np
import torch
from crystalgfn.cache import cached_arrays, pack_int_mapping, unpack_int_mapping

from crystalgfn_composition import automaton as automaton_module
from crystalgfn_composition import feasibility as feasibility_module
from crystalgfn_composition.automaton import CountAutomaton, build_automaton
from crystalgfn_composition.feasibility import Chemistry, Tables, build_tables

_CODE = (automaton_module, feasibility_module)


def cached_automaton(
    languages: Mapping[int, np.ndarray], max_count: int, max_size: int
) -> CountAutomaton:
    """:func:`~crystalgfn_composition.automaton.build_automaton`, cached on disk."""
    languages = {int(label): np.asarray(member, dtype=bool) for label, member in languages.items()}

    def build() -> dict[str, np.ndarray]:
        automaton = build_automaton(languages, max_count, max_size)
        return {
            "transitions": automaton.transitions,
            "accepting": automaton.accepting,
            "size": automaton.size,
            "starts": pack_int_mapping(automaton.starts),
        }

    arrays = cached_arrays("count-automaton", (languages, max_count, max_size), build, _CODE)
    return CountAutomaton(
        transitions=arrays["transitions"],
        accepting=arrays["accepting"],
        size=arrays["size"],
        starts=unpack_int_mapping(arrays["starts"]),
    )


def cached_tables(
    chem: Chemistry,
    automaton: CountAutomaton,
    max_count: int,
    max_elements: int,
    weights: np.ndarray | None = None,
) -> Tables:
    """:func:`~crystalgfn_composition.feasibility.build_tables`, cached on disk (with
    ``weights``: the float64 (max, +) tables, mostly ``-inf``, which compress well)."""
    return as_tables(cached_table_arrays(chem, automaton, max_count, max_elements, weights))


def as_tables(arrays: Mapping[str, np.ndarray]) -> Tables:
    """The :class:`Tables` of :func:`cached_table_arrays`' arrays."""
    return Tables(
        charged=torch.from_numpy(arrays["charged"]),
        neutral=torch.from_numpy(arrays["neutral"]),
        source=torch.from_numpy(arrays["source"]),
        max_charge=int(arrays["max_charge"]),
    )


def cached_table_arrays(
    chem: Chemistry,
    automaton: CountAutomaton,
    max_count: int,
    max_elements: int,
    weights: np.ndarray | None = None,
) -> Mapping[str, np.ndarray]:
    """The arrays of :func:`cached_tables` (``charged``, ``neutral``, ``source``,
    ``max_charge``). From a warm cache the large ones are read on first access: the (max, +)
    tables are about 120 MB each for the default space, while deciding whether a volume bound
    binds needs only ``source``."""
    weights = None if weights is None else np.asarray(weights, dtype=np.float64)

    def build() -> dict[str, np.ndarray]:
        tables = build_tables(
            chem, automaton.transitions, automaton.accepting, automaton.size, max_count,
            max_elements, weights,
        )
        return {
            "charged": tables.charged.numpy(),
            "neutral": tables.neutral.numpy(),
            "source": tables.source.numpy(),
            "max_charge": np.array(tables.max_charge),
        }

    key = (
        attrs.asdict(chem),
        automaton.transitions,
        automaton.accepting,
        automaton.size,
        max_count,
        max_elements,
    )
    if weights is not None:  # the boolean tables' key stays as it was
        key = (*key, weights)
    return cached_arrays("composition-tables", key, build, _CODE)
