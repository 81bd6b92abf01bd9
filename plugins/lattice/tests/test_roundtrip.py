"""step_back undoes step exactly; values round-trip through from_values; with_systems."""

from __future__ import annotations

import pytest
import torch
from crystalgfn.errors import InfeasibleError
from crystalgfn.states import equal
from crystalgfn_lattice import LATTICE_SYSTEMS, LatticeEnv
from crystalgfn_lattice.beta import EPS
from crystalgfn_lattice.env import INFER_ATOL_DEG, INFER_RTOL
from crystalgfn_lattice.systems import FREE_MASK, pattern_error
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from lattice_helpers import sample, system_source

DEFAULT = LatticeEnv()
unit = st.floats(EPS, 1 - EPS, width=32, allow_subnormal=False)
rows = st.lists(
    st.tuples(st.integers(0, 7), st.lists(unit, min_size=6, max_size=6)), min_size=1, max_size=16
)


def batch(env, drawn):
    systems = torch.tensor([s for s, _ in drawn])
    u = torch.tensor([list(x) for _, x in drawn], dtype=torch.float32)
    source = env.with_systems(env.source(len(drawn)), systems)
    return source, u, env.step(source, torch.zeros(len(drawn), dtype=torch.long), u)


@settings(max_examples=200, deadline=None)
@given(rows)
def test_step_back_undoes_step_exactly(drawn):
    source, u, done = batch(DEFAULT, drawn)
    parent, back = DEFAULT.step_back(done, torch.zeros(len(drawn), dtype=torch.long))
    assert bool(equal(parent, source).all())
    free = FREE_MASK[source["system"]]
    assert back.dtype == torch.float32
    assert torch.equal(back[free], u[free])  # bit for bit
    assert bool((back[~free] == 0.5).all())
    again = DEFAULT.step(parent, torch.zeros(len(drawn), dtype=torch.long), back)
    assert bool(equal(again, done).all())


@settings(max_examples=200, deadline=None)
@given(rows)
def test_values_round_trip(drawn):
    _, _, done = batch(DEFAULT, drawn)
    values = DEFAULT.values(done)
    assert bool(equal(DEFAULT.from_values_with_systems(values, done["system"]), done).all())
    inferred = DEFAULT.from_values(values)
    same_system = inferred["system"] == done["system"]
    assert torch.equal(inferred["params"][same_system], done["params"][same_system])
    # A more specific system snaps the cell onto itself: by an ulp (e.g. a triclinic cell with
    # a = b = c, α = β = γ inferred as rhombohedral), or, for a cell within the inference
    # tolerances of it, by up to those (a monoclinic β of float32(0.4) -> 90.0000006° is
    # orthorhombic, stored with β = 90).
    assert torch.allclose(
        inferred["params"], done["params"], rtol=INFER_RTOL, atol=INFER_ATOL_DEG
    )
    assert bool(inferred["done"].all())
    for row in range(len(drawn)):  # inference may pick a more specific system the cell also fits
        system = int(inferred["system"][row])
        if system != int(done["system"][row]):
            assert not bool(pattern_error(system, done["params"][row : row + 1], 0.0, 0.0).any())


@settings(max_examples=60, deadline=None)
@given(
    st.floats(1.0, 170.0),
    st.floats(0.5, 100.0),
    st.lists(st.lists(unit, min_size=6, max_size=6), min_size=1, max_size=8),
)
def test_restricted_ranges_round_trip(lo, width, us):
    """With any angle range, step_back returns u to float32 precision and steps back to the
    same state; the samples are real triclinic cells."""
    hi = min(lo + width, 179.0)
    assume(hi > lo)
    try:
        env = LatticeEnv(min_angle=lo, max_angle=hi)
    except InfeasibleError:  # no real cell at all: only triclinic could be the default
        assume(False)
    u = torch.tensor(us, dtype=torch.float32)
    source = env.source(len(us))
    done = env.step(source, torch.zeros(len(us), dtype=torch.long), u)
    _, back = env.step_back(done, None)
    # In corners of the triclinic region the conditional interval of γ is ~1e-3 degrees wide,
    # so a float64 lattice holds γ's unit parameter only to ~1e-5 (hypothesis found
    # lo=102, hi=155, u=(.., 0.99999, 0.999999, 0.515625): error 1.4e-5).
    assert torch.allclose(back, u, rtol=2e-6, atol=1e-4)
    assert bool(equal(env.from_values_with_systems(env.values(done), done["system"]), done).all())


