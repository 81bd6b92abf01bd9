"""The tensors a loss needs from a batch of sampled trajectories."""

from __future__ import annotations

import attrs
import torch


@attrs.frozen
class Trajectories:
    """A batch of ``B`` complete trajectories, padded to ``T`` steps.

    Attributes:
        log_pf: ``(B, T)`` log P_F(s_{t+1} | s_t) of each step; 0 on padding.
        log_pb: ``(B, T)`` log P_B(s_t | s_{t+1}) of each step; 0 on padding.
        log_reward: ``(B,)`` log R(x) of the terminal states.
        step_mask: ``(B, T)`` bool, True on real steps (a prefix of each row).
        log_flows: ``(B, T + 1)`` log F(s_t) predicted by the policy's flow head, for losses
            that need state flows (detailed and sub-trajectory balance); ``None`` otherwise.
            Entries past a trajectory's end are ignored; entry ``length`` is log R(x).
        log_inflow, log_outflow: ``(B, T)`` log of the total edge flow into and out of the
            state reached by each step (out of a done state: its reward), for flow matching;
            ``None`` otherwise.
    """

    log_pf: torch.Tensor
    log_pb: torch.Tensor
    log_reward: torch.Tensor
    step_mask: torch.Tensor
    log_flows: torch.Tensor | None = None
    log_inflow: torch.Tensor | None = None
    log_outflow: torch.Tensor | None = None

    @property
    def lengths(self) -> torch.Tensor:
        """Number of steps of each trajectory, int64 ``(B,)``."""
        return self.step_mask.sum(dim=1)
