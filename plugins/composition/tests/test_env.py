"""The composition environment: exact masks, validity, labels and restrictions."""

import itertools
import re
import warnings

import crystalgfn
import numpy as np
import pytest
import torch
from crystalgfn.errors import ConfigError, InfeasibleError, UnknownNameError
from crystalgfn.policy import UniformPolicy
from crystalgfn.sampling import rollout
from crystalgfn.testing import check_env
from crystalgfn_composition.chemistry import (
    electronegativities,
    is_valid_composition,
    metal_flags,
    oxidation_states_of,
    symbol_to_z,
)
from crystalgfn_composition.env import CompositionEnv
from hypothesis import event, example, given, settings
from hypothesis import strategies as st


def compositions(env, done):
    counts = env.values(done)["composition"].long()
    names = crystalgfn.elements.symbols()
    return [{names[z]: int(n) for z, n in enumerate(row) if n} for row in counts.tolist()]


@pytest.fixture(scope="module")
def paper_env():
    return CompositionEnv()


def test_contract_on_the_paper_setting(paper_env):
    check_env(paper_env, batch_size=256)


def test_every_uniform_sample_passes_the_validity_rule(paper_env):
    generator = torch.Generator().manual_seed(3)
    done = rollout(paper_env, UniformPolicy(paper_env), 2000, generator, record=False)
    found = compositions(paper_env, done)
    assert all(is_valid_composition(c) for c in found)
    assert all(1 <= len(c) <= 5 and max(c.values()) <= 16 for c in found)


@pytest.mark.parametrize(
    "kwargs",
    [
        dict(elements=["Li", "Mn", "O"], max_atoms_per_element=16),
        dict(elements=["Fe", "O"], max_atoms_per_element=10, min_elements=2),
        dict(elements=["Na", "Cl", "O", "H"], required_elements=["O"], max_atoms=12),
        dict(elements=["Cu", "Ni", "Se"], pauling=False, min_atoms=6),
        dict(elements=["Fe", "O", "S"], oxidation_states="smact14"),
        dict(elements=["Fe", "O", "S"], oxidation_states=None),
    ],
)
def test_contract_and_constraints_hold_for_user_settings(kwargs):
    env = CompositionEnv(**kwargs)
    done = check_env(env, batch_size=400, seed=1)
    for comp in compositions(env, done):
        assert set(comp) <= set(kwargs["elements"])
        assert len(comp) >= kwargs.get("min_elements", 1)
        assert max(comp.values()) <= kwargs.get("max_atoms_per_element", 16)
        assert kwargs.get("min_atoms", 1) <= sum(comp.values()) <= kwargs.get("max_atoms", 10**9)
        assert set(kwargs.get("required_elements", [])) <= set(comp)
        if kwargs.get("oxidation_states", "icsd24") is not None:
            assert is_valid_composition(
                comp,
                oxidation_states=kwargs.get("oxidation_states", "icsd24"),
                pauling=kwargs.get("pauling", True),
            )


def test_restriction_keeps_the_layout_and_narrows_the_masks(paper_env):
    restricted = paper_env.restrict(elements=["Fe", "O"], max_atoms_per_element=10)
    assert restricted.n_actions == paper_env.n_actions
    assert restricted.encoding_dim == paper_env.encoding_dim
    done = check_env(restricted, batch_size=300)
    for comp in compositions(restricted, done):
        assert set(comp) <= {"Fe", "O"} and max(comp.values()) <= 10


def test_label_count_matches_brute_force():
    env = CompositionEnv(elements=["Fe", "Mn", "O", "S"], max_atoms_per_element=6)
    done = rollout(env, UniformPolicy(env), 300, torch.Generator().manual_seed(0), record=False)
    counts = env.log_label_count(done).exp().round().long().tolist()
    chem = env.chem
    for row, expected in zip(done["counts"].tolist(), counts, strict=True):
        chosen = [(p, n) for p, n in enumerate(row) if n]
        options = [[s for s in range(1, env.n_slots) if chem.slot_valid[p, s]] for p, _ in chosen]
        brute = sum(
            env._charged_labelling_valid(chosen, slots) for slots in itertools.product(*options)
        )
        metals = all(chem.is_metal[p] for p, _ in chosen)
        brute += int(len(chosen) == 1 or metals)
        assert brute == expected


def test_from_values_builds_valid_done_states(paper_env):
    composition = torch.zeros(3, 119)
    composition[0, [26, 8]] = torch.tensor([4.0, 6.0])  # Fe4O6
    composition[1, [11, 17]] = 4.0  # Na4Cl4
    composition[2, [26, 28]] = torch.tensor([3.0, 1.0])  # Fe3Ni alloy
    state = paper_env.from_values({"composition": composition})
    assert bool(state["done"].all())
    assert torch.equal(paper_env.values(state)["composition"], composition)