def test_100k_exact_round_trip_with_peaked_heads():
    """Default ranges: step_back recovers the sampled float32 u bit for bit, even for sharp
    heads (many values at the clamp points), and log-probs of the backward step are equal."""
    env = DEFAULT
    n = 100_000
    g = torch.Generator().manual_seed(11)
    raw = 3.0 * torch.randn(n, env.n_param_outputs, generator=g)
    source, u, done = sample(env, 0, raw, seed=11)
    parent, back = env.step_back(done, None)
    assert torch.equal(back, u)
    actions = torch.zeros(n, dtype=torch.long)
    assert torch.equal(
        env.param_log_prob(parent, actions, back, raw), env.param_log_prob(source, actions, u, raw)
    )


@pytest.mark.parametrize("system", range(8))
def test_standalone_env_infers_its_own_system(system):
    """A standalone environment of one system round-trips its samples through from_values,
    even when they also fit a more specific system (here: all lengths equal)."""
    env = LatticeEnv(lattice_system=system)
    u = torch.full((4, 6), 0.25)
    done = env.step(env.source(4), torch.zeros(4, dtype=torch.long), u)
    assert bool(equal(env.from_values(env.values(done)), done).all())


def test_inference_of_typical_cells():
    lattice = torch.tensor(
        [
            [4.0, 4.0, 4.0, 90.0, 90.0, 90.0],  # cubic
            [4.0, 4.0, 6.0, 90.0, 90.0, 90.0],  # tetragonal
            [4.0, 4.0, 6.0, 90.0, 90.0, 120.0],  # hexagonal
            [4.0, 4.0, 4.0, 70.0, 70.0, 70.0],  # rhombohedral
            [4.0, 5.0, 6.0, 90.0, 90.0, 90.0],  # orthorhombic
            [4.0, 5.0, 6.0, 90.0, 100.0, 90.0],  # monoclinic
            [4.0, 5.0, 6.0, 80.0, 100.0, 95.0],  # triclinic
        ]
    )
    state = DEFAULT.from_values({"lattice": lattice})
    assert [LATTICE_SYSTEMS[s] for s in state["system"].tolist()] == [
        "cubic",
        "tetragonal",
        "hexagonal",
        "trigonal-rhombohedral",
        "orthorhombic",
        "monoclinic",
        "triclinic",
    ]
    assert torch.equal(state["params"], lattice.double())
    trigonal = LatticeEnv(lattice_system="trigonal-hexagonal").from_values(
        {"lattice": lattice[2:3]}
    )
    assert LATTICE_SYSTEMS[int(trigonal["system"])] == "trigonal-hexagonal"


def test_from_values_with_systems_snaps_float32_noise():
    noisy = torch.tensor(
        [[5.0000005, 4.9999995, 5.0, 89.99995, 90.00004, 90.0]], dtype=torch.float32
    )
    state = DEFAULT.from_values_with_systems({"lattice": noisy}, torch.tensor([7]))
    a = float(noisy[0, 0])
    assert state["params"].tolist() == [[a, a, a, 90.0, 90.0, 90.0]]
    assert state["params"].dtype == torch.float64


def test_with_systems_conditions_sources_and_checks_done_rows():
    env = DEFAULT
    source = env.source(3)
    conditioned = env.with_systems(source, torch.tensor([7, 1, 4]))
    assert conditioned["system"].tolist() == [7, 1, 4]
    assert source["system"].tolist() == [0, 0, 0]  # not modified in place
    u = torch.full((3, 6), 0.3)
    done = env.step(conditioned, torch.zeros(3, dtype=torch.long), u)
    assert env.with_systems(done, torch.tensor([3, 1, 4]))["system"].tolist() == [
        3,
        1,
        4,
    ]  # a cubic cell is tetragonal
    with pytest.raises(
        ValueError,
        match=r"row 2: .* not a valid monoclinic cell: monoclinic needs alpha = gamma = 90",
    ):
        env.with_systems(done, torch.tensor([7, 1, 1]))
    restricted = LatticeEnv(min_angle=60.0, max_angle=80.0)
    with pytest.raises(ValueError, match=r"row 1: lattice system 'cubic' is impossible"):
        restricted.with_systems(restricted.source(2), torch.tensor([0, 7]))
    with pytest.raises(ValueError, match="not in 0-7"):
        env.with_systems(env.source(1), torch.tensor([8]))


def test_sampling_is_reproducible_with_a_generator():
    env = DEFAULT
    source = system_source(env, 0, 500)
    raw = torch.randn(500, env.n_param_outputs, generator=torch.Generator().manual_seed(0))
    actions = torch.zeros(500, dtype=torch.long)
    first = env.sample_params(source, actions, raw, torch.Generator().manual_seed(5))
    second = env.sample_params(source, actions, raw, torch.Generator().manual_seed(5))
    other = env.sample_params(source, actions, raw, torch.Generator().manual_seed(6))
    assert torch.equal(first, second) and not torch.equal(first, other)
