"""Log-partition variance (VarGrad), a trajectory-balance variant without a learned log Z.

Zhang, Malkin, Liu, Volokhova, Courville, Bengio, "Robust scheduling with GFlowNets",
ICLR 2023 (arXiv:2302.05446), following Richter et al., "VarGrad", NeurIPS 2020.

Each trajectory gives an estimate of the log-partition function,

    ζ(τ) = log R(x) + Σ_t log P_B(s_t|s_{t+1}) − Σ_t log P_F(s_{t+1}|s_t),

which is the same for every trajectory exactly when trajectory balance holds. The loss is the
batch variance of ζ; its mean is reported as the log Z estimate.
"""

from __future__ import annotations

import torch

from crystalgfn.loss import Loss
from crystalgfn.trajectories import Trajectories


class LogPartitionVariance(Loss):
    name = "vargrad"

    def __init__(self):
        super().__init__()
        self.register_buffer("_estimate", torch.tensor(0.0))

    @property
    def log_z(self) -> torch.Tensor:
        return self._estimate

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        zeta = (
            trajectories.log_reward
            + trajectories.log_pb.sum(dim=1)
            - trajectories.log_pf.sum(dim=1)
        )
        self._estimate = zeta.mean().detach()
        return (zeta - zeta.mean()).pow(2).mean()
