"""How close a sampler is to R/Z on one restriction, measured from its own samples.

For trajectories τ drawn from the forward policy P_F, the weights

    w(τ) = R(x) P_B(τ | x) / P_F(τ)

have mean Z (the restricted space's partition function) whatever the policy, and are all
equal exactly when the sampler is ∝ R. Their effective sample size as a share of the
samples, ESS / n = (Σ w)² / (n Σ w²), is 1 for an exact sampler and falls as the sampler
departs from R/Z; ``log mean w`` estimates log Z. This needs no enumeration, so it works on
any restriction of any space.
"""

from __future__ import annotations

import math

import torch

from crystalgfn.env import Environment
from crystalgfn.sampling import log_probs, rollout


@torch.no_grad()
def importance_weights(
    env: Environment, policy, log_reward, n: int, generator=None, device="cpu"
) -> torch.Tensor:
    """``log w`` float64 ``(n,)`` of ``n`` trajectories sampled from ``policy`` on ``env``;
    ``log_reward`` maps ``env.values(done)`` to ``(log R, ...)`` as a run's reward does."""
    transitions = rollout(env, policy, n, generator, device, record=True, track_log_probs=True)
    return trajectory_log_weights(env, policy, log_reward, transitions)


@torch.no_grad()
def trajectory_log_weights(env: Environment, policy, log_reward, transitions) -> torch.Tensor:
    """``log w`` float64 ``(n,)`` of the ``n`` trajectories of ``transitions``, drawn from
    ``policy`` without tempering or exploration (a rollout that tracked its forward
    log-probabilities is not evaluated again)."""
    n = transitions.lengths.shape[0]
    log_pf, log_pb, _ = log_probs(env, policy, transitions)
    per_trajectory = torch.zeros(n, dtype=torch.float64, device=log_pf.device)
    per_trajectory.index_add_(0, transitions.trajectory, (log_pb - log_pf).double())
    log_r, _ = log_reward(env.values(transitions.done))
    log_r = log_r.double().to(per_trajectory.device)
    return log_r - env.log_label_count(transitions.done).to(log_r.device) + per_trajectory


def importance_summary(log_w: torch.Tensor) -> dict[str, float]:
    """``ess_fraction`` (ESS / n, 1 for an exact sampler), ``log_z`` (log mean w) and
    ``n`` of the log-weights ``log_w``."""
    n = log_w.shape[0]
    log_sum = torch.logsumexp(log_w, dim=0)
    log_sum_sq = torch.logsumexp(2 * log_w, dim=0)
    return {
        "ess_fraction": float(torch.exp(2 * log_sum - log_sum_sq) / n),
        "log_z": float(log_sum - math.log(n)),
        "n": n,
    }
