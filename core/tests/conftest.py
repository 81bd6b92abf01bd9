"""Fixtures for core tests: small in-test plugins, registered and removed around each test."""

from __future__ import annotations

import textwrap
from pathlib import Path

import crystalgfn
import pytest
import torch
from crystalgfn.plugins import get_plugins, reset_plugins


class Pick(crystalgfn.Environment):
    """A one-step toy environment: pick an integer in ``[0, n)``, optionally at least ``floor``."""

    name = "pick"
    provides = ("pick",)
    restrictions = ("allowed",)

    def __init__(self, n: int = 4, allowed: tuple[int, ...] | None = None):
        self.n = n
        self.allowed = tuple(range(n)) if allowed is None else tuple(allowed)
        self.n_actions = n
        self.encoding_dim = n + 1
        self.max_steps = 1

    def source(self, batch_size, device="cpu"):
        return {
            "value": torch.full((batch_size,), -1, dtype=torch.long, device=device),
            "floor": torch.zeros(batch_size, dtype=torch.long, device=device),
        }

    def is_done(self, state):
        return state["value"] >= 0

    def is_source(self, state):
        return state["value"] < 0

    def forward_mask(self, state):
        choices = torch.arange(self.n)
        allowed = torch.zeros(self.n, dtype=torch.bool)
        allowed[list(self.allowed)] = True
        mask = allowed[None, :] & (choices[None, :] >= state["floor"][:, None])
        return mask & ~self.is_done(state)[:, None]

    def backward_mask(self, state):
        mask = torch.zeros(state["value"].shape[0], self.n, dtype=torch.bool)
        done = self.is_done(state)
        mask[done, state["value"][done]] = True
        return mask

    def step(self, state, actions, params=None):
        return {**state, "value": actions.clone()}

    def step_back(self, state, actions):
        return {**state, "value": torch.full_like(state["value"], -1)}, None

    def encode(self, state):
        return torch.nn.functional.one_hot(state["value"] + 1, self.n + 1).float()

    def values(self, state):
        return {self.provides[0]: state["value"]}

    def from_values(self, values):
        state = self.source(values[self.provides[0]].shape[0])
        state["value"] = values[self.provides[0]].long()
        return state

    def restrict(self, allowed=None):
        return type(self)(self.n, allowed)


class Other(Pick):
    name = "other"
    provides = ("other",)


class AtLeast(crystalgfn.Constraint):
    """``other`` must be at least ``pick``."""

    def prepare(self, source, target):
        top = max(target.allowed)
        return source.restrict(allowed=[v for v in source.allowed if v <= top]), target

    def apply(self, source_values, target, target_state):
        return {**target_state, "floor": source_values["pick"].clone()}


class ToyPlugin:
    @crystalgfn.hookimpl
    def register_envs(self, register):
        register(Pick)
        register(Other)

    @crystalgfn.hookimpl
    def register_constraints(self, register):
        register("pick", "other", AtLeast)


@pytest.fixture
def plugins():
    """Fresh plugins with the toy environments registered by the distribution 'toy-dist'."""
    reset_plugins()
    loaded = get_plugins()
    loaded.register_module(ToyPlugin(), "toy-dist")
    yield loaded
    reset_plugins()


@pytest.fixture
def fake_distribution(tmp_path, monkeypatch):
    """Make an installed-looking distribution (dist-info on sys.path) with one module.

    Returns ``make(dist_name, module_name, source)``; entry points are then found by
    ``importlib.metadata`` exactly as for a pip-installed package.
    """

    def make(dist_name: str, module_name: str, source: str) -> Path:
        root = tmp_path / dist_name
        info = root / f"{dist_name.replace('-', '_')}-1.2.3.dist-info"
        info.mkdir(parents=True)
        (info / "METADATA").write_text(
            f"Metadata-Version: 2.1\nName: {dist_name}\nVersion: 1.2.3\n"
        )
        (info / "entry_points.txt").write_text(f"[crystalgfn]\n{module_name} = {module_name}\n")
        (root / f"{module_name}.py").write_text(textwrap.dedent(source))
        monkeypatch.syspath_prepend(str(root))
        return root

    reset_plugins()
    yield make
    reset_plugins()
