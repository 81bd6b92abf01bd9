"""Sub-trajectory balance (SubTB(λ)).

Madan, Rector-Brooks, Korablyov, Bengio, Jain, Nica, Bosc, Bengio, Malkin, "Learning
GFlowNets from partial episodes for improved convergence and stability", ICML 2023
(arXiv:2209.12782).

For every sub-trajectory s_i → … → s_j (0 ≤ i < j ≤ n) of a trajectory, with learned state
flows and F(s_n) := R(x),

    L_ij = ( log F(s_i) + Σ_{t=i}^{j-1} log P_F(s_{t+1}|s_t)
             − log F(s_j) − Σ_{t=i}^{j-1} log P_B(s_t|s_{t+1}) )²

and the loss of a trajectory is the λ^{j−i}-weighted average of L_ij over all pairs; the batch
loss is the mean over trajectories. λ → ∞ approaches trajectory balance, λ → 0 detailed
balance.
"""

from __future__ import annotations

import torch

from crystalgfn.loss import Loss
from crystalgfn.trajectories import Trajectories


class SubTrajectoryBalance(Loss):
    name = "subtb"
    needs_flows = True

    def __init__(self, lamda: float = 0.9):
        super().__init__()
        if not lamda > 0:
            from crystalgfn.errors import ConfigError

            raise ConfigError(f"subtb needs lamda > 0, got {lamda}")
        self.lamda = float(lamda)

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        log_pf, log_pb, flows = trajectories.log_pf, trajectories.log_pb, trajectories.log_flows
        batch, steps = log_pf.shape
        zero = log_pf.new_zeros(batch, 1)
        cum_pf = torch.cat([zero, log_pf.cumsum(dim=1)], dim=1)  # (B, T + 1)
        cum_pb = torch.cat([zero, log_pb.cumsum(dim=1)], dim=1)
        # residual[b, i, j] for the sub-trajectory from s_i to s_j.
        residual = (
            flows[:, :, None]
            - flows[:, None, :]
            + (cum_pf[:, None, :] - cum_pf[:, :, None])
            - (cum_pb[:, None, :] - cum_pb[:, :, None])
        )
        index = torch.arange(steps + 1, device=log_pf.device)
        lengths = trajectories.lengths
        valid = (index[None, :, None] < index[None, None, :]) & (
            index[None, None, :] <= lengths[:, None, None]
        )
        span = (index[None, None, :] - index[None, :, None]).clamp(min=0).to(log_pf.dtype)
        weights = torch.pow(torch.as_tensor(self.lamda, dtype=log_pf.dtype), span) * valid
        per_trajectory = (weights * residual.pow(2)).sum(dim=(1, 2)) / weights.sum(dim=(1, 2))
        return per_trajectory.mean()
