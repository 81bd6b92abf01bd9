"""Pins the optimised code paths (issue 7) to their straightforward reference versions."""

from __future__ import annotations

import crystalgfn
import pytest
import torch
from crystalgfn.policy import MLPPolicy, UniformPolicy
from crystalgfn.sampling import NEG_INF, log_probs, masked_log_softmax, rollout
from crystalgfn.states import concat


@pytest.fixture(scope="module")
def crystal():
    return crystalgfn.make_env("crystal")


def _reference_log_probs(env, policy, transitions):
    """The full-width computation that ``log_probs`` replaced (uniform backward policy)."""
    out = policy(env.encode(transitions.parents))
    log_pf = masked_log_softmax(out.logits, env.forward_mask(transitions.parents))
    log_pf = log_pf.gather(1, transitions.actions[:, None]).squeeze(1)
    if env.n_params:
        log_pf = log_pf + env.param_log_prob(
            transitions.parents, transitions.actions, transitions.params, out.params
        )
    log_pb = -env.backward_mask(transitions.children).sum(dim=1).float().log()
    return log_pf, log_pb


@pytest.mark.parametrize(
    "spec, kwargs",
    [
        ("crystal", {}),
        ("composition+spacegroup", {}),
        ("composition", {"pauling": False}),
        ("composition", {"oxidation_states": None}),
        ("composition", {"alloys": False, "required_elements": ["O"], "max_elements": 3}),
    ],
)
def test_composition_mask_matches_dense_reference(spec, kwargs):
    stacked = spec == "crystal" or "+" in spec
    env = crystalgfn.make_env(spec, **({"composition": kwargs} if stacked and kwargs else kwargs))
    tr = rollout(env, UniformPolicy(env), 400, torch.Generator().manual_seed(0))
    states = concat([tr.parents, tr.children])
    if stacked:
        index = [p.name for p in env.parts].index("composition")
        part, states = env.parts[index], env.part_state(states, index)
    else:
        part = env
    dense = part._forward_mask_dense(states)
    assert torch.equal(part.forward_mask(states), dense)
    columns, block = part.mask_columns(states)
    assert torch.equal(columns, dense.any(dim=0).nonzero().squeeze(1))
    assert torch.equal(block, dense[:, columns])


def test_composition_mask_out_of_table_charge_falls_back(crystal):
    part = crystal.parts[1]
    state = part.source(3)
    state["charge"] = torch.tensor([0, part.tables.max_charge + 5, -part.tables.max_charge - 5])
    assert torch.equal(part.forward_mask(state), part._forward_mask_dense(state))


def test_log_probs_match_full_width_reference(crystal):
    torch.manual_seed(0)
    policy = MLPPolicy(crystal)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))  # away from the near-uniform initialisation
    tr = rollout(crystal, policy, 200, torch.Generator().manual_seed(1))
    log_pf, log_pb, _ = log_probs(crystal, policy, tr)
    ref_pf, ref_pb = _reference_log_probs(crystal, policy, tr)
    assert torch.allclose(log_pf, ref_pf, atol=1e-5, rtol=1e-5)
    assert torch.equal(log_pb, ref_pb)
    assert bool(torch.isfinite(log_pf).all())


def test_tracked_rollout_records_the_full_width_log_probs(crystal):
    """Training reuses the forward log-probabilities a rollout computes on its narrow mask
    blocks; they equal the full-width ones, and so do their gradients."""
    torch.manual_seed(0)
    policy = MLPPolicy(crystal, hidden=64, layers=2)
    with torch.no_grad():
        for p in policy.parameters():
            p.add_(0.05 * torch.randn_like(p))
    tr = rollout(crystal, policy, 100, torch.Generator().manual_seed(4), track_log_probs=True)
    assert tr.log_pf is not None and tr.log_pf.requires_grad
    ref_pf, _ = _reference_log_probs(crystal, policy, tr)
    assert torch.allclose(tr.log_pf, ref_pf, atol=1e-5, rtol=1e-5)
    tracked = torch.autograd.grad(tr.log_pf.sum(), list(policy.parameters()))
    reference = torch.autograd.grad(ref_pf.sum(), list(policy.parameters()))
    for a, b in zip(tracked, reference, strict=True):
        assert torch.allclose(a, b, atol=1e-4, rtol=1e-4)
    # The same seed samples the same trajectories whether or not log-probabilities are tracked.
    plain = rollout(crystal, policy, 100, torch.Generator().manual_seed(4))
    assert plain.log_pf is None and torch.equal(plain.actions, tr.actions)