def test_from_values_names_what_is_outside(paper_env):
    composition = torch.zeros(1, 119)
    composition[0, 79] = 1.0  # gold is not among the 22 elements
    with pytest.raises(ValueError, match=r"row 0 contains \['Au'\], outside the allowed elements"):
        paper_env.from_values({"composition": composition})


def test_unknown_element_suggests_a_symbol():
    with pytest.raises(UnknownNameError, match=r"unknown element 'Fo'.*Did you mean"):
        CompositionEnv(elements=["Fe", "Fo"])


def test_bad_options_are_named():
    with pytest.raises(ConfigError, match=r"max_atoms_per_element must be in 1\.\.64, got 0"):
        CompositionEnv(max_atoms_per_element=0)
    with pytest.raises(ConfigError, match="unknown oxidation-state set 'icsd99'"):
        CompositionEnv(oxidation_states="icsd99")
    with pytest.raises(ConfigError, match=r"\['Au'\] are not among the allowed elements"):
        CompositionEnv(elements=["Fe", "O"], required_elements=["Au"])


def test_infeasible_settings_fail_when_the_environment_is_made():
    # Under SMACT's rules Na and K are valid alone and as an alloy; without the alloy rule and
    # with two elements required, nothing charge-neutral remains.
    with pytest.raises(InfeasibleError, match="no valid composition exists over elements"):
        CompositionEnv(elements=["Na", "K"], min_elements=2, alloys=False)
    with pytest.raises(InfeasibleError, match="required elements"):
        CompositionEnv(elements=["Fe", "O"], required_elements=["O"]).restrict(elements=["Fe"])


# -- an independent model of the composition space ------------------------------------------------
# Everything below re-derives, by enumeration, which compositions a setting allows: the count
# constraints, then SMACT's rule straight from the oxidation-state, electronegativity and metal
# tables (single elements and, with ``alloys``, all-metal compositions are valid; otherwise some
# choice of one oxidation state per element is charge neutral and, with ``pauling``, every
# cation is less electronegative than every anion). It shares no code with the environment's
# automata and feasibility tables nor with ``is_valid_composition``.

POOL = ["H", "Li", "C", "N", "O", "F", "Na", "Mg", "S", "Cl", "K", "Fe", "Cu", "Se"]


def _charge_assignments(subset, pauling):
    """int64 ``(S, k)``: every choice of one oxidation state per element of ``subset`` that
    can be charge neutral under the Pauling test (the charge itself is checked with counts)."""
    en = {s: float(electronegativities()[symbol_to_z(s)]) for s in subset}
    rows = []
    for states in itertools.product(*(oxidation_states_of(s) for s in subset)):
        cations = [en[s] for s, q in zip(subset, states, strict=True) if q > 0]
        anions = [en[s] for s, q in zip(subset, states, strict=True) if q < 0]
        if pauling and cations and anions and not max(cations) < min(anions):
            continue
        rows.append(states)
    return np.array(rows, dtype=np.int64).reshape(len(rows), len(subset))


def valid_compositions(space):
    """Every composition ``{symbol: count}`` (as a frozenset of items) ``space`` allows."""
    elements, max_count = space["elements"], space["max_atoms_per_element"]
    max_elements = space.get("max_elements") or min(5, len(elements))
    min_atoms, max_atoms = space.get("min_atoms", 1), space.get("max_atoms") or 10**9
    required = set(space.get("required_elements", ()))
    metal = metal_flags()
    found = set()
    for k in range(space.get("min_elements", 1), max_elements + 1):
        for subset in itertools.combinations(elements, k):
            if not required <= set(subset):
                continue
            counts = np.array(list(itertools.product(range(1, max_count + 1), repeat=k)))
            counts = counts[(counts.sum(1) >= min_atoms) & (counts.sum(1) <= max_atoms)]
            if k == 1 or (space.get("alloys", True) and all(metal[symbol_to_z(s)] for s in subset)):
                valid = np.ones(len(counts), dtype=bool)
            else:
                charges = _charge_assignments(subset, space.get("pauling", True))
                valid = np.zeros(len(counts), dtype=bool)
                for chunk in range(0, len(charges), 256):  # (counts, assignments) in pieces
                    valid |= (counts @ charges[chunk : chunk + 256].T == 0).any(axis=1)
            found.update(frozenset(zip(subset, row, strict=True)) for row in counts[valid].tolist())
    return found


def reachable_compositions(env):
    """Every composition a trajectory can end in, by following every action the masks allow."""
    frontier, found = env.source(1), set()
    for _ in range(env.max_steps + 1):
        if frontier["done"].numel() == 0:
            return found
        rows, actions = env.forward_mask(frontier).nonzero(as_tuple=True)
        children = env.step({key: value[rows] for key, value in frontier.items()}, actions)
        done = env.is_done(children)
        finished = {key: value[done] for key, value in children.items()}
        found.update(frozenset(c.items()) for c in compositions(env, finished))
        frontier = {key: value[~done] for key, value in children.items()}
    raise AssertionError("trajectories longer than max_steps")


