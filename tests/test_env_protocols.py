"""Cross-environment constraints declare what they need of their parts (the protocols of
``crystalgfn.interfaces``); a stack whose parts lack it fails with a clear error, not with an
AttributeError inside the constraint. Preparing a constraint leaves it unchanged."""

from __future__ import annotations

import crystalgfn
import pytest
import torch
from crystalgfn.compose import Stack, make_env
from crystalgfn.errors import ConfigError, IncompatibleEnvironmentError
from crystalgfn.interfaces import (
    CountLanguageTarget,
    GroupChoiceSource,
    LatticeSystemTarget,
    missing_members,
)
from crystalgfn.plugins import BLOCK_ENV_VAR, get_plugins, reset_plugins
from crystalgfn.registry import SESSION_DISTRIBUTION


class Plain(crystalgfn.Environment):
    """A one-step environment with none of the capabilities constraints need."""

    provides = ("plain",)
    n_actions = 2
    encoding_dim = 1
    max_steps = 1

    def __init__(self, name: str = "plain"):
        self.name = name

    def source(self, batch_size, device="cpu"):
        return {"value": torch.full((batch_size,), -1, dtype=torch.long, device=device)}

    def is_done(self, state):
        return state["value"] >= 0

    def is_source(self, state):
        return state["value"] < 0

    def forward_mask(self, state):
        return (~self.is_done(state))[:, None].expand(-1, 2).clone()

    def backward_mask(self, state):
        mask = torch.zeros(state["value"].shape[0], 2, dtype=torch.bool)
        done = self.is_done(state)
        mask[done, state["value"][done]] = True
        return mask

    def step(self, state, actions, params=None):
        return {**state, "value": actions.clone()}

    def step_back(self, state, actions):
        return {**state, "value": torch.full_like(state["value"], -1)}, None

    def encode(self, state):
        return state["value"][:, None].float()

    def values(self, state):
        return {"plain": state["value"]}

    def from_values(self, values):
        return {"value": values["plain"].long()}


@pytest.fixture
def replaced(monkeypatch):
    """Plugins with the first-party ``name`` blocked and :class:`Plain` registered as it."""

    def replace(name: str, distribution: str):
        monkeypatch.setenv(BLOCK_ENV_VAR, distribution)
        reset_plugins()
        get_plugins().envs.add(lambda: Plain(name), name, distribution=SESSION_DISTRIBUTION)

    yield replace
    reset_plugins()


def test_first_party_envs_have_the_capabilities_they_declare():
    env = make_env("spacegroup+composition+lattice")
    spacegroup, composition, lattice = env.parts
    assert isinstance(composition, CountLanguageTarget)
    assert isinstance(lattice, LatticeSystemTarget)
    assert isinstance(spacegroup, GroupChoiceSource)
    assert missing_members(composition, CountLanguageTarget) == ()
    assert not isinstance(lattice, CountLanguageTarget)
    assert "with_language" in missing_members(lattice, CountLanguageTarget)


@pytest.mark.parametrize(
    "spec, constraint, role",
    [
        ("spacegroup+composition", "spacegroup->composition", "target"),
        ("composition+spacegroup", "composition->spacegroup", "source"),
    ],
)
def test_composition_without_count_languages_is_refused_by_name(replaced, spec, constraint, role):
    replaced("composition", "crystalgfn-composition")
    with pytest.raises(IncompatibleEnvironmentError) as caught:
        make_env(spec)
    message = str(caught.value)
    assert isinstance(caught.value, ConfigError)
    assert "environment 'composition'" in message
    assert f"{role} of the constraint {constraint}" in message
    assert "CountLanguageTarget" in message
    for method in ("count_multisets", "language_feasible", "with_count_languages",
                   "with_language", "max_count", "max_elements"):
        assert method in message


def test_lattice_without_systems_is_refused_by_name(replaced):
    replaced("lattice", "crystalgfn-lattice")
    with pytest.raises(IncompatibleEnvironmentError, match="LatticeSystemTarget") as caught:
        make_env("spacegroup+lattice")
    message = str(caught.value)
    assert "environment 'lattice'" in message and "spacegroup->lattice" in message
    assert "feasible_systems" in message and "with_systems" in message


def test_unconstrained_parts_need_no_capability(replaced):
    replaced("composition", "crystalgfn-composition")
    # lattice places no constraint on (or takes none from) composition
    env = make_env("lattice+composition")
    assert isinstance(env, Stack) and env.spec == "lattice+composition"


def test_prepare_leaves_the_registered_constraint_untouched():
    entry = get_plugins().constraint("composition", "spacegroup")
    registered = entry.factory()
    composition = make_env("composition", elements=["Fe", "O"], max_atoms_per_element=4)
    spacegroup = make_env("spacegroup", space_groups="195-230")
    before = dict(vars(registered))
    result = registered.prepare(composition, spacegroup)
    assert vars(registered) == before
    assert len(result) == 3 and result[2] is not registered
    # The stack applies the prepared constraint, and can prepare the same one again.
    stack = Stack([composition, spacegroup], [(0, 1, registered)])
    assert stack.constraints[0][2] is not registered
    again = Stack(stack.parts, stack.constraints)
    assert again.constraints[0][2]._width == stack.constraints[0][2]._width
    with pytest.raises(RuntimeError, match="prepare"):
        registered.apply({"composition": torch.zeros(1, 119)}, spacegroup, spacegroup.source(1))


@pytest.mark.parametrize("name", ["spacegroup", "composition", "lattice"])
def test_registrations_declare_exactly_what_restrict_accepts(name):
    entry = get_plugins().envs.get(name)
    declared = [restriction.name for restriction in entry.details["restrictions"]]
    assert declared == list(entry.factory.restrictions)


def test_crystal_is_a_preset_registered_by_the_spacegroup_plugin():
    entry = get_plugins().presets.get("crystal")
    assert entry.distribution == "crystalgfn-spacegroup"
    assert entry.factory() == "spacegroup+composition+lattice"