def test_inverse_cdf_draws_follow_the_policy():
    """``_choose`` samples softmax(logits / T) over the allowed actions: 200,000 draws on a
    4-action row with one forbidden action match the probabilities to sampling precision."""
    from crystalgfn.sampling import _choose

    n = 200_000
    logits = torch.tensor([[0.3, -1.0, 2.0, 0.5]]).expand(n, -1)
    mask = torch.tensor([[True, True, False, True]]).expand(n, -1)
    draws = torch.rand(n, 1, generator=torch.Generator().manual_seed(5))
    for temperature, epsilon in ((1.0, 0.0), (2.0, 0.0), (1.0, 0.3)):
        chosen = _choose(logits, mask, temperature, epsilon, draws)
        frequencies = torch.bincount(chosen, minlength=4).double() / n
        scaled = (logits[0] / temperature).masked_fill(~mask[0], NEG_INF)
        expected = torch.softmax(scaled, 0).double()
        expected = (1 - epsilon) * expected + epsilon * mask[0].double() / 3
        assert frequencies[2] == 0
        assert torch.allclose(frequencies, expected, atol=4e-3), (
            temperature, epsilon, frequencies, expected
        )
    # A draw at the very top of the CDF never lands on a forbidden last column.
    edge = _choose(
        torch.zeros(1, 3), torch.tensor([[True, True, False]]), 1.0, 0.0, torch.tensor([[1.0]])
    )
    assert int(edge) in (0, 1)


def test_inverse_cdf_draws_are_those_of_one_masked_softmax_pass(monkeypatch):
    """``_choose`` works in row chunks and never writes -inf (the slow path of the CPU
    kernels); its actions equal those of a single pass over the -inf-filled weights, bit for
    bit, over several chunks, with forbidden logits far above the allowed ones (which must
    not overflow) and allowed ones far below each other (which must not become 0 early)."""
    from crystalgfn import sampling

    monkeypatch.setattr(sampling, "_CHOOSE_CHUNK", 64)  # 4 rows of 16 columns per chunk
    generator = torch.Generator().manual_seed(11)
    logits = 5 * torch.randn(50, 16, generator=generator)
    mask = torch.rand(50, 16, generator=generator) < 0.4
    mask[:, 3] = True
    logits[~mask] += 1e4  # forbidden: huge, so exp(logit - max) would overflow unclamped
    logits[0, 3] = -200.0  # allowed, underflows to 0 next to a larger allowed logit
    draws = torch.rand(50, 1, generator=generator)
    draws[7] = 1.0 - 2**-24  # the top of the CDF
    for dtype in (torch.float32, torch.float64):
        for temperature, epsilon in ((1.0, 0.0), (0.5, 0.0), (1.0, 0.2)):
            scaled = logits.to(dtype) / temperature
            scaled = scaled.masked_fill(~mask, NEG_INF)
            weights = (scaled - scaled.max(dim=1, keepdim=True).values).exp()
            if epsilon:
                allowed = mask.to(dtype)
                weights = (1 - epsilon) * weights / weights.sum(1, keepdim=True) + (
                    epsilon * allowed / allowed.sum(1, keepdim=True)
                )
            cdf = weights.cumsum(dim=1)
            expected = torch.searchsorted(cdf, draws.to(dtype) * cdf[:, -1:], right=True)
            expected = expected.squeeze(1).clamp(max=15)
            stray = ~mask.gather(1, expected[:, None]).squeeze(1)
            expected[stray] = weights[stray].argmax(dim=1)
            chosen = sampling._choose(logits.to(dtype), mask, temperature, epsilon, draws)
            assert torch.equal(chosen, expected), (dtype, temperature, epsilon)
            assert bool(mask.gather(1, chosen[:, None]).all())


