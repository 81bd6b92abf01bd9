"""Flow matching (FM).

Bengio, Jain, Korablyov, Precup, Bengio, "Flow network based generative models for
non-iterative diverse candidate generation", NeurIPS 2021 (arXiv:2106.04399).

The policy's logits are log edge flows log F(s → s'). For every state s visited by a
trajectory (other than the source), inflow and outflow must match:

    L(s) = ( log Σ_{s' → s} F(s' → s) − log [ Σ_{s → s''} F(s → s'') + R(s) ] )²

where R(s) is the reward of a done state (and done states have no children). It needs the
parents of every state, so it is defined for discrete environments only.
"""

from __future__ import annotations

import math

import torch

from crystalgfn.loss import Loss, TrainingBatch
from crystalgfn.states import select
from crystalgfn.trajectories import Trajectories


def edge_flows(batch: TrainingBatch) -> tuple[torch.Tensor, torch.Tensor]:
    """``(log inflow, log outflow)`` ``(N,)`` of the child of every transition, with the
    policy's logits as log edge flows (the outflow of a done state is its log-reward)."""
    env, policy, transitions = batch.env, batch.policy, batch.transitions
    children = transitions.children
    done = env.is_done(children)
    child_logits = policy(env.encode(children)).logits
    outflow = torch.logsumexp(
        child_logits.masked_fill(~env.forward_mask(children), -math.inf), dim=1
    )
    log_reward = batch.log_reward[transitions.trajectory].to(outflow.dtype)
    outflow = torch.where(done, log_reward, outflow)
    rows, actions = env.backward_mask(children).nonzero(as_tuple=True)
    parents, _ = env.step_back(select(children, rows), actions)
    edge = policy(env.encode(parents)).logits.gather(1, actions[:, None]).squeeze(1)
    inflow = torch.full((children[next(iter(children))].shape[0],), -math.inf, dtype=edge.dtype)
    inflow = inflow.scatter_reduce(0, rows, edge, reduce="amax")
    inflow = inflow + torch.zeros_like(inflow).index_add(0, rows, (edge - inflow[rows]).exp()).log()
    return inflow, outflow


class FlowMatching(Loss):
    name = "fm"
    needs_edge_flows = True
    discrete_only = True

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        residual = trajectories.log_inflow - trajectories.log_outflow
        mask = trajectories.step_mask
        return (residual.pow(2) * mask).sum() / mask.sum()

    def evaluate(self, batch: TrainingBatch) -> torch.Tensor:
        inflow, outflow = edge_flows(batch)
        return self(
            batch.trajectories(log_inflow=batch.matrix(inflow), log_outflow=batch.matrix(outflow))
        )

    def estimate_log_z(self, env, policy, device) -> float | None:
        """The total edge flow out of the source."""
        with torch.no_grad():
            source = env.source(1, device)
            logits = policy(env.encode(source)).logits
            allowed = logits.masked_fill(~env.forward_mask(source), -math.inf)
        return float(torch.logsumexp(allowed, dim=1)[0])
