"""Trajectory balance (TB).

Malkin, Jain, Bengio, Sun, Bengio, "Trajectory balance: Improved credit assignment in
GFlowNets", NeurIPS 2022 (arXiv:2201.13259).

For a complete trajectory τ = (s_0 → … → s_n = x) the objective is

    L(τ) = ( log Z + Σ_t log P_F(s_{t+1}|s_t) − log R(x) − Σ_t log P_B(s_t|s_{t+1}) )²

averaged over the batch. At the optimum P_F samples x with probability R(x)/Z, and the
learned scalar log Z equals the log-partition function.

On a conditional environment (:class:`crystalgfn.conditioning.ConditionalEnv`) log Z depends
on the restriction, so it is the policy's flow head at each trajectory's source state
(conditional TB): log Z(r) = log F(s_0 | r).
"""

from __future__ import annotations

import torch

from crystalgfn.loss import Loss
from crystalgfn.trajectories import Trajectories


class TrajectoryBalance(Loss):
    name = "tb"

    def __init__(self, init_log_z: float = 0.0):
        super().__init__()
        self._log_z = torch.nn.Parameter(torch.tensor(float(init_log_z)))
        self.conditional = False  # set by check_env

    @property
    def log_z(self) -> torch.Tensor | None:
        return None if self.conditional else self._log_z

    def check_env(self, env) -> None:
        super().check_env(env)
        # A conditional space has one log Z per restriction: read it from the flow head.
        self.conditional = bool(getattr(env, "is_conditional", False))
        self.needs_flows = self.conditional

    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        log_z = trajectories.log_flows[:, 0] if self.conditional else self._log_z
        residual = (
            log_z
            + trajectories.log_pf.sum(dim=1)
            - trajectories.log_reward
            - trajectories.log_pb.sum(dim=1)
        )
        return residual.pow(2).mean()
