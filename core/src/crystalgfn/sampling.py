"""Rolling out a policy in an environment, for sampling and for training.

:func:`rollout` runs a batch of trajectories to completion and records the transitions;
:func:`log_probs` evaluates forward/backward log-probabilities of recorded transitions in one
batched pass (with gradients, for training), so the trainer can use the same evaluation for
on-policy, replayed and data trajectories. For on-policy training, ``rollout(...,
track_log_probs=True)`` keeps the forward log-probabilities it computes anyway while sampling
(with gradients), and :func:`log_probs` reuses them instead of running the policy again.
"""

from __future__ import annotations

import attrs
import torch

from crystalgfn.env import Environment
from crystalgfn.policy import Policy
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
        log_pf: ``(N,)`` forward log-probabilities (temperature 1, with gradients) when the
            rollout tracked them, else ``None``.
        log_flow: ``(N,)`` log F(parent) from the same pass (``None`` if not tracked or the
            policy has no flow head).
    """

    parents: State
    children: State
    actions: torch.Tensor
    params: torch.Tensor | None
    trajectory: torch.Tensor
    step: torch.Tensor
    done: State
    lengths: torch.Tensor
    log_pf: torch.Tensor | None = None
    log_flow: torch.Tensor | None = None


def masked_log_softmax(
    logits: torch.Tensor, mask: torch.Tensor, temperature: float = 1.0
) -> torch.Tensor:
    """Log-probabilities over allowed actions; ``-inf`` on forbidden ones."""
    scaled = logits / temperature if temperature != 1.0 else logits
    return torch.log_softmax(scaled.masked_fill(~mask, NEG_INF), dim=1)


#: Elements of one chunk of :func:`_choose` (4 MiB of float32): its temporaries stay in the
#: CPU cache and are reused, where a full ``(10000, 1868)`` temporary costs a fresh 75 MB
#: allocation (and its page faults) per operation.
_CHOOSE_CHUNK = 1 << 20


def _choose(
    logits: torch.Tensor | None,
    mask: torch.Tensor,
    temperature: float,
    epsilon: float,
    draws: torch.Tensor,
) -> torch.Tensor:
    """One action per row by inverse-CDF sampling (much faster than ``torch.multinomial`` for
    thousands of actions) from ``softmax(logits / temperature)`` over the allowed actions
    (uniform over them when ``logits`` is ``None``), optionally mixed with the uniform policy
    over them. ``draws`` ``(B, 1)`` are uniform random numbers in [0, 1).

    The CDF is built from unnormalised weights ``exp(logit - max)`` and the draw is scaled by
    their total, which skips the log-softmax: sampling needs no normalised log-probabilities.
    Rows are handled in chunks of about ``_CHOOSE_CHUNK`` elements, in place in one buffer;
    each row's arithmetic is the same whatever the chunking."""
    n_rows, width = mask.shape
    dtype = draws.dtype if logits is None else logits.dtype
    actions = torch.empty(n_rows, dtype=torch.long, device=mask.device)
    rows_per_chunk = max(1, _CHOOSE_CHUNK // max(width, 1))
    buffer = torch.empty(min(rows_per_chunk, n_rows), width, dtype=dtype, device=mask.device)
    for start in range(0, n_rows, rows_per_chunk):
        stop = min(start + rows_per_chunk, n_rows)
        chunk_mask = mask[start:stop]
        cdf = buffer[: stop - start]
        _weights_into(cdf, None if logits is None else logits[start:stop], chunk_mask,
                      temperature, epsilon)
        cdf.cumsum_(dim=1)
        u = draws[start:stop].to(dtype) * cdf[:, -1:]
        # The first column whose CDF exceeds u: its weight is positive, so it is allowed...
        chosen = torch.searchsorted(cdf, u, right=True).squeeze(1).clamp_(max=width - 1)
        # ...unless rounding made u reach the total; then take the row's most probable action.
        bad = ~chunk_mask.gather(1, chosen[:, None]).squeeze(1)
        if bool(bad.any()):
            rows = bad.nonzero().squeeze(1)
            weights = cdf.new_empty(rows.numel(), width)
            _weights_into(weights, None if logits is None else logits[start:stop][rows],
                          chunk_mask[rows], temperature, epsilon)
            chosen[rows] = weights.argmax(dim=1)
        actions[start:stop] = chosen
    return actions


def _weights_into(
    out: torch.Tensor,
    logits: torch.Tensor | None,
    mask: torch.Tensor,
    temperature: float,
    epsilon: float,
) -> None:
    """Writes the unnormalised sampling weights of :func:`_choose` into ``out`` (same shape
    as ``mask``): ``exp(logit / temperature - max)`` on allowed actions (1 on each when
    ``logits`` is ``None``), exactly 0 on forbidden ones, mixed with the uniform policy when
    ``epsilon > 0``."""
    if logits is None:  # a uniform policy: equal weights on the allowed actions
        out.copy_(mask)
    else:
        scaled = logits.detach()
        if temperature != 1.0:
            scaled = scaled / temperature
        # The largest allowed logit, read with forbidden ones pushed to the bottom of the
        # range: filling them with -inf, and exp(-inf), take slow paths of the CPU kernels
        # (exp over a row with -inf entries measured 8x the cost over finite ones).
        torch.add(scaled, ~mask, alpha=-torch.finfo(out.dtype).max, out=out)
        largest = out.amax(dim=1, keepdim=True)
        # Allowed: exp(logit - max), as with a -inf fill; forbidden: clamped below 0 so that
        # exp stays finite, then exactly 0.
        torch.sub(scaled, largest, out=out).clamp_(max=0).exp_().mul_(mask)
    if epsilon > 0:
        allowed = mask.to(out.dtype)
        mixed = (1 - epsilon) * out / out.sum(dim=1, keepdim=True) + (
            epsilon * allowed / allowed.sum(dim=1, keepdim=True)
        )
        out.copy_(mixed)


def _mask_blocks(env: Environment, state: State, forward: bool = True):
    """The mask of ``state`` as blocks ``(rows, columns, mask)``: int64 ``rows`` (``None``:
    every row), int64 ascending ``columns`` and bool ``mask`` ``(len(rows), len(columns))``;
    every entry of the full mask outside the blocks is False.

    Columns forbidden in every row of a block are dropped: they get probability zero anyway,
    so working on the rest gives the same log-probabilities and the same sampled actions at a
    fraction of the cost (the full mask is ``(batch, 4117)`` for the crystal stack)."""
    return env.mask_blocks(state, forward)


def _block_outputs(policy: Policy, encoding: torch.Tensor, blocks):
    """``(PolicyOutput, [logits (len(rows), len(columns)) or None per block])``; ``None``
    means equal logits (uniform over the allowed actions); see :meth:`Policy.forward_blocks`."""
    return policy.forward_blocks(encoding, [(rows, columns) for rows, columns, _ in blocks])


def rollout(
    env: Environment,
    policy: Policy,
    batch_size: int,
    generator: torch.Generator | None = None,
    device: torch.device | str = "cpu",
    temperature: float = 1.0,
    epsilon: float = 0.0,
    record: bool = True,
    source: State | None = None,
    track_log_probs: bool = False,
) -> Transitions | State:
    """Sample ``batch_size`` trajectories; returns :class:`Transitions` (or only the done
    states when ``record`` is False).

    ``temperature`` divides the logits; ``epsilon`` mixes the discrete choice with the
    uniform policy (exploration). Continuous parameters are drawn from the policy's heads.
    With ``track_log_probs`` the transitions carry the untempered, unmixed forward
    log-probabilities of the actions taken, computed on the same narrow mask blocks the
    sampler uses: with gradients for training, or without them under ``torch.no_grad`` /
    ``torch.inference_mode`` (the importance weights of a sampler, which then need no second
    pass of the policy over every state).
    """
    track = track_log_probs and record
    with torch.set_grad_enabled(track and torch.is_grad_enabled()):
        return _rollout(
            env, policy, batch_size, generator, device, temperature, epsilon, record, source,
            track,
        )


def _rollout(
    env, policy, batch_size, generator, device, temperature, epsilon, record, source, track
):
    state = source if source is not None else env.source(batch_size, device)
    state = {key: value.detach().clone() for key, value in state.items()}  # updated in place below
    steps: list[tuple] = []
    lengths = torch.zeros(batch_size, dtype=torch.long, device=device)
    for t in range(env.max_steps + 1):
        active = (~env.is_done(state)).nonzero().squeeze(1)
        if active.numel() == 0:
            break
        parents = select(state, active)
        blocks = _mask_blocks(env, parents)
        output, block_logits = _block_outputs(policy, env.encode(parents), blocks)
        actions = torch.empty(active.shape[0], dtype=torch.long, device=active.device)
        step_log_pf = None
        # One uniform number per row, drawn for the whole batch as with a full-width mask, so
        # that a seed gives the same trajectories whatever the blocks.
        dtype = next((x.dtype for x in block_logits if x is not None), torch.get_default_dtype())
        uniform = torch.rand(
            active.shape[0], 1, generator=generator, device=active.device, dtype=dtype
        )
        for (rows, columns, mask), logits in zip(blocks, block_logits, strict=True):
            u = uniform if rows is None else uniform[rows]
            chosen = _choose(logits, mask, temperature, epsilon, u)
            if rows is None:
                actions = columns[chosen]
            else:
                actions[rows] = columns[chosen]
            if track:
                if logits is None:
                    logits = mask.new_zeros(mask.shape, dtype=dtype)
                taken = masked_log_softmax(logits, mask).gather(1, chosen[:, None]).squeeze(1)
                if rows is None:
                    step_log_pf = taken
                else:
                    if step_log_pf is None:
                        step_log_pf = taken.new_zeros(active.shape[0])
                    step_log_pf = step_log_pf.index_put((rows,), taken)
        params = None
        if env.n_params:
            params = env.sample_params(parents, actions, output.params.detach(), generator)
            if track:
                step_log_pf = step_log_pf + env.param_log_prob(
                    parents, actions, params, output.params
                )
        children = env.step(parents, actions, params)
        for key, value in state.items():
            value[active] = children[key]
        lengths[active] += 1
        if record:
            steps.append(
                (parents, children, actions, params, active, t, step_log_pf, output.log_flow)
            )
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
        log_pf=torch.cat([s[6] for s in steps]) if track else None,
        log_flow=torch.cat([s[7] for s in steps]) if track and steps[0][7] is not None else None,
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
        # Uniform over the allowed parents, drawn by inverse CDF: exact, and much cheaper than
        # ``torch.multinomial`` over the stack's thousands of actions.
        draws = torch.rand(
            (active.numel(), 1),
            generator=generator,
            device=device,
            dtype=torch.get_default_dtype(),
        )
        actions = _choose(None, mask, 1.0, 0.0, draws)
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


def with_forward_log_probs(
    env: Environment, policy: Policy, transitions: Transitions
) -> Transitions:
    """``transitions`` with ``log_pf`` (and ``log_flow`` when the policy has a flow head) filled
    in by one batched pass of the policy over all parents; returned unchanged when a tracked
    rollout already recorded them."""
    needs_flow = "log_flow" in policy.outputs
    if transitions.log_pf is not None and (transitions.log_flow is not None or not needs_flow):
        return transitions
    actions = transitions.actions
    parent_out = policy(env.encode(transitions.parents))
    log_pf = masked_log_softmax(parent_out.logits, env.forward_mask(transitions.parents))
    log_pf = log_pf.gather(1, actions[:, None]).squeeze(1)
    if env.n_params:
        log_pf = log_pf + env.param_log_prob(
            transitions.parents, actions, transitions.params, parent_out.params
        )
    return attrs.evolve(transitions, log_pf=log_pf, log_flow=parent_out.log_flow)


def log_probs(env: Environment, policy: Policy, transitions: Transitions):
    """Per-transition ``(log P_F, log P_B, log F(parent))`` each ``(N,)`` (flow ``None`` when
    the policy has no flow head), differentiable in the policy's parameters. Forward
    log-probabilities recorded by a tracked rollout are reused."""
    transitions = with_forward_log_probs(env, policy, transitions)
    actions = transitions.actions
    if "backward_logits" in policy.outputs:
        backward_mask = env.backward_mask(transitions.children)
        child_out = policy(env.encode(transitions.children))
        log_pb = masked_log_softmax(child_out.backward_logits, backward_mask)
        log_pb = log_pb.gather(1, transitions.actions[:, None]).squeeze(1)
    else:
        # Uniform backward policy: -log(number of parents), counted on the mask's blocks.
        n_parents = torch.zeros(actions.shape[0], dtype=torch.long, device=actions.device)
        for rows, _, mask in _mask_blocks(env, transitions.children, forward=False):
            if rows is None:
                n_parents = n_parents + mask.sum(dim=1)
            else:
                n_parents[rows] += mask.sum(dim=1)
        log_pb = -n_parents.float().log()
    return transitions.log_pf, log_pb, transitions.log_flow
