"""The loss interface: a GFlowNet training objective over a batch of trajectories.

The trainer samples a batch, evaluates its log-probabilities and hands the loss a
:class:`TrainingBatch` through :meth:`Loss.evaluate`; what the loss computes from it (state
flows, edge flows, ...) is the loss's own business, so a new objective needs no change of the
trainer.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import TYPE_CHECKING, ClassVar

import attrs
import torch

from crystalgfn.errors import ConfigError
from crystalgfn.trajectories import Trajectories

if TYPE_CHECKING:
    from crystalgfn.env import Environment
    from crystalgfn.policy import Policy
    from crystalgfn.sampling import Transitions


@attrs.frozen
class TrainingBatch:
    """One training batch as the trainer hands it to :meth:`Loss.evaluate`.

    Attributes:
        env: the environment.
        policy: the policy being trained (call it for outputs the batch does not carry).
        transitions: the ``N`` transitions of the ``B`` trajectories, in step order.
        log_reward: ``(B,)`` log R of the done states (per labelled variant).
        log_pf, log_pb: ``(N,)`` forward and backward log-probabilities of each transition,
            differentiable in the policy's parameters.
        log_flow: ``(N,)`` log F(parent) of each transition, or ``None`` when the policy has no
            flow head.
    """

    env: Environment
    policy: Policy
    transitions: Transitions
    log_reward: torch.Tensor
    log_pf: torch.Tensor
    log_pb: torch.Tensor
    log_flow: torch.Tensor | None = None

    @property
    def size(self) -> int:
        """``B``, the number of trajectories."""
        return int(self.transitions.lengths.shape[0])

    @property
    def steps(self) -> int:
        """``T``, the length of the longest trajectory."""
        return int(self.transitions.lengths.max())

    @property
    def step_mask(self) -> torch.Tensor:
        """``(B, T)`` bool, True on real steps."""
        lengths = self.transitions.lengths
        return torch.arange(self.steps, device=lengths.device)[None, :] < lengths[:, None]

    def matrix(self, values: torch.Tensor, width: int | None = None) -> torch.Tensor:
        """Per-transition ``values`` ``(N,)`` as a ``(B, width)`` matrix (default width ``T``)
        with the entry of step ``t`` of trajectory ``b`` at ``[b, t]`` and zeros elsewhere."""
        width = self.steps if width is None else width
        out = values.new_zeros(self.size * width)
        index = self.transitions.trajectory * width + self.transitions.step
        return out.index_put((index,), values).reshape(self.size, width)

    def state_flows(self) -> torch.Tensor:
        """``(B, T + 1)`` log F(s_t) from the policy's flow head, with entry ``length`` set to
        log R(x) (the flow of a done state is its reward)."""
        if self.log_flow is None:
            raise ConfigError("the loss needs state flows, but the policy has no flow head")
        flows = self.matrix(self.log_flow, self.steps + 1)
        rows = torch.arange(self.size, device=flows.device)
        return flows.index_put((rows, self.transitions.lengths), self.log_reward.to(flows.dtype))

    def trajectories(self, flows: bool = False, **extra: torch.Tensor) -> Trajectories:
        """The padded :class:`Trajectories` of the batch; with state flows when ``flows``;
        ``extra`` sets further fields (e.g. ``log_inflow``)."""
        return Trajectories(
            log_pf=self.matrix(self.log_pf),
            log_pb=self.matrix(self.log_pb),
            log_reward=self.log_reward,
            step_mask=self.step_mask,
            log_flows=self.state_flows() if flows else None,
            **extra,
        )


class Loss(torch.nn.Module, ABC):
    """Abstract base of every training objective.

    A loss is a ``torch.nn.Module`` so that it can own parameters (e.g. the learned
    log-partition function of trajectory balance), which the trainer optimises together with
    the policy.

    The trainer calls only :meth:`check_env`, :attr:`policy_outputs`, :meth:`evaluate` and
    :meth:`estimate_log_z`; their defaults cover an objective that is a function of
    :class:`Trajectories` (implement :meth:`forward`, and declare ``needs_flows`` when it reads
    state flows). Override :meth:`evaluate` for one that needs more from the batch, as flow
    matching does for its edge flows.
    """

    #: Registry name, e.g. ``"tb"``.
    name: ClassVar[str] = ""
    #: True when :meth:`forward` reads the state flows ``Trajectories.log_flows`` (the policy
    #: then needs a flow head).
    needs_flows: ClassVar[bool] = False
    #: True when :meth:`forward` reads ``Trajectories.log_inflow`` / ``log_outflow``.
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

    @property
    def policy_outputs(self) -> frozenset[str]:
        """The optional :class:`crystalgfn.policy.PolicyOutput` fields the loss needs from the
        policy (``"log_flow"`` when it reads state flows)."""
        return frozenset({"log_flow"}) if self.needs_flows else frozenset()

    def check_env(self, env: Environment) -> None:
        """Raise :class:`ConfigError` when the loss cannot train on ``env``."""
        if self.discrete_only and not env.is_discrete:
            raise ConfigError(
                f"loss {self.name!r} needs a discrete environment, but "
                f"{getattr(env, 'spec', env.name)!r} has continuous actions; "
                "use tb, db, subtb or vargrad"
            )

    def evaluate(self, batch: TrainingBatch) -> torch.Tensor:
        """The scalar loss of a training batch: :meth:`forward` of its trajectories (with state
        flows when ``needs_flows``)."""
        return self(batch.trajectories(flows=self.needs_flows))

    def estimate_log_z(self, env: Environment, policy: Policy, device) -> float | None:
        """The current log-partition estimate for the metrics: :attr:`log_z` when the loss
        learns one, else the policy's log F(source) when the loss trains state flows."""
        if self.log_z is not None:
            return float(self.log_z.detach())
        if not self.needs_flows:
            return None
        with torch.no_grad():
            output = policy(env.encode(env.source(1, device)))
        return float(output.log_flow[0])
