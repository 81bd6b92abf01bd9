"""Example Crystal-GFN loss plugin: trajectory balance with a log-cosh penalty.

Trajectory balance penalises its residual

    δ(τ) = log Z + Σ_t log P_F(s_{t+1}|s_t) − log R(x) − Σ_t log P_B(s_t|s_{t+1})

by δ². This loss uses log cosh δ instead: quadratic near 0 (so the optimum, δ = 0 on every
trajectory, is the same: the sampler draws x with probability R(x)/Z), linear for large
residuals, so a few very wrong trajectories do not dominate a batch.

Use it by name: ``loss = "logcosh_tb"`` in a run config (``[loss_kwargs] init_log_z = ...``),
or ``crystalgfn.make_loss("logcosh_tb")``.
"""

from __future__ import annotations

import math

import crystalgfn
import torch


def log_cosh(x: torch.Tensor) -> torch.Tensor:
    """log cosh x, computed without overflow for large |x|."""
    x = x.abs()
    return x + torch.nn.functional.softplus(-2 * x) - math.log(2)


class LogCoshTrajectoryBalance(crystalgfn.Loss):
    """Trajectory balance with a log-cosh penalty and a learned log Z."""

    name = "logcosh_tb"

    def __init__(self, init_log_z: float = 0.0):
        super().__init__()
        self._log_z = torch.nn.Parameter(torch.tensor(float(init_log_z)))

    @property
    def log_z(self) -> torch.Tensor:
        return self._log_z

    def forward(self, trajectories: crystalgfn.Trajectories) -> torch.Tensor:
        # log_pf and log_pb are 0 on padding, so sums over steps need no mask.
        residual = (
            self._log_z
            + trajectories.log_pf.sum(dim=1)
            - trajectories.log_reward
            - trajectories.log_pb.sum(dim=1)
        )
        return 2.0 * log_cosh(residual).mean()


@crystalgfn.hookimpl
def register_losses(register):
    register(LogCoshTrajectoryBalance)
