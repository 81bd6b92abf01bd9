"""Exact completability tables for the composition environment.

Elements are added in a fixed order (ascending Pauling electronegativity, ties by atomic
number), each with a count and a *label*: an oxidation state, or "neutral". A labelled
composition is valid when either

* every label is neutral and the composition is a single element, or (with ``alloys``)
  only metals — SMACT's single-element and alloy rules; or
* every label is an oxidation state, the charges sum to zero and, with the Pauling test,
  every cation is strictly less electronegative than every anion.

In electronegativity order the Pauling test says: all cations come first, and the first anion
is strictly more electronegative than the last cation. So a prefix is summarised by a *mode*
(start, neutral-metals, neutral-single, cations-only, anions-present), its total charge
``q``, the position of its last element, and the state ``g`` of a
:class:`~crystalgfn_composition.automaton.CountAutomaton` enforcing the count constraints.
:func:`build_tables` computes, for every summary, whether a valid completion exists; the
environment's masks read these tables, so no sampled prefix is ever a dead end.
"""

from __future__ import annotations

import attrs
import numpy as np
import torch

from crystalgfn_composition.automaton import DEAD

# Modes of a prefix. Charged modes index Tables.charged by (mode - CATIONS); neutral modes
# index Tables.neutral by (mode - NEUTRAL_METAL).
START, NEUTRAL_METAL, NEUTRAL_SINGLE, CATIONS, ANIONS = range(5)
N_MODES = 5


@attrs.frozen
class Chemistry:
    """Per-position element data; positions are sorted by (electronegativity, Z).

    Attributes:
        labels: int64 ``(K, S)``: slot 0 is "neutral" (value 0); slots 1.. hold oxidation
            states, padded with 0 where ``slot_valid`` is False.
        slot_valid: bool ``(K, S)``.
        electronegativity: float64 ``(K,)``; ``inf`` where unknown.
        is_metal: bool ``(K,)``.
        required: bool ``(K,)``.
        pauling: whether the Pauling test applies to charged labels.
        alloys: whether all-metal compositions are valid with neutral labels.
    """

    labels: np.ndarray
    slot_valid: np.ndarray
    electronegativity: np.ndarray
    is_metal: np.ndarray
    required: np.ndarray
    pauling: bool
    alloys: bool

    @property
    def n_positions(self) -> int:
        return self.labels.shape[0]

    def limit_after(self, last: int) -> int:
        """Largest position that may follow ``last`` (-1: nothing chosen): no required
        element may be skipped."""
        later = np.flatnonzero(self.required[last + 1 :])
        return last + 1 + int(later[0]) if later.size else self.n_positions - 1

    def no_required_after(self, last: int) -> bool:
        return not bool(self.required[last + 1 :].any())

    def anion_may_follow(self, last: int, position: int) -> bool:
        """May ``position`` carry an anion label after cations ending at ``last``?"""
        return last < 0 or bool(self.electronegativity[position] > self.electronegativity[last])

    def charged_mode(self, value: int) -> int:
        """Mode after a charged label: without the Pauling test all charged prefixes share
        the ANIONS mode, which accepts any sign in any order."""
        return CATIONS if (self.pauling and value > 0) else ANIONS


@attrs.frozen
class Tables:
    """Completability of every prefix summary (or, built with weights, the largest weight a
    valid completion adds: float64, ``-inf`` for False; see :func:`build_tables`).

    Attributes:
        charged: bool ``(K + 1, 2, 2Q + 1, G + 1)`` indexed ``[last + 1, mode - CATIONS,
            q + Q, g]``; column ``G`` is the dead automaton state (always False).
        neutral: bool ``(K + 1, 2, G + 1)`` indexed ``[last + 1, mode - NEUTRAL_METAL, g]``.
        source: bool ``(G + 1,)``: completable from the empty composition in state ``g``.
        max_charge: ``Q``; a prefix with ``|q| > Q`` cannot be neutralised.
    """

    charged: torch.Tensor
    neutral: torch.Tensor
    source: torch.Tensor
    max_charge: int


def automaton_arrays(transitions: np.ndarray, accepting: np.ndarray):
    """Torch transitions with an absorbing dead state ``G`` appended, and acceptance."""
    n_states = transitions.shape[0]
    trans = torch.from_numpy(np.where(transitions == DEAD, n_states, transitions))
    trans = torch.cat([trans, torch.full((1, trans.shape[1]), n_states, dtype=trans.dtype)])
    accept = torch.zeros(n_states + 1, dtype=torch.bool)
    accept[:n_states] = torch.from_numpy(accepting)
    return trans, accept


