"""Exact checks of a sampler on state spaces small enough to enumerate.

:func:`exact_distribution` propagates probability mass from the source through every
reachable state (batched, merging identical states), so it gives the *exact* distribution over
done states that a policy samples — no sampling noise. With it, :func:`total_variation` and
the true log-partition function measure whether a GFlowNet samples ∝ R.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import torch

from crystalgfn.env import Environment
from crystalgfn.sampling import masked_log_softmax
from crystalgfn.states import State, select


def _keys(state: State) -> torch.Tensor:
    return torch.cat([v.reshape(v.shape[0], -1).double() for _, v in sorted(state.items())], dim=1)


def _value_keys(values: Mapping[str, torch.Tensor]) -> list[tuple]:
    flat = torch.cat([v.reshape(v.shape[0], -1).double() for _, v in sorted(values.items())], dim=1)
    return [tuple(row) for row in flat.tolist()]


def _forward_layers(env: Environment, policy: torch.nn.Module, max_states: int):
    """Walk ``policy``'s trajectories layer by layer, merging equal states.

    Yields, per layer, ``(finished, finished_mass, edges)``: the done states reached with
    their probabilities, and ``(parents, actions, edge_mass, log_pf, children)`` for the steps
    out of the states not done (``edge_mass`` is the probability of taking that step,
    ``log_pf`` the policy's log-probability of it), or ``None`` once none is left."""
    if not env.is_discrete:
        raise ValueError(f"exact computations need a discrete environment, got {env!r}")
    frontier = env.source(1)
    mass = torch.ones(1, dtype=torch.float64)
    for _ in range(env.max_steps + 1):
        done = env.is_done(frontier)
        finished, finished_mass = select(frontier, done), mass[done]
        frontier, mass = select(frontier, ~done), mass[~done]
        if mass.numel() == 0:
            yield finished, finished_mass, None
            return
        mask = env.forward_mask(frontier)
        log_probs = masked_log_softmax(policy(env.encode(frontier)).logits, mask).double()
        rows, actions = mask.nonzero(as_tuple=True)
        parents = select(frontier, rows)
        children = env.step(parents, actions)
        edge_log_pf = log_probs[rows, actions]
        edge_mass = mass[rows] * edge_log_pf.exp()
        yield finished, finished_mass, (parents, actions, edge_mass, edge_log_pf, children)
        keys = _keys(children)
        unique, inverse = torch.unique(keys, dim=0, return_inverse=True)
        if unique.shape[0] > max_states:
            raise ValueError(f"more than {max_states} states in one layer; the space is too large")
        first = torch.full((unique.shape[0],), len(inverse), dtype=torch.long)
        first.scatter_reduce_(0, inverse, torch.arange(len(inverse)), reduce="amin")
        frontier = select(children, first)
        mass = torch.zeros(unique.shape[0], dtype=torch.float64).index_add_(0, inverse, edge_mass)
    raise RuntimeError(f"{env!r}: trajectories longer than max_steps")


@torch.no_grad()
def exact_distribution(
    env: Environment, policy: torch.nn.Module, max_states: int = 2_000_000
) -> dict[tuple, float]:
    """Probability of each done object (keyed by its flattened values) under ``policy``.

    Discrete environments only. Raises ``ValueError`` if more than ``max_states`` states are
    reachable in one layer.
    """
    result: dict[tuple, float] = {}
    for finished, finished_mass, _ in _forward_layers(env, policy, max_states):
        if finished_mass.numel():
            keys = _value_keys(env.values(finished))
            for key, p in zip(keys, finished_mass.tolist(), strict=True):
                result[key] = result.get(key, 0.0) + p
    return result


@torch.no_grad()
def exact_elbo(
    env: Environment,
    policy: torch.nn.Module,
    log_reward: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
    max_states: int = 2_000_000,
) -> float:
    """E[log w] under ``policy``'s trajectories, computed exactly: log Z minus the KL
    divergence (nats) from the policy's trajectory distribution to the target's,
    w = R(x) P_B(τ|x) / P_F(τ) with P_B uniform over parents, as ``crystalgfn sample``
    weighs trajectories (:mod:`crystalgfn.conditioning.quality`). Discrete environments
    only; ``log_reward`` maps ``env.values(done)`` to float64 ``(B,)``. A policy with a
    learned backward head is refused (its P_B is not the uniform one computed here)."""
    if "backward_logits" in getattr(policy, "outputs", frozenset()):
        raise ValueError(
            "exact_elbo weighs trajectories with the uniform backward policy; this policy "
            "learns its own (backward_logits)"
        )
    elbo = 0.0
    for finished, finished_mass, edges in _forward_layers(env, policy, max_states):
        if finished_mass.numel():
            log_r = log_reward(env.values(finished)).double() - env.log_label_count(finished)
            elbo += float((finished_mass * log_r).sum())
        if edges is not None:
            _, _, edge_mass, edge_log_pf, children = edges
            # Uniform backward policy: each step back picks one of the child's parents.
            parents = env.backward_mask(children).sum(dim=1).double()
            # A step the policy never takes (probability 0) contributes nothing, not 0 · -inf.
            taken = edge_mass > 0
            elbo -= float((edge_mass[taken] * (edge_log_pf[taken] + parents[taken].log())).sum())
    return elbo


def target_distribution(
    env: Environment, log_reward: Callable[[Mapping[str, torch.Tensor]], torch.Tensor]
) -> tuple[dict[tuple, float], float]:
    """``(R(x)/Z for every done object x, log Z)`` by enumeration (discrete environments)."""
    from crystalgfn.policy import UniformPolicy

    support = exact_distribution(env, UniformPolicy(env))
    keys = list(support)
    columns = _split_keys(env, keys)
    log_r = log_reward(columns).double()
    log_z = float(torch.logsumexp(log_r, dim=0))
    return {key: math.exp(float(lr) - log_z) for key, lr in zip(keys, log_r, strict=True)}, log_z


def _split_keys(env: Environment, keys: list[tuple]) -> dict[str, torch.Tensor]:
    """Rebuild value tensors from flattened keys (inverse of ``_value_keys``)."""
    probe = env.values(_any_done(env))
    flat = torch.tensor(keys, dtype=torch.float64)
    columns, offset = {}, 0
    for name, tensor in sorted(probe.items()):
        width = tensor[0].numel()
        block = flat[:, offset : offset + width]
        columns[name] = block.reshape(-1, *tensor.shape[1:]).to(tensor.dtype)
        offset += width
    return columns


def _any_done(env: Environment) -> State:
    from crystalgfn.testing import rollout_uniform

    return rollout_uniform(env, 1)


def total_variation(p: Mapping[tuple, float], q: Mapping[tuple, float]) -> float:
    """½ Σ |p(x) − q(x)| over the union of supports."""
    return 0.5 * sum(abs(p.get(k, 0.0) - q.get(k, 0.0)) for k in set(p) | set(q))


def empirical_distribution(env: Environment, done: State) -> dict[tuple, float]:
    """Frequencies of done objects in a batch of samples."""
    keys = _value_keys(env.values(done))
    counts: dict[tuple, float] = {}
    for key in keys:
        counts[key] = counts.get(key, 0.0) + 1.0
    return {k: v / len(keys) for k, v in counts.items()}


__all__ = [
    "conditional_exact_check",
    "empirical_distribution",
    "exact_check",
    "exact_distribution",
    "target_distribution",
    "total_variation",
]


def exact_check(
    env: Environment,
    log_reward: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
    loss_name: str,
    settings,
    n_samples: int = 50_000,
    sample_env: Environment | None = None,
) -> dict[str, float]:
    """Train on ``env`` with ``log_reward`` and measure how well the sampler matches R/Z.

    Returns the exact total variation of the trained sampler (by enumeration), the total
    variation of ``n_samples`` samples, and learned vs true log Z. With ``sample_env`` (a
    restriction of ``env`` with the same layout), the trained policy is *masked* to it and
    compared with the target restricted to it.
    """
    from crystalgfn.builders import make_loss
    from crystalgfn.trainer import Trainer, sample_policy

    trainer = Trainer(env, lambda values: (log_reward(values), {}), make_loss(loss_name), settings)
    trainer.train()
    target_env = sample_env or env
    target, true_log_z = target_distribution(target_env, log_reward)
    exact = exact_distribution(target_env, trainer.policy)
    generator = torch.Generator().manual_seed(settings.seed + 1)
    done = sample_policy(target_env, trainer.policy, n_samples, 10_000, generator)
    return {
        "tv_exact": total_variation(exact, target),
        "tv_empirical": total_variation(empirical_distribution(target_env, done), target),
        "log_z": trainer.learned_log_z(),
        "true_log_z": true_log_z,
        "support": len(target),
    }


def conditional_exact_check(
    env,
    log_reward: Callable[[Mapping[str, torch.Tensor]], torch.Tensor],
    loss_name: str,
    settings,
    restrictions: list[Mapping],
    sampled: int = 0,
) -> list[dict]:
    """Train one conditional model on ``env`` (a
    :class:`crystalgfn.conditioning.ConditionalEnv`) and measure it, restriction by
    restriction, against R/Z restricted exactly (by enumerating the restricted environment).

    Returns one dict per restriction: ``restriction``, ``trained_on`` (whether it was in the
    training pool), ``tv_exact``, ``log_z`` (the model's log F(source | restriction)),
    ``sampled_log_z`` (log mean w of ``sampled`` importance-weighted trajectories, the
    estimate ``crystalgfn sample`` prints, seeded by the restriction's position; ``None``
    with ``sampled=0``, the default, which draws none),
    ``true_log_z`` and ``support``."""
    from crystalgfn.builders import make_loss
    from crystalgfn.conditioning.quality import importance_summary, importance_weights
    from crystalgfn.trainer import Trainer

    trainer = Trainer(env, lambda values: (log_reward(values), {}), make_loss(loss_name), settings)
    trainer.train()
    results = []
    for position, restriction in enumerate(restrictions):
        pinned = env.restrict(**restriction)
        target, true_log_z = target_distribution(pinned.restricted_env(), log_reward)
        exact = exact_distribution(pinned, trainer.policy)
        sampled_log_z = None
        if sampled:
            log_w = importance_weights(
                pinned, trainer.policy, lambda values: (log_reward(values), {}), sampled,
                torch.Generator().manual_seed(position), trainer.device,
            )
            sampled_log_z = importance_summary(log_w)["log_z"]
        results.append({
            "restriction": env.family.describe(pinned.restriction(pinned.pinned)),
            "trained_on": env.trained_on(restriction),
            "tv_exact": total_variation(exact, target),
            "log_z": trainer.loss.estimate_log_z(pinned, trainer.policy, trainer.device),
            "sampled_log_z": sampled_log_z,
            "true_log_z": true_log_z,
            "support": len(target),
        })
    return results
