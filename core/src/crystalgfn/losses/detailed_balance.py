"""Detailed balance (DB).

Bengio, Lahlou, Deleu, Hu, Tiwari, Bengio, "GFlowNet foundations", JMLR 2023
(arXiv:2111.09266), section 3.

With a learned state flow F(s) and F(x) := R(x) at done states, every transition s → s' of a
trajectory contributes

    L(s, s') = ( log F(s) + log P_F(s'|s) − log F(s') − log P_B(s|s') )²

and the loss is the mean over all transitions of the batch.
"""

from __future__ import annotations

import torch

from crystalgfn.loss import Loss
from crystalgfn.trajectories import Trajectories


class DetailedBalance(Loss):
    name = "db"
    needs_flows = True

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        flows = trajectories.log_flows
        residual = flows[:, :-1] + trajectories.log_pf - flows[:, 1:] - trajectories.log_pb
        mask = trajectories.step_mask
        return (residual.pow(2) * mask).sum() / mask.sum()