def build_tables(
    chem: Chemistry,
    transitions: np.ndarray,
    accepting: np.ndarray,
    sizes: np.ndarray,
    max_count: int,
    max_elements: int,
    weights: np.ndarray | None = None,
) -> Tables:
    """Completability tables by dynamic programming from the last position back.

    ``transitions`` ``(G, max_count + 1)``, ``accepting`` ``(G,)`` and ``sizes`` ``(G,)``
    describe the count automata (several may be stacked with consecutive state numbers).

    With ``weights`` (float64 ``(K,)``, one per position) the same recursion runs in the
    (max, +) semiring, adding ``count * weights[p]`` on entering position ``p``: the tables
    are float64 and hold the largest ``Σ n_e w_e`` that a valid completion adds (the whole
    composition for ``source``), ``-inf`` exactly where the boolean tables are False. With
    volumes per atom (Å³) that is the largest predicted volume a completion can add; with
    negated volumes, minus the smallest.
    """
    # One recursion serves both semirings so that the volume look-ahead can never disagree
    # with completability; np.maximum is the semiring sum in both (on bools, logical or).
    if weights is not None:
        weights = np.asarray(weights, dtype=np.float64)
    n_pos = chem.n_positions
    n_states = transitions.shape[0]
    # The dynamic programme runs in numpy: its many small boolean operations are far cheaper
    # there than as torch CPU kernels.
    trans_t, accept_t = automaton_arrays(transitions, accepting)
    trans, accept = trans_t.numpy(), accept_t.numpy()
    single = np.append(sizes == 1, False)
    charges = np.abs(chem.labels[chem.slot_valid])
    q_max = max(int(charges.max(initial=0)) * max_count * max(max_elements - 1, 1), 1)
    width = 2 * q_max + 1
    zero = q_max
    if weights is None:
        dtype, bottom = bool, False
        finished = accept  # value of closing the composition here
    else:
        dtype, bottom = np.float64, -np.inf
        finished = np.where(accept, 0.0, -np.inf)
    counts = np.arange(1, max_count + 1)

    def gain(table: np.ndarray, position: int, count) -> np.ndarray:
        """``table`` after adding ``count`` atoms at ``position`` (the semiring product)."""
        return table if weights is None else table + count * weights[position]

    def join(out: np.ndarray, table: np.ndarray) -> None:
        np.maximum(out, table, out=out)

    charged = np.full((n_pos + 1, 2, width, n_states + 1), bottom, dtype=dtype)
    neutral = np.full((n_pos + 1, 2, n_states + 1), bottom, dtype=dtype)
    # enter_*[p]: adding position p (some count, some label of that kind) to a prefix with
    # summary (q, g) reaches a completable prefix.
    enter_cations = np.full((n_pos, width, n_states + 1), bottom, dtype=dtype)
    enter_anions = np.full((n_pos, width, n_states + 1), bottom, dtype=dtype)
    enter_metals = np.full((n_pos, n_states + 1), bottom, dtype=dtype)
    enter_single = np.full((n_pos, n_states + 1), bottom, dtype=dtype)

    def join_shifted(out: np.ndarray, table: np.ndarray, shift: int) -> None:
        """``out[q] = max(out[q], table[q + shift])`` for every ``q`` with ``q + shift`` in
        range (dim 0)."""
        if abs(shift) >= width:
            return
        if shift >= 0:
            join(out[: width - shift], table[shift:])
        else:
            join(out[-shift:], table[: width + shift])

    for last in range(n_pos - 1, -1, -1):
        i = last + 1
        if chem.no_required_after(last):
            charged[i, :, zero] = finished
            neutral[i, 0] = finished if chem.alloys else np.where(single, finished, bottom)
            neutral[i, 1] = np.where(single, finished, bottom)
        for position in range(last + 1, chem.limit_after(last) + 1):
            join(charged[i, 0], enter_cations[position])
            if chem.anion_may_follow(last, position):
                join(charged[i, 0], enter_anions[position])
            join(charged[i, 1], enter_anions[position])
            join(neutral[i, 0], enter_metals[position])
        charged[i, ..., n_states] = bottom
        neutral[i, :, n_states] = bottom
        # Entering position `last` from an earlier prefix: with n atoms and charge label v,
        # a prefix with charge q reaches charge q + n v and automaton state trans[g, n].
        slots = [
            (int(chem.labels[last, slot]), chem.charged_mode(int(chem.labels[last, slot])))
            for slot in range(1, chem.labels.shape[1])
            if chem.slot_valid[last, slot]
        ]
        for count in range(1, max_count + 1):
            target_states = trans[:, count]
            after = {
                CATIONS: gain(charged[i, 0][:, target_states], last, count),  # (width, G + 1)
                ANIONS: gain(charged[i, 1][:, target_states], last, count),
            }
            for value, mode in slots:
                out = enter_cations[last] if mode == CATIONS else enter_anions[last]
                join_shifted(out, after[mode], count * value)
        targets = trans[:, 1:]  # (G + 1, max_count)
        if chem.slot_valid[last, 0]:
            table = neutral[i, 0] if chem.is_metal[last] else neutral[i, 1]
            best = gain(table[targets], last, counts[None, :]).max(axis=1)
            if chem.is_metal[last]:
                enter_metals[last] = best
            else:
                enter_single[last] = best
    source = np.full(n_states + 1, bottom, dtype=dtype)
    for position in range(chem.limit_after(-1) + 1):
        for table in (
            enter_cations[position][zero], enter_anions[position][zero],
            enter_metals[position], enter_single[position],
        ):
            join(source, table)
    source[n_states] = bottom
    return Tables(
        charged=torch.from_numpy(charged),
        neutral=torch.from_numpy(neutral),
        source=torch.from_numpy(source),
        max_charge=q_max,
    )
