"""How close a sampler is to R/Z on one restriction, measured from its own samples.

For trajectories τ drawn from the forward policy P_F, the weights

    w(τ) = R(x) P_B(τ | x) / P_F(τ)

have mean Z (the restricted space's partition function) whatever the policy, and are all
equal exactly when the sampler is ∝ R. Their effective sample size as a share of the
samples, ESS / n = (Σ w)² / (n Σ w²), is 1 for an exact sampler and falls as the sampler
departs from R/Z; ``log mean w`` estimates log Z. This needs no enumeration, so it works on
any restriction of any space.

The mean of the log-weights is the sampler's evidence lower bound,

    E[log w] = log Z − KL(P_F ‖ P_B R/Z),

the KL divergence (nats) from the sampler's trajectory distribution to the target's. So
``log mean w − mean log w`` estimates that divergence (0 for an exact sampler, low for a
finite sample of heavy-tailed weights, whose log mean falls short of log Z), and two samplers
of one restriction compare without knowing Z: the difference of their ``elbo`` is the
difference of their divergences, estimated without bias. Over trajectories the divergence
bounds the one over finished crystals from above.
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
    """What the log-weights ``log_w`` ``(n,)`` of ``n`` trajectories say about their sampler:

    * ``ess_fraction``: ESS / n, 1 for an exact sampler;
    * ``log_z``: log mean w, the estimate of log Z;
    * ``elbo``: mean log w, which estimates log Z − KL (nats), and ``elbo_stderr``, its
      standard error (NaN for one trajectory);
    * ``kl``: ``log_z − elbo`` ≥ 0, the estimate of KL(P_F ‖ P_B R/Z) in nats (0 for an
      exact sampler; biased low for a finite ``n``);
    * ``n``.
    """
    n = log_w.shape[0]
    log_sum = torch.logsumexp(log_w, dim=0)
    log_sum_sq = torch.logsumexp(2 * log_w, dim=0)
    log_z = float(log_sum - math.log(n))
    elbo = float(log_w.mean())
    return {
        "ess_fraction": float(torch.exp(2 * log_sum - log_sum_sq) / n),
        "log_z": log_z,
        "elbo": elbo,
        "elbo_stderr": float(log_w.std() / math.sqrt(n)) if n > 1 else math.nan,
        # Jensen: log mean w ≥ mean log w, so rounding is all that can take it below 0.
        "kl": max(log_z - elbo, 0.0),
        "n": n,
    }
