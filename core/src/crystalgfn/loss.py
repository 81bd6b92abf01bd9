"""The loss interface: a GFlowNet training objective over a batch of trajectories."""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import ClassVar

import torch

from crystalgfn.trajectories import Trajectories


class Loss(torch.nn.Module, ABC):
    """Abstract base of every training objective.

    A loss is a ``torch.nn.Module`` so that it can own parameters (e.g. the learned
    log-partition function of trajectory balance), which the trainer optimises together with
    the policy.
    """

    #: Registry name, e.g. ``"tb"``.
    name: ClassVar[str] = ""
    #: True when the loss needs the policy's state-flow head (``Trajectories.log_flows``).
    needs_flows: ClassVar[bool] = False
    #: True when the loss needs edge flows into and out of visited states (flow matching).
    needs_edge_flows: ClassVar[bool] = False
    #: True when the loss only makes sense on discrete environments.
    discrete_only: ClassVar[bool] = False

    @abstractmethod
    def forward(self, trajectories: Trajectories) -> torch.Tensor:
        """The scalar loss of a batch of trajectories."""

    @property
    def log_z(self) -> torch.Tensor | None:
        """The current estimate of log Z, if the objective learns one."""
        return None
