"""Example Crystal-GFN policy plugin: a linear policy.

The forward logits (and the continuous-head inputs, and log F(s) when the loss needs state
flows) are affine functions of the state's encoding: a log-linear policy, the smallest one
that learns. On environments whose encoding is a one-hot of the state it is a table of logits.

Use it by name: ``policy = "linear"`` in a run config (``[policy_kwargs] init_scale = ...``),
or ``crystalgfn.make_policy("linear", env)``.
"""

from __future__ import annotations

import crystalgfn
import torch
from crystalgfn.policy import Policy, PolicyOutput


class LinearPolicy(Policy):
    """Affine maps from the encoding to the forward logits, the continuous-head inputs and,
    with ``flow_head``, log F(s).

    Args:
        env: the environment (fixes input and output sizes).
        flow_head: predict log F(s) (asked for by losses that need state flows).
        init_scale: scale of the initial weights (0 starts from the uniform policy).
    """

    name = "linear"

    def __init__(self, env: crystalgfn.Environment, flow_head: bool = False,
                 init_scale: float = 0.0):
        super().__init__()
        width = env.encoding_dim
        self.logits = torch.nn.Linear(width, env.n_actions)
        self.params = torch.nn.Linear(width, env.n_param_outputs) if env.n_param_outputs else None
        self.flow = torch.nn.Linear(width, 1) if flow_head else None
        for layer in (self.logits, self.params):
            if layer is not None:
                torch.nn.init.zeros_(layer.bias)
                layer.weight.data.normal_(0.0, 1.0).mul_(float(init_scale))

    @classmethod
    def from_settings(cls, env, settings, outputs=frozenset(), init_scale: float = 0.0):
        # ``outputs`` is what the loss needs beyond logits and parameters: add a flow head
        # when it asks for log F(s). This policy has no learned backward policy.
        return cls(env, flow_head="log_flow" in outputs, init_scale=init_scale)

    @property
    def outputs(self) -> frozenset[str]:
        return frozenset({"log_flow"}) if self.flow is not None else frozenset()

    def forward(self, encoding: torch.Tensor) -> PolicyOutput:
        batch = encoding.shape[0]
        params = self.params(encoding) if self.params is not None else encoding.new_zeros(batch, 0)
        return PolicyOutput(
            logits=self.logits(encoding),
            params=params,
            log_flow=self.flow(encoding).squeeze(1) if self.flow is not None else None,
        )


@crystalgfn.hookimpl
def register_policies(register):
    register(LinearPolicy)