def test_block_sampling_follows_the_full_mask(crystal):
    """Every sampled action is allowed by the full mask, and blocks with the uniform policy
    give the full mask's uniform log-probabilities."""
    tr = rollout(crystal, UniformPolicy(crystal), 300, torch.Generator().manual_seed(2))
    mask = crystal.forward_mask(tr.parents)
    assert bool(mask.gather(1, tr.actions[:, None]).all())
    log_pf, _, _ = log_probs(crystal, UniformPolicy(crystal), tr)
    expected = -mask.sum(dim=1).float().log()
    if crystal.n_params:
        expected = expected + crystal.param_log_prob(
            tr.parents,
            tr.actions,
            tr.params,
            torch.zeros(tr.actions.shape[0], crystal.n_param_outputs),
        )
    assert torch.allclose(log_pf, expected, atol=1e-6)
    assert not bool((log_pf == NEG_INF).any())


def test_log_label_count_matches_brute_force(crystal):
    import itertools

    part = crystal.parts[1]
    done = rollout(
        crystal, UniformPolicy(crystal), 300, torch.Generator().manual_seed(3), record=False
    )
    state = crystal.part_state(done, 1)
    fast = part.log_label_count(state)
    chem = part.chem
    for row in range(0, 300, 7):
        counts = state["counts"][row].tolist()
        chosen = [(p, n) for p, n in enumerate(counts) if n > 0]
        options = [[s for s in range(1, part.n_slots) if chem.slot_valid[p, s]] for p, _ in chosen]
        charged = sum(
            part._charged_labelling_valid(chosen, slots) for slots in itertools.product(*options)
        )
        metals = all(chem.is_metal[p] for p, _ in chosen)
        neutral = len(chosen) == 1 or (metals and chem.alloys)
        expected = torch.log(torch.tensor(float(max(charged + neutral, 1)), dtype=torch.float64))
        assert torch.isclose(fast[row], expected, atol=1e-12), (row, counts)


def test_exploration_settings_sample_valid_crystals(crystal_env):
    """ε-mixing with the uniform policy and a temperature on the logits (the training
    defaults of the shipped configs) give valid trajectories."""
    from crystalgfn.policy import MLPPolicy
    from crystalgfn.sampling import rollout

    policy = MLPPolicy(crystal_env, hidden=32, layers=1)
    for epsilon, temperature in ((0.02, 1.0), (0.5, 2.0), (1.0, 0.5)):
        transitions = rollout(
            crystal_env, policy, 64, torch.Generator().manual_seed(0),
            temperature=temperature, epsilon=epsilon,
        )
        assert bool(crystal_env.is_done(transitions.done).all())
        checks = crystal_env.validity(crystal_env.values(transitions.done))
        assert all(bool(passed.all()) for passed in checks.values())


def test_distinct_rows_finds_repeated_states_and_refuses_when_not_worth_it():
    from crystalgfn.policy import distinct_rows

    base = torch.tensor([[0.0, 1.0, 0.5], [1.0, 0.0, 0.5], [0.0, 0.0, 0.0]])
    index = torch.tensor([2, 0, 0, 1, 2, 2, 0, 1])
    unique, inverse = distinct_rows(base[index])
    assert unique.shape == (3, 3) and torch.equal(unique[inverse], base[index])
    assert distinct_rows(torch.randn(10, 4)) is None  # all distinct: more than half


def test_mlp_blocks_equal_the_full_forward_on_repeated_states(crystal):
    torch.manual_seed(0)
    policy = MLPPolicy(crystal, hidden=32, layers=2)
    encoding = crystal.encode(crystal.source(50))  # 50 copies of one state
    columns = torch.tensor([0, 3, 7])
    output, (logits,) = policy.forward_blocks(encoding, [(None, columns)])
    full = policy(encoding)
    assert torch.allclose(logits, full.logits[:, columns], atol=1e-6)
    assert torch.allclose(output.params, full.params, atol=1e-6)
