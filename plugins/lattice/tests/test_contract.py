"""The environment contract (crystalgfn.testing.check_env), registration and stacking."""

from __future__ import annotations

import crystalgfn
import pytest
import torch
from crystalgfn.geometry import volume_factor
from crystalgfn.states import equal
from crystalgfn.testing import check_env
from crystalgfn_lattice import LATTICE_SYSTEMS, LatticeEnv
from crystalgfn_lattice.systems import pattern_error


@pytest.mark.parametrize("system", LATTICE_SYSTEMS)
def test_check_env_each_system(system):
    env = LatticeEnv(lattice_system=system)
    done = check_env(env, batch_size=256)
    index = LATTICE_SYSTEMS.index(system)
    assert bool((done["system"] == index).all())
    assert not bool(pattern_error(index, done["params"], 0.0, 0.0).any())
    assert bool((volume_factor(done["params"]) > 0).all())


@pytest.mark.parametrize(
    "ranges",
    [
        dict(min_length=2.0, max_length=2.5, min_angle=100.0, max_angle=150.0),
        dict(min_angle=119.6, max_angle=150.0),
        dict(min_angle=60.0, max_angle=95.0),
    ],
)
def test_check_env_restricted_ranges(ranges):
    base = LatticeEnv(**ranges)
    for system in base.feasible_systems():
        check_env(LatticeEnv(**ranges, lattice_system=system), batch_size=128, seed=system)


def test_registered_through_entry_point():
    env = crystalgfn.make_env("lattice", lattice_system="cubic", n_components=2)
    assert isinstance(env, LatticeEnv)
    assert env.n_param_outputs == 6 * 2 * 3
    with pytest.raises(crystalgfn.ConfigError, match="does not accept"):
        crystalgfn.make_env("lattice", system="cubic")


def test_source_masks_and_encoding():
    env = LatticeEnv()
    source = env.source(5)
    assert env.n_actions == 1 and env.n_params == 6 and env.max_steps == 1
    assert env.n_param_outputs == 72 and env.encoding_dim == 15
    assert bool(env.forward_mask(source).all()) and not bool(env.backward_mask(source).any())
    assert source["params"].dtype == torch.float64 and bool((source["params"] == 0).all())
    encoding = env.encode(source)
    assert encoding.shape == (5, 15) and encoding.dtype == torch.float32
    done = check_env(env, batch_size=16)
    encoding = env.encode(done)
    assert bool((encoding[:, 8:14] >= 0).all() and (encoding[:, 8:14] <= 1).all())
    assert bool((encoding[:, 14] == 1).all()) and bool((encoding[:, 0] == 1).all())
    assert env.values(done)["lattice"].shape == (16, 6)


# -- a stack whose first part picks the lattice system, as the space group will ---------------
class SystemPick(crystalgfn.Environment):
    """Toy one-step environment picking a lattice-system index among ``allowed``."""

    name = "systempick"
    provides = ("systempick",)
    restrictions = ("allowed",)

    def __init__(self, allowed=None):
        self.allowed = tuple(range(8)) if allowed is None else tuple(allowed)
        self.n_actions, self.encoding_dim, self.max_steps = 8, 9, 1

    def source(self, batch_size, device="cpu"):
        return {"value": torch.full((batch_size,), -1, dtype=torch.long, device=device)}

    def is_done(self, state):
        return state["value"] >= 0

    def is_source(self, state):
        return state["value"] < 0

    def forward_mask(self, state):
        allowed = torch.zeros(8, dtype=torch.bool)
        allowed[list(self.allowed)] = True
        return allowed[None, :] & ~self.is_done(state)[:, None]

    def backward_mask(self, state):
        mask = torch.zeros(state["value"].shape[0], 8, dtype=torch.bool)
        done = self.is_done(state)
        mask[done, state["value"][done]] = True
        return mask

    def step(self, state, actions, params=None):
        return {"value": actions.clone()}

    def step_back(self, state, actions):
        return {"value": torch.full_like(state["value"], -1)}, None

    def encode(self, state):
        return torch.nn.functional.one_hot(state["value"] + 1, 9).float()

    def values(self, state):
        return {"systempick": state["value"].clone()}

    def from_values(self, values):
        return {"value": values["systempick"].long().clone()}

    def restrict(self, allowed=None):
        return SystemPick(allowed)


class SystemToLattice(crystalgfn.Constraint):
    """How a space group → lattice constraint can use the lattice environment's API."""

    def prepare(self, source, target):
        possible = set(target.feasible_systems())
        return source.restrict(allowed=[s for s in source.allowed if s in possible]), target

    def apply(self, source_values, target, target_state):
        return target.with_systems(target_state, source_values["systempick"])


def test_stack_conditioned_on_system():
    stack = crystalgfn.Stack(
        [SystemPick(), LatticeEnv(min_angle=60.0, max_angle=100.0)], [(0, 1, SystemToLattice())]
    )
    assert stack.parts[0].allowed == (0, 1, 2, 3, 4, 7)  # no 120° angle: no hexagonal cells
    done = check_env(stack, batch_size=256)
    picked = done["systempick.value"]
    assert bool((done["lattice.system"] == picked).all())
    for system in picked.unique().tolist():
        rows = picked == system
        assert not bool(pattern_error(system, done["lattice.params"][rows], 0.0, 0.0).any())


def test_stack_params_round_trip_exactly():
    """Through a stack's float32 parameter buffers, step_back returns the sampled u bit for bit."""
    stack = crystalgfn.Stack([SystemPick(), LatticeEnv()], [(0, 1, SystemToLattice())])
    n = 4096
    g = torch.Generator().manual_seed(3)
    state = stack.step(stack.source(n), torch.randint(0, 8, (n,), generator=g))
    actions = torch.full((n,), 8)
    raw = 2.0 * torch.randn(n, stack.n_param_outputs, generator=g)
    params = stack.sample_params(state, actions, raw, g)
    done = stack.step(state, actions, params)
    parent, back = stack.step_back(done, actions)
    assert bool(equal(parent, state).all())
    assert torch.equal(back, params)
    assert torch.equal(
        stack.param_log_prob(parent, actions, back, raw),
        stack.param_log_prob(state, actions, params, raw),
    )
