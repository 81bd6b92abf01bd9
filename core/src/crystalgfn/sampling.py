"""Rolling out a policy in an environment, for sampling and for training.

:func:`rollout` runs a batch of trajectories to completion without gradients and records the
transitions; :func:`log_probs` evaluates forward/backward log-probabilities of recorded
transitions in one batched pass (with gradients, for training). Keeping the two apart lets
the trainer reuse the same evaluation for on-policy, replayed and data trajectories.
"""

from __future__ import annotations

import attrs
import torch

from crystalgfn.env import Environment
from crystalgfn.states import State, assign, concat, select

NEG_INF = float("-inf")


@attrs.frozen
class Transitions:
    """Transitions of ``B`` trajectories, flattened to ``N`` rows in step order.

    Attributes:
        parents: states ``(N, ...)`` before each step.
        children: states ``(N, ...)`` after each step.
        actions: int64 ``(N,)``.
        params: ``(N, n_params)`` continuous parameters (``None`` for discrete environments).
        trajectory: int64 ``(N,)`` index of the trajectory of each row.
        step: int64 ``(N,)`` position of the step in its trajectory.
        done: the ``B`` final states.
        lengths: int64 ``(B,)`` number of steps of each trajectory.
    """

    parents: State
    children: State
    actions: torch.Tensor
    params: torch.Tensor | None
    trajectory: torch.Tensor
    step: torch.Tensor
    done: State
    lengths: torch.Tensor


def masked_log_softmax(logits: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0) -> torch.Tensor:
    """Log-probabilities over allowed actions; ``-inf`` on forbidden ones."""
    scaled = logits / temperature if temperature != 1.0 else logits
    return torch.log_softmax(scaled.masked_fill(~mask, NEG_INF), dim=1)


def _choose(log_probs: torch.Tensor, mask: torch.Tensor, epsilon: float, generator) -> torch.Tensor:
    """One action per row by inverse-CDF sampling (much faster than ``torch.multinomial`` for
    thousands of actions), optionally mixed with the uniform policy over allowed actions."""
    probs = log_probs.exp()
    if epsilon > 0:
        uniform = mask.to(probs.dtype) / mask.sum(dim=1, keepdim=True)
        probs = (1 - epsilon) * probs + epsilon * uniform
    cdf = probs.cumsum(dim=1)
    u = torch.rand(probs.shape[0], 1, generator=generator, device=probs.device, dtype=cdf.dtype) * cdf[:, -1:]
    actions = torch.searchsorted(cdf, u).squeeze(1).clamp(max=probs.shape[1] - 1)
    # Guard against landing on a forbidden action through rounding at a flat CDF step.
    bad = ~mask.gather(1, actions[:, None]).squeeze(1)
    if bool(bad.any()):
        actions[bad] = (probs[bad] * mask[bad]).argmax(dim=1)
    return actions


@torch.no_grad()
def rollout(
    env: Environment,
    policy: torch.nn.Module,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    temperature: float = 1.0,
    epsilon: float = 0.0,
    record: bool = True,
    source: State | None = None,
) -> Transitions | State:
    """Sample ``batch_size`` trajectories; returns :class:`Transitions` (or only the done
    states when ``record`` is False).

    ``temperature`` divides the logits; ``epsilon`` mixes the discrete choice with the
    uniform policy (exploration). Continuous parameters are drawn from the policy's heads.
    """
    state = source if source is not None else env.source(batch_size, device)
    steps: list[tuple[State, State, torch.Tensor, torch.Tensor | None, torch.Tensor, int]] = []
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    for t in range(env.max_steps + 1):
        active = (~env.is_done(state)).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        parents = select(state, active)
        output = policy(env.encode(parents))
        mask = env.forward_mask(parents)
        actions = _choose(masked_log_softmax(output.logits, mask, temperature), mask, epsilon, generator)
        params = env.sample_params(parents, actions, output.params, generator) if env.n_params else None
        children = env.step(parents, actions, params)
        state = assign(state, active, children)
        lengths[active] += 1
        if record:
            steps.append((parents, children, actions, params, active, t))
    else:
        raise RuntimeError(f"{env!r}: trajectories did not finish within max_steps={env.max_steps}")
    if not record:
        return state
    return Transitions(
        parents=concat([s[0] for s in steps]),
        children=concat([s[1] for s in steps]),
        actions=torch.cat([s[2] for s in steps]),
        params=torch.cat([s[3] for s in steps]) if env.n_params else None,
        trajectory=torch.cat([s[4] for s in steps]),
        step=torch.cat([torch.full_like(s[4], s[5]) for s in steps]),
        done=state,
        lengths=lengths,
    )


def backward_transitions(env: Environment, done: State, generator=None) -> Transitions:
    """Trajectories leading to the given done states, drawn backwards uniformly over parents
    (for replay buffers and training from data)."""
    batch = done[next(iter(done))].shape[0]
    device = next(iter(done.values())).device
    state = done
    steps = []
    taken = torch.zeros(batch, dtype=torch.long, device=device)  # backward steps so far
    for _ in range(env.max_steps + 1):
        active = (~env.is_source(state)).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        children = select(state, active)
        mask = env.backward_mask(children)
        actions = torch.multinomial(mask.float(), 1, generator=generator).squeeze(1)
        parents, params = env.step_back(children, actions)
        state = assign(state, active, parents)
        steps.append((parents, children, actions, params, active, taken[active].clone()))
        taken[active] += 1
    else:
        raise RuntimeError(f"{env!r}: backward trajectories did not reach the source")
    trajectory = torch.cat([s[4] for s in steps])
    from_end = torch.cat([s[5] for s in steps])
    return Transitions(
        parents=concat([s[0] for s in steps]),
        children=concat([s[1] for s in steps]),
        actions=torch.cat([s[2] for s in steps]),
        params=torch.cat([s[3] for s in steps]) if env.n_params else None,
        trajectory=trajectory,
        step=taken[trajectory] - 1 - from_end,
        done=done,
        lengths=taken,
    )


def log_probs(env: Environment, policy: torch.nn.Module, transitions: Transitions, temperature: float = 1.0):
    """Per-transition ``(log P_F, log P_B, log F(parent))`` each ``(N,)`` (flow ``None`` when
    the policy has no flow head), differentiable in the policy's parameters."""
    parent_out = policy(env.encode(transitions.parents))
    forward_mask = env.forward_mask(transitions.parents)
    log_pf = masked_log_softmax(parent_out.logits, forward_mask, temperature)
    log_pf = log_pf.gather(1, transitions.actions[:, None]).squeeze(1)
    if env.n_params:
        log_pf = log_pf + env.param_log_prob(
            transitions.parents, transitions.actions, transitions.params, parent_out.params
        )
    backward_mask = env.backward_mask(transitions.children)
    if getattr(policy, "backward_head", None) is not None:
        child_out = policy(env.encode(transitions.children))
        log_pb = masked_log_softmax(child_out.backward_logits, backward_mask)
        log_pb = log_pb.gather(1, transitions.actions[:, None]).squeeze(1)
    else:
        log_pb = -backward_mask.sum(dim=1).float().log()
    return log_pf, log_pb, parent_out.log_flow
