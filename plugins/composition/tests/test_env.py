"""The composition environment: exact masks, validity, labels and restrictions."""

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given, settings, strategies as st

import crystalgfn
from crystalgfn.errors import ConfigError, InfeasibleError, UnknownNameError
from crystalgfn.policy import UniformPolicy
from crystalgfn.sampling import rollout
from crystalgfn.testing import check_env
from crystalgfn_composition.chemistry import is_valid_composition
from crystalgfn_composition.env import CompositionEnv


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
    done = rollout(paper_env, UniformPolicy(paper_env), 2000, torch.Generator().manual_seed(3), record=False)
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
                comp, oxidation_states=kwargs.get("oxidation_states", "icsd24"), pauling=kwargs.get("pauling", True)
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
    for row, expected in zip(done["counts"].tolist(), counts):
        chosen = [(p, n) for p, n in enumerate(row) if n]
        options = [[s for s in range(1, env.n_slots) if chem.slot_valid[p, s]] for p, _ in chosen]
        brute = sum(env._charged_labelling_valid(chosen, slots) for slots in itertools.product(*options))
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


@settings(max_examples=25, deadline=None)
@given(
    elements=st.lists(st.sampled_from(["H", "Li", "C", "N", "O", "F", "Mg", "S", "Cl", "Fe", "Cu", "Se"]), min_size=1, max_size=4, unique=True),
    max_count=st.integers(1, 8),
    seed=st.integers(0, 1000),
)
def test_property_no_dead_ends_and_backward_undoes_forward(elements, max_count, seed):
    try:
        env = CompositionEnv(elements=elements, max_atoms_per_element=max_count)
    except InfeasibleError:
        return
    done = check_env(env, batch_size=32, seed=seed)
    assert all(is_valid_composition(c) for c in compositions(env, done))
