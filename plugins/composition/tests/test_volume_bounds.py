"""Predicted-volume bounds of the composition environment (``with_volume_bounds``): on small
spaces the masks reach exactly the valid compositions within the bounds, with no dead ends,
compared with brute force (every finished composition of the unbounded environment, filtered
by its predicted volume computed here in Python)."""

from __future__ import annotations

import math

import crystalgfn
import numpy as np
import pytest
import torch
from crystalgfn.env import compress_columns
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn.interfaces import VolumeBoundTarget
from crystalgfn.policy import UniformPolicy
from crystalgfn.sampling import rollout
from crystalgfn.states import concat
from crystalgfn_composition.env import CompositionEnv

# Volumes per atom (Å³), made up with many digits so that no two compositions tie by accident.
VOLUMES = {
    "H": 5.137, "Li": 20.113, "C": 8.731, "N": 13.619, "O": 12.293, "F": 11.171,
    "Na": 23.781, "Mg": 21.973, "S": 25.417, "Cl": 24.263, "K": 45.461, "Fe": 11.737,
    "Cu": 11.813, "Se": 27.077, "Mn": 12.389, "Ni": 10.941, "Co": 11.129, "Al": 16.571,
    "Si": 20.023, "P": 17.021, "B": 7.297, "V": 13.861,
}

SPACES = [
    {"elements": ["Li", "Fe", "O"], "max_atoms_per_element": 3},
    {"elements": ["Cu", "Fe", "S", "O"], "max_atoms_per_element": 3, "alloys": False},
    {"elements": ["Fe", "O", "S"], "max_atoms_per_element": 3, "oxidation_states": None},
    {"elements": ["H", "N", "O"], "max_atoms_per_element": 3, "pauling": False,
     "min_elements": 2, "required_elements": ["N"]},
]


def volume(composition) -> float:
    return sum(n * VOLUMES[s] for s, n in composition)


def compositions_of(env, state) -> set[frozenset]:
    counts = state["counts"].tolist()
    return {
        frozenset((s, n) for s, n in zip(env.symbols, row, strict=True) if n) for row in counts
    }


def walk(env, start=None):
    """Every finished composition reachable by following the forward masks from ``start``
    (default: the source). Asserts on the way that every open state allows some action (no
    dead ends) and that the per-summary mask equals the dense reference."""
    frontier, found = (env.source(1) if start is None else start), set()
    for _ in range(env.max_steps + 1):
        if frontier["done"].numel() == 0:
            return found
        mask = env.forward_mask(frontier)
        assert torch.equal(mask, env._forward_mask_dense(frontier))
        assert bool(mask.any(dim=1).all()), "a reachable prefix allows no action"
        rows, actions = mask.nonzero(as_tuple=True)
        children = env.step({key: value[rows] for key, value in frontier.items()}, actions)
        done = env.is_done(children)
        found |= compositions_of(env, {key: value[done] for key, value in children.items()})
        frontier = {key: value[~done] for key, value in children.items()}
    raise AssertionError("trajectories longer than max_steps")


@pytest.fixture(scope="module", params=range(len(SPACES)), ids=lambda i: "+".join(
    SPACES[i]["elements"]))
def space(request):
    env = CompositionEnv(**SPACES[request.param])
    valid = walk(env)  # pinned to an independent model in test_env.py
    return env, valid, sorted(volume(c) for c in valid)


def test_the_volume_range_is_that_of_the_valid_compositions(space):
    env, valid, volumes = space
    v_min, v_max = env.with_volume_bounds(VOLUMES, None, None).volume_range()
    assert math.isclose(v_min, volumes[0], rel_tol=1e-14)
    assert math.isclose(v_max, volumes[-1], rel_tol=1e-14)


@pytest.mark.parametrize("side", ["low", "high"])
@pytest.mark.parametrize("quantile", [0.2, 0.5, 0.8])
@pytest.mark.parametrize("nudge", [0.0, 1e-13, 1e-9])
def test_masks_reach_exactly_the_compositions_within_one_bound(space, side, quantile, nudge):
    """The bound is some composition's volume, moved inwards by ``nudge`` (relative): within
    the tolerance (1e-12) that composition stays reachable, beyond it it must be masked."""
    env, valid, volumes = space
    exact = volumes[int(quantile * (len(volumes) - 1))]
    inside = nudge < 1e-12
    if side == "low":
        low, high = exact * (1 + nudge), None
    else:
        low, high = None, exact * (1 - nudge)
    bounded = env.with_volume_bounds(VOLUMES, low, high)
    assert bounded._volume_check is not None, "the bound cuts off compositions: it binds"
    at_bound = {c for c in valid if math.isclose(volume(c), exact, rel_tol=1e-14)}
    expected = {
        c
        for c in valid - at_bound
        if (low is None or volume(c) >= low) and (high is None or volume(c) <= high)
    } | (at_bound if inside else set())
    assert expected and expected != valid
    assert walk(bounded) == expected


