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

import torch

from crystalgfn.loss import Loss
from crystalgfn.trajectories import Trajectories


class FlowMatching(Loss):
    name = "fm"
    needs_edge_flows = True
    discrete_only = True

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        residual = trajectories.log_inflow - trajectories.log_outflow
        mask = trajectories.step_mask
        return (residual.pow(2) * mask).sum() / mask.sum()
