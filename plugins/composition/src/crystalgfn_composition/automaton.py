"""Count-multiset languages as minimal automata.

Several constraints on a composition depend only on the *multiset* of its atom counts: the
number of distinct elements, the number of atoms in the cell, and compatibility with the
Wyckoff positions of a space group. Such a constraint is a *language*: a set of count
multisets. Elements are added one at a time, so to mask exactly we need, after every prefix,
to know which multisets can still be completed to a member of the language.

:func:`build_automaton` returns the minimal deterministic automaton of one or several
languages at once: two prefixes (of the same or of different languages) share a state exactly
when they have the same set of completions (Myhill–Nerode). It is small (tens to a few
hundred states) although a language may hold tens of thousands of multisets, and reading the
counts in any order reaches the same state, since the input is a multiset.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping

import attrs
import numpy as np

#: Transition target meaning "no completion exists any more".
DEAD = -1


@functools.lru_cache(maxsize=16)
def enumerate_multisets(max_count: int, max_size: int) -> list[tuple[int, ...]]:
    """All multisets of values in ``1..max_count`` with at most ``max_size`` entries, as sorted
    tuples, in order of size then lexicographically. The empty multiset comes first."""
    out: list[tuple[int, ...]] = []
    for size in range(max_size + 1):
        out.extend(itertools.combinations_with_replacement(range(1, max_count + 1), size))
    return out


@functools.lru_cache(maxsize=16)
def _levels(max_count: int, max_size: int):
    """Per size ``k``: the multisets as an array ``(n_k, k)`` and their indices in
    :func:`enumerate_multisets` order, plus a code for any padded sorted multiset."""
    multisets = enumerate_multisets(max_count, max_size)
    base = max_count + 1
    weights = base ** np.arange(max_size, dtype=np.int64)

    def code(rows: np.ndarray) -> np.ndarray:
        """Codes of multisets given as rows padded with 0 to ``max_size`` (any order)."""
        return np.sort(rows, axis=-1) @ weights

    padded = np.array([list(m) + [0] * (max_size - len(m)) for m in multisets], dtype=np.int64)
    codes = code(padded)
    order = np.argsort(codes)
    levels, up_to = [], []
    start = 0
    for k in range(max_size + 1):
        n_k = len(list(itertools.combinations_with_replacement(range(max_count), k)))
        levels.append(padded[start : start + n_k, :k])
        start += n_k
        # Multisets of size <= k, padded with zeros to width k.
        up_to.append(padded[:start, :k])
    return levels, up_to, code, codes[order], order


@attrs.frozen
class CountAutomaton:
    """Minimal automaton of one or several count-multiset languages.

    Attributes:
        transitions: int64 ``(n_states, max_count + 1)``; ``transitions[s, n]`` is the state
            after adding an element with ``n`` atoms (column 0 unused), :data:`DEAD` if no
            completion remains.
        accepting: bool ``(n_states,)``; the multiset read so far is in the language.
        size: int64 ``(n_states,)``; number of counts read to reach the state.
        starts: state of the empty multiset for each language label (:data:`DEAD` when the
            language is empty).
    """

    transitions: np.ndarray
    accepting: np.ndarray
    size: np.ndarray
    starts: Mapping[int, int]

    @property
    def n_states(self) -> int:
        return self.transitions.shape[0]

    def run(self, label: int, counts) -> int:
        """State reached from language ``label`` after reading ``counts``; :data:`DEAD` if none."""
        state = self.starts[label]
        for count in counts:
            if state == DEAD:
                return DEAD
            state = int(self.transitions[state, count])
        return state


def build_automaton(
    languages: Mapping[int, np.ndarray], max_count: int, max_size: int
) -> CountAutomaton:
    """Minimal joint automaton of labelled languages.

    ``languages[label]`` is a bool array aligned with :func:`enumerate_multisets`
    ``(max_count, max_size)``: membership of each multiset.
    """
    levels, up_to, code, sorted_codes, order = _levels(max_count, max_size)
    n_multisets = len(sorted_codes)
    labels = list(languages)
    members = []
    for label in labels:
        member = np.asarray(languages[label], dtype=bool)
        if member.shape != (n_multisets,):
            raise ValueError(
                f"language {label} has shape {member.shape}; expected ({n_multisets},) for "
                f"max_count={max_count}, max_size={max_size}"
            )
        members.append(member)
    member_by_code = np.stack(members)[:, order]  # (L, n_multisets), columns in code order

    def lookup(rows: np.ndarray) -> np.ndarray:
        """Column (code order) of each padded multiset row."""
        return np.searchsorted(sorted_codes, code(rows))

    # state_of[k]: (L, n_k) global state of each prefix of size k, DEAD if no completion.
    state_of: list[np.ndarray] = []
    futures: dict[tuple[int, bytes], int] = {}
    sizes: list[int] = []
    for k in range(max_size + 1):
        prefixes = levels[k]  # (n_k, k)
        rest = up_to[max_size - k]  # every completion that still fits, padded
        joined = np.concatenate(
            [
                np.broadcast_to(prefixes[:, None, :], (len(prefixes), len(rest), k)),
                np.broadcast_to(rest[None, :, :], (len(prefixes), len(rest), max_size - k)),
            ],
            axis=2,
        )
        columns = lookup(joined)  # (n_k, n_rest)
        future = member_by_code[:, columns]  # (L, n_k, n_rest)
        packed = np.packbits(future, axis=2)
        alive = future.any(axis=2)
        states = np.full((len(labels), len(prefixes)), DEAD, dtype=np.int64)
        for label_index, prefix_index in zip(*np.nonzero(alive), strict=True):
            key = (k, packed[label_index, prefix_index].tobytes())
            state = futures.get(key)
            if state is None:
                state = futures[key] = len(sizes)
                sizes.append(k)
            states[label_index, prefix_index] = state
        state_of.append(states)

    n_states = len(sizes)
    transitions = np.full((max(n_states, 1), max_count + 1), DEAD, dtype=np.int64)
    accepting = np.zeros(max(n_states, 1), dtype=bool)
    for k in range(max_size + 1):
        states = state_of[k]
        prefixes = levels[k]
        label_index, prefix_index = np.nonzero(states >= 0)
        # One representative prefix per state is enough: equivalent prefixes agree.
        unique_states, first = np.unique(states[label_index, prefix_index], return_index=True)
        rep_label, rep_prefix = label_index[first], prefix_index[first]
        padded = np.zeros((len(first), max_size), dtype=np.int64)
        padded[:, :k] = prefixes[rep_prefix]
        accepting[unique_states] = member_by_code[rep_label, lookup(padded)]
        if k == max_size:
            continue
        next_prefixes = levels[k + 1]
        next_index = {tuple(row): i for i, row in enumerate(next_prefixes.tolist())}
        for count in range(1, max_count + 1):
            grown = np.sort(
                np.concatenate([prefixes[rep_prefix], np.full((len(first), 1), count)], axis=1),
                axis=1,
            )
            target_index = np.array(
                [next_index[tuple(row)] for row in grown.tolist()], dtype=np.int64
            )
            transitions[unique_states, count] = state_of[k + 1][rep_label, target_index]
    starts = {label: int(state_of[0][i, 0]) for i, label in enumerate(labels)}
    return CountAutomaton(
        transitions=transitions,
        accepting=accepting,
        size=np.array(sizes or [0], dtype=np.int64),
        starts=starts,
    )