@st.composite
def composition_spaces(draw):
    elements = draw(st.lists(st.sampled_from(POOL), min_size=1, max_size=4, unique=True))
    max_elements = draw(st.integers(1, len(elements)))
    max_count = draw(st.integers(1, 8))
    min_atoms = draw(st.integers(1, max_count * max_elements + 1))
    return {
        "elements": elements,
        "max_elements": max_elements,
        "min_elements": draw(st.integers(1, max_elements)),
        "max_atoms_per_element": max_count,
        "min_atoms": min_atoms,
        "max_atoms": draw(st.none() | st.integers(min_atoms, max_count * max_elements + 1)),
        "required_elements": draw(st.lists(st.sampled_from(elements), max_size=2, unique=True)),
        "pauling": draw(st.booleans()),
        "alloys": draw(st.booleans()),
    }


def test_the_independent_model_knows_smact_validity():
    """The model above agrees with SMACT itself on the paper's default rule."""
    smact_screening = pytest.importorskip("smact.screening")
    pymatgen_core = pytest.importorskip("pymatgen.core")
    space = {"elements": ["Li", "Fe", "O", "S"], "max_atoms_per_element": 4}
    allowed = valid_compositions(space)
    for counts in itertools.product(range(5), repeat=4):
        comp = {s: n for s, n in zip(space["elements"], counts, strict=True) if n}
        if comp:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                expected = smact_screening.smact_validity(pymatgen_core.Composition(comp))
            assert (frozenset(comp.items()) in allowed) == expected, comp


INFEASIBLE = [
    # Only cations, alloys refused, two elements needed: nothing is charge neutral.
    dict(elements=["Na", "K"], max_elements=2, min_elements=2, max_atoms_per_element=4, min_atoms=1,
         max_atoms=None, required_elements=[], pauling=True, alloys=False),
    # Fe(-4) with Cu(+1): charge neutral, but Cu is the more electronegative, so not with Pauling.
    dict(elements=["Cu", "Fe"], max_elements=2, min_elements=2, max_atoms_per_element=8,
         min_atoms=1, max_atoms=None, required_elements=["Fe"], pauling=True, alloys=False),
    # MgF2 needs 3 atoms.
    dict(elements=["Mg", "F"], max_elements=2, min_elements=2, max_atoms_per_element=4,
         min_atoms=1, max_atoms=2, required_elements=[], pauling=True, alloys=True),
]


@settings(max_examples=25, deadline=None)
@given(space=composition_spaces(), seed=st.integers(0, 1000))
@example(space=INFEASIBLE[0], seed=0)
@example(space=INFEASIBLE[1], seed=0)
@example(space=INFEASIBLE[2], seed=0)
@example(space={**INFEASIBLE[1], "pauling": False}, seed=0)  # Cu4Fe: feasible
def test_property_infeasible_exactly_when_nothing_is_valid_and_samples_are_valid(space, seed):
    allowed = valid_compositions(space)
    try:
        env = CompositionEnv(**space)
    except InfeasibleError as error:
        event("infeasible")
        assert not allowed, f"said infeasible, but e.g. {dict(next(iter(allowed)))} is valid"
        assert re.search("no valid composition exists|exceed max_elements", str(error)), error
        return
    assert allowed, "the environment was built although no composition is valid"
    done = check_env(env, batch_size=32, seed=seed)
    for comp in compositions(env, done):
        assert frozenset(comp.items()) in allowed, comp
    if len(space["elements"]) <= 3 and space["max_atoms_per_element"] <= 3:
        event("feasible, every reachable composition compared")
        assert reachable_compositions(env) == allowed
    else:
        event("feasible, samples compared")


@pytest.mark.parametrize("space", INFEASIBLE)
def test_infeasible_examples_are_refused(space):
    assert not valid_compositions(space)
    with pytest.raises(InfeasibleError, match="no valid composition exists"):
        CompositionEnv(**space)


@pytest.mark.parametrize(
    "space",
    [
        {"elements": ["Li", "Fe", "O"], "max_atoms_per_element": 3},
        {"elements": ["Cu", "Fe", "S"], "max_atoms_per_element": 3, "alloys": False},
        {"elements": ["H", "N", "O"], "max_atoms_per_element": 3, "pauling": False,
         "min_elements": 2, "required_elements": ["N"]},
    ],
)
def test_masks_reach_exactly_the_valid_compositions(space):
    env = CompositionEnv(**space)
    assert reachable_compositions(env) == valid_compositions(space)