def test_bounds_that_do_not_bind_change_no_mask(space):
    env, valid, volumes = space
    tr = rollout(env, UniformPolicy(env), 200, torch.Generator().manual_seed(0))
    states = concat([tr.parents, tr.children])
    # Exactly at the extremes (within the tolerance) and well outside them.
    for low, high in [(volumes[0], volumes[-1]), (0.5 * volumes[0], 2 * volumes[-1]), (None, None)]:
        bounded = env.with_volume_bounds(VOLUMES, low, high)
        assert bounded._volume_check is None
        assert "volume" not in bounded._tensors("cpu")
        assert torch.equal(bounded.forward_mask(states), env.forward_mask(states))
        assert walk(bounded) == valid


def test_bounds_no_composition_meets_are_infeasible(space):
    env, _, volumes = space
    with pytest.raises(InfeasibleError, match=r"within \[.*\] Å³.*reach predicted volumes"):
        env.with_volume_bounds(VOLUMES, volumes[-1] * 1.01, None)
    with pytest.raises(InfeasibleError, match=r"within \[-inf, .*\] Å³"):
        env.with_volume_bounds(VOLUMES, None, volumes[0] * 0.99)


def test_two_binding_bounds_are_refused_by_name(space):
    env, _, volumes = space
    low, high = volumes[len(volumes) // 3], volumes[2 * len(volumes) // 3]
    with pytest.raises(ConfigError, match="both predicted-volume bounds bind") as caught:
        env.with_volume_bounds(VOLUMES, low, high)
    assert f"low={low}" in str(caught.value) and f"high={high}" in str(caught.value)


def test_a_count_language_and_a_bound_together(space):
    env, valid, volumes = space
    # Language 0: an even number of atoms in the cell.
    language = np.array([sum(m) % 2 == 0 for m in env.count_multisets()])
    in_language = {c for c in valid if sum(n for _, n in c) % 2 == 0}
    low = sorted(volume(c) for c in in_language)[len(in_language) // 2]
    expected = {c for c in in_language if volume(c) >= low}
    # Both orders: languages then bounds, bounds then languages.
    for bounded in (
        env.with_count_languages({0: language}).with_volume_bounds(VOLUMES, low, None),
        env.with_volume_bounds(VOLUMES, low, None).with_count_languages({0: language}),
    ):
        assert bounded.volume_bounds == (low, None)
        start = bounded.with_language(bounded.source(1), torch.tensor([0]))
        assert walk(bounded, start) == expected
        assert walk(bounded) == {c for c in valid if volume(c) >= low}
        assert bounded.language_feasible(0)
    # A language whose compositions all lie below the bound is infeasible under it.
    smallest = min(valid, key=volume)
    only = np.array([m == tuple(sorted(n for _, n in smallest)) for m in env.count_multisets()])
    above = max(volume(c) for c in valid if sorted(n for _, n in c) == sorted(
        n for _, n in smallest))
    bounded = env.with_count_languages({1: only})
    assert bounded.language_feasible(1)
    if above < volumes[-1]:
        assert not bounded.with_volume_bounds(VOLUMES, above * 1.001, None).language_feasible(1)


def test_validity_checks_the_volume_independently(space):
    env, valid, volumes = space
    low = volumes[len(volumes) // 2]
    bounded = env.with_volume_bounds(VOLUMES, low, None)
    # Every finished composition of the unbounded space, as values.
    composition = torch.zeros(len(valid), 119)
    ordered = sorted(valid, key=sorted)
    z = dict(zip(env.symbols, env.z.tolist(), strict=True))
    for row, c in enumerate(ordered):
        for s, n in c:
            composition[row, z[s]] = n
    checks = bounded.validity({"composition": composition})
    assert checks["volume_within_bounds"].tolist() == [volume(c) >= low for c in ordered]
    assert "volume_within_bounds" not in env.validity({"composition": composition})
    # Samples of the bounded environment all pass.
    done = rollout(bounded, UniformPolicy(bounded), 300, torch.Generator().manual_seed(1),
                   record=False)
    values = bounded.values(done)
    assert bool(bounded.validity(values)["volume_within_bounds"].all())


def test_bounds_survive_restrict():
    env = CompositionEnv(elements=["Li", "Fe", "O", "S"], max_atoms_per_element=3)
    low = 60.0
    bounded = env.with_volume_bounds(VOLUMES, low, None)
    restricted = bounded.restrict(elements=["Li", "Fe", "O"], max_atoms_per_element=2)
    assert restricted.volume_bounds == (low, None)
    unbounded = env.restrict(elements=["Li", "Fe", "O"], max_atoms_per_element=2)
    expected = {c for c in walk(unbounded) if volume(c) >= low}
    assert walk(restricted) == expected
    # Narrowing can leave no composition within the bounds.
    with pytest.raises(InfeasibleError, match="predicted volume"):
        bounded.restrict(elements=["Fe", "O"], max_atoms_per_element=1)


@pytest.mark.parametrize(
    "volumes, low, high, message",
    [
        ({"Li": 20.0, "Fe": 11.7}, 10.0, None, r"lacks the elements \['O'\]"),
        ({**VOLUMES, "O": 0.0}, 10.0, None, r"element_volumes\['O'\] must be a finite volume > 0"),
        ({**VOLUMES, "O": -3.0}, None, None, r"element_volumes\['O'\].*got -3.0"),
        ({**VOLUMES, "Fe": float("nan")}, None, None, r"element_volumes\['Fe'\].*got nan"),
        ({**VOLUMES, "Fe": float("inf")}, None, None, r"element_volumes\['Fe'\].*got inf"),
        ({**VOLUMES, "Fe": "11"}, None, None, r"element_volumes\['Fe'\].*got '11'"),
        ([("Fe", 11.0)], None, None, "element_volumes must map element symbols"),
        (VOLUMES, 100.0, 50.0, r"low <= high, got low=100.0 Å³ > high=50.0 Å³"),
        (VOLUMES, float("nan"), None, "low must be a finite volume in Å³ or None"),
        (VOLUMES, None, float("inf"), "high must be a finite volume in Å³ or None"),
        (VOLUMES, "10", None, "low must be a volume in Å³ .* got '10'"),
        (VOLUMES, True, None, "low must be a volume in Å³"),
    ],
)
def test_bad_inputs_are_named(volumes, low, high, message):
    env = CompositionEnv(elements=["Li", "Fe", "O"], max_atoms_per_element=3)
    with pytest.raises(ConfigError, match=message):
        env.with_volume_bounds(volumes, low, high)


def test_volume_range_needs_volumes_and_the_protocol_is_declared():
    env = CompositionEnv(elements=["Li", "Fe", "O"], max_atoms_per_element=3)
    assert isinstance(env, VolumeBoundTarget)
    with pytest.raises(ConfigError, match="volume_range needs per-element volumes"):
        env.volume_range()
    # Elements outside a restriction need no volume.
    restricted = env.restrict(elements=["Fe", "O"])
    assert restricted.with_volume_bounds({"Fe": 11.7, "O": 12.3}, None, None).volume_range()


@pytest.mark.parametrize("side", ["low", "high"])
def test_paper_setting_compact_and_dense_masks_agree_and_samples_obey(side):
    env = CompositionEnv()
    v_min, v_max = env.with_volume_bounds(VOLUMES, None, None).volume_range()
    low, high = (0.3 * v_max, None) if side == "low" else (None, 0.05 * v_max)
    bounded = env.with_volume_bounds(VOLUMES, low, high)
    assert bounded._volume_check is not None
    tr = rollout(bounded, UniformPolicy(bounded), 400, torch.Generator().manual_seed(0))
    states = concat([tr.parents, tr.children])
    dense = bounded._forward_mask_dense(states)
    assert torch.equal(bounded.forward_mask(states), dense)
    columns, block = bounded.mask_columns(states)
    assert torch.equal(columns, compress_columns(dense)[0])
    assert torch.equal(block, dense[:, columns])
    open_ = ~states["done"]
    assert bool(dense[open_].any(dim=1).all())
    # The bound actually removes actions the unbounded environment allows.
    assert bool((env.forward_mask(states) & ~dense).any())
    done = rollout(bounded, UniformPolicy(bounded), 500, torch.Generator().manual_seed(2),
                   record=False)
    assert bool(bounded.validity(bounded.values(done))["volume_within_bounds"].all())


def test_the_crystal_stack_part_takes_bounds():
    """The composition part of the default crystal stack (with the space groups' count
    languages) accepts bounds; masks stay equal to the dense reference."""
    part = crystalgfn.make_env("crystal").parts[1]
    v_min, v_max = part.with_volume_bounds(VOLUMES, None, None).volume_range()
    bounded = part.with_volume_bounds(VOLUMES, 0.4 * v_max, None)
    labels = torch.tensor(sorted(bounded.start_of_language))[:64].repeat(4)
    labels = labels[labels >= 0]
    feasible = torch.tensor([bounded.language_feasible(int(x)) for x in labels])
    state = bounded.with_language(bounded.source(len(labels)), labels)
    state = {key: value[feasible] for key, value in state.items()}
    generator = torch.Generator().manual_seed(0)
    for _ in range(bounded.max_steps):
        mask = bounded.forward_mask(state)
        assert torch.equal(mask, bounded._forward_mask_dense(state))
        open_ = ~state["done"]
        if not bool(open_.any()):
            break
        assert bool(mask[open_].any(dim=1).all())
        actions = torch.multinomial(mask[open_].float(), 1, generator=generator).squeeze(1)
        stepped = bounded.step({key: value[open_] for key, value in state.items()}, actions)
        for key in state:
            state[key][open_] = stepped[key]
    assert bool(state["done"].all())
    assert bool(bounded.validity(bounded.values(state))["volume_within_bounds"].all())
