"""Wyckoff-count compatibility: witnesses, brute force, batched tables, pyxtal cross-check."""

from __future__ import annotations

import functools
import random

import numpy as np
import pytest
from crystalgfn_spacegroup.tables import wyckoff_positions
from crystalgfn_spacegroup.wyckoff import (
    WyckoffSignature,
    compatibility_table,
    compatible_count_multisets,
    enumerate_multisets,
    is_compatible,
    is_compatible_batch,
    multiset_rank,
    n_multisets,
    signature,
    wyckoff_assignment,
)


def check_witness(number: int, counts, witness) -> None:
    """Independent validity check of a witness returned by wyckoff_assignment."""
    positions = {w.letter: w for w in wyckoff_positions(number)}
    assert len(witness) == len(counts)
    used_fixed = []
    for count, letters in zip(counts, witness, strict=True):
        assert all(letter in positions for letter in letters)
        assert sum(positions[letter].multiplicity for letter in letters) == count
        used_fixed += [letter for letter in letters if not positions[letter].free]
    assert len(used_fixed) == len(set(used_fixed)), f"fixed position reused: {used_fixed}"


def brute_force(number: int, counts) -> bool:
    """Direct search over Wyckoff letters (no signature): fixed once, free any number of times."""
    positions = wyckoff_positions(number)

    @functools.cache
    def fill(element: int, remaining: int, start: int, used: frozenset) -> bool:
        if remaining == 0:
            return element + 1 == len(counts) or fill(element + 1, counts[element + 1], 0, used)
        for i in range(start, len(positions)):
            w = positions[i]
            if w.multiplicity > remaining or (not w.free and w.letter in used):
                continue
            nxt = i if w.free else i + 1  # free positions may repeat
            if fill(
                element, remaining - w.multiplicity, nxt, used | {w.letter} if not w.free else used
            ):
                return True
        return False

    return not counts or fill(0, counts[0], 0, frozenset())


def test_signatures():
    assert signature(1) == WyckoffSignature(free=(1,), fixed=())
    assert signature(2) == WyckoffSignature(free=(2,), fixed=((1, 8),))
    assert signature(225) == WyckoffSignature(free=(24, 32, 48, 96, 192), fixed=((4, 2), (8, 1)))
    assert signature(194) == WyckoffSignature(free=(4, 6, 12, 24), fixed=((2, 4),))


@pytest.mark.parametrize(
    ("number", "counts", "expected"),
    [
        (225, [4, 4], True),  # rock salt: 4a + 4b
        (225, [4, 4, 4], False),  # only two 4-fold orbits
        (225, [8, 8], True),  # 8c and 4a+4b
        (225, [8, 8, 8], False),
        (225, [1], False),
        (225, [24, 4, 4, 8], True),  # 24e is free
        (2, [1] * 8, True),
        (2, [1] * 9, False),  # 8 inversion centres only
        (2, [9], True),  # 1 + 4 x 2i
        (1, [7, 3, 1], True),
        (221, [1, 3], True),  # CsCl-like / Cu3Au: 1a, 3c
        (221, [1, 1, 1], False),  # only 1a, 1b
        (194, [2, 2, 2, 2], True),
        (194, [2, 2, 2, 2, 2], False),
        (166, [3, 3, 6], True),
        (230, [8], False),
    ],
)
def test_known_cases(number, counts, expected):
    assert is_compatible(number, counts) is expected
    witness = wyckoff_assignment(number, counts)
    assert (witness is not None) is expected
    if witness is not None:
        check_witness(number, counts, witness)
    assert brute_force(number, counts) is expected


def test_zero_and_empty_counts():
    assert wyckoff_assignment(225, [4, 0, 4]) == [["a"], [], ["b"]]
    assert is_compatible(225, []) is True


@pytest.mark.parametrize("bad", [[-1], [1.5], ["2"], [True], 3])
def test_bad_counts(bad):
    with pytest.raises(ValueError, match="counts"):
        is_compatible(2, bad)


def test_bad_number():
    with pytest.raises(ValueError, match="space group number"):
        wyckoff_assignment(0, [1])


def test_random_witnesses_and_brute_force():
    rng = random.Random(7)
    for _ in range(1500):
        number = rng.randint(1, 230)
        counts = [rng.randint(1, 12) for _ in range(rng.randint(1, 4))]
        witness = wyckoff_assignment(number, counts)
        assert (witness is not None) == is_compatible(number, counts)
        if witness is not None:
            check_witness(number, counts, witness)
        if len(counts) <= 3 and max(counts) <= 8:
            assert brute_force(number, counts) == (witness is not None), (number, counts)


def test_multiset_rank_roundtrip():
    rows = enumerate_multisets(6, 3)
    assert rows.shape == (n_multisets(6, 3), 3)
    assert np.array_equal(multiset_rank(rows, 6), np.arange(len(rows)))
    assert np.array_equal(multiset_rank(rows[:, ::-1], 6), np.arange(len(rows)))  # order-free
    with pytest.raises(ValueError):
        multiset_rank(np.array([[7, 0, 0]]), 6)


@pytest.mark.parametrize(
    "number", [1, 2, 10, 47, 65, 123, 139, 166, 191, 194, 200, 221, 225, 227, 229, 230]
)
def test_table_matches_single_queries(number):
    table = compatible_count_multisets(number, 12, 4)
    rows = enumerate_multisets(12, 4)
    assert table.shape == (len(rows),)
    expected = np.array([is_compatible(number, r.tolist()) for r in rows])
    assert np.array_equal(table, expected)


def test_full_table_and_batch():
    table = compatibility_table(16, 5)
    assert table.shape == (231, n_multisets(16, 5))
    assert not table[0].any() and table[1].all()  # P1 accepts everything
    counts = np.array([[4, 4, 0], [4, 4, 4], [0, 8, 8], [1, 0, 0]])
    assert is_compatible_batch(225, counts).tolist() == [True, False, True, False]
    assert is_compatible_batch(225, counts, max_count=16).tolist() == [True, False, True, False]
    ranks = multiset_rank(np.pad(counts, ((0, 0), (0, 2))), 16)
    assert table[225, ranks].tolist() == [True, False, True, False]


@pytest.mark.slow
def test_against_pyxtal_random():
    symmetry = pytest.importorskip("pyxtal.symmetry")
    rng = random.Random(2024)
    groups = {}
    disagreements = []
    for _ in range(4000):
        number = rng.randint(1, 230)
        # Mix of arbitrary counts and multiples of small multiplicities (hit fixed orbits).
        unit = rng.choice([1, 1, 2, 3, 4, 6, 8])
        counts = [unit * rng.randint(1, max(1, 16 // unit)) for _ in range(rng.randint(1, 4))]
        group = groups.setdefault(number, symmetry.Group(number))
        theirs = bool(group.check_compatible(counts)[0])
        if theirs != is_compatible(number, counts):
            disagreements.append((number, counts, theirs))
    # docs/wyckoff-vs-pyxtal.md: no disagreement is known for pyxtal 1.1.5.
    assert disagreements == []
