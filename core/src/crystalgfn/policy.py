"""Policies: networks that map encoded states to action logits and continuous-head inputs.

A policy is called on a batch of encoded states ``(B, encoding_dim)`` and returns a
:class:`PolicyOutput`. Raw outputs of zero mean "uniform": uniform over the allowed discrete
actions, and the uniform density of every continuous head (an environment contract). So the
uniform random policy — the paper's random baseline — is the policy that outputs zeros.

:class:`Policy` declares everything samplers and trainers call on a policy; the built-in
:class:`MLPPolicy` (``"mlp"``) and :class:`UniformPolicy` (``"uniform"``) register through the
``register_policies`` hook like a third-party policy does.
"""

from __future__ import annotations

import functools
from abc import ABC, abstractmethod
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, ClassVar

import attrs
import torch

from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError
from crystalgfn.factory import accepted_kwargs, call_with_kwargs

if TYPE_CHECKING:
    from crystalgfn.trainer import TrainSettings

#: The optional fields of :class:`PolicyOutput`, which a policy declares in ``outputs``.
OPTIONAL_OUTPUTS = ("backward_logits", "log_flow")


@attrs.frozen
class PolicyOutput:
    """What a policy says about a batch of ``B`` states.

    Attributes:
        logits: ``(B, n_actions)`` unnormalised forward log-probabilities (masked later).
        params: ``(B, n_param_outputs)`` inputs of the environment's continuous heads.
        backward_logits: ``(B, n_actions)`` backward logits, or ``None`` for a uniform
            backward policy.
        log_flow: ``(B,)`` log state flow log F(s), or ``None`` if the policy has no flow head.
    """

    logits: torch.Tensor
    params: torch.Tensor
    backward_logits: torch.Tensor | None = None
    log_flow: torch.Tensor | None = None


@functools.lru_cache(maxsize=8)
def _projection(width: int, device: torch.device) -> torch.Tensor:
    """A fixed random float64 vector ``(width,)`` that keys rows for :func:`distinct_rows`."""
    generator = torch.Generator().manual_seed(20231004)
    return torch.rand(width, dtype=torch.float64, generator=generator).to(device)


def distinct_rows(
    matrix: torch.Tensor, max_share: float = 0.5
) -> tuple[torch.Tensor, torch.Tensor] | None:
    """``(unique rows (U, D), int64 inverse (B,))`` with ``unique[inverse] == matrix``, or
    ``None`` when more than ``max_share`` of the ``B`` rows are distinct (not worth it).

    Rows are keyed by a fixed random projection (one float64 dot product per row, much
    cheaper than sorting whole rows); the keys are checked against the rows themselves, so
    a key collision can only make this return ``None``, never a wrong answer."""
    batch = matrix.shape[0]
    if batch < 2:
        return None
    keys = matrix.detach().double() @ _projection(matrix.shape[1], matrix.device)
    unique_keys, inverse = torch.unique(keys, return_inverse=True)
    if unique_keys.shape[0] > max_share * batch:
        return None
    first = torch.full((unique_keys.shape[0],), batch, dtype=torch.long, device=matrix.device)
    first.scatter_reduce_(0, inverse, torch.arange(batch, device=matrix.device), reduce="amin")
    unique = matrix[first]
    if not torch.equal(unique[inverse], matrix):
        return None
    return unique, inverse


#: ``(rows, columns)``: int64 ``rows`` (or ``None`` for every row) and int64 ``columns``.
Block = tuple[torch.Tensor | None, torch.Tensor]


class Policy(torch.nn.Module, ABC):
    """Abstract base of every policy: what samplers and trainers may call.

    A policy class is registered by the ``register_policies`` hook and built by
    :meth:`from_settings` with the environment, the run's :class:`TrainSettings`, the optional
    outputs the loss needs and the run config's ``[policy_kwargs]``.
    """

    #: Registry name, e.g. ``"mlp"``.
    name: ClassVar[str] = ""

    @abstractmethod
    def forward(self, encoding: torch.Tensor) -> PolicyOutput:
        """The output for a batch of encoded states ``(B, encoding_dim)``."""

    @property
    def outputs(self) -> frozenset[str]:
        """The optional :class:`PolicyOutput` fields this policy fills in (of
        :data:`OPTIONAL_OUTPUTS`): ``"backward_logits"`` for a learned backward policy (else
        the backward policy is uniform over parents), ``"log_flow"`` for a state-flow head."""
        return frozenset()

    def forward_blocks(
        self, encoding: torch.Tensor, blocks: Sequence[Block]
    ) -> tuple[PolicyOutput, list[torch.Tensor | None]]:
        """The output for ``encoding`` and the forward logits of each block ``(rows,
        columns)``: ``forward(encoding).logits[rows][:, columns]``, or ``None`` for "all equal"
        (uniform over the allowed actions). This default runs :meth:`forward` and slices;
        override it to compute only the requested logits."""
        output = self(encoding)
        logits = output.logits
        return output, [
            (logits if rows is None else logits[rows])[:, columns] for rows, columns in blocks
        ]

    @classmethod
    def from_settings(
        cls,
        env: Environment,
        settings: TrainSettings,
        outputs: frozenset[str] = frozenset(),
        **kwargs,
    ) -> Policy:
        """The untrained policy of a run: ``cls(env, **kwargs)`` by default. ``outputs`` are
        the optional fields the loss needs; a policy that can provide them on request should
        override this and ask for them (see :class:`MLPPolicy`)."""
        return call_with_kwargs("policy", cls.name or cls.__name__, cls, {"env": env, **kwargs})


def build_policy_from(
    factory, name: str, env: Environment, settings: TrainSettings,
    outputs: frozenset[str], kwargs: Mapping, distribution: str = "",
) -> Policy:
    """Build the registered policy ``factory`` and check it provides ``outputs``."""
    if not (isinstance(factory, type) and issubclass(factory, Policy)):
        raise ConfigError(
            f"policy {name!r}{f' from {distribution!r}' if distribution else ''} is "
            f"{factory!r}, not a crystalgfn.policy.Policy subclass"
        )
    accepted = accepted_kwargs(factory.from_settings)
    if accepted is not None:
        accepted = [key for key in accepted if key not in ("env", "settings", "outputs")]
        unknown = sorted(set(kwargs) - set(accepted))
        if unknown:
            raise ConfigError(
                f"policy {name!r} does not accept {unknown}; accepted keyword arguments: "
                f"{accepted or '(none)'}"
            )
    policy = factory.from_settings(env, settings, frozenset(outputs), **dict(kwargs))
    if not isinstance(policy, Policy):
        raise ConfigError(f"policy {name!r} built a {type(policy).__name__}, not a Policy")
    missing = sorted(set(outputs) - set(policy.outputs))
    if missing:
        raise ConfigError(
            f"policy {name!r} does not provide {missing}, which the loss needs; it provides "
            f"{sorted(policy.outputs) or 'none of ' + str(list(OPTIONAL_OUTPUTS))}"
        )
    return policy


class UniformPolicy(Policy):
    """Uniform random actions (and uniform continuous parameters): no learning involved."""

    name = "uniform"

    def __init__(self, env: Environment):
        super().__init__()
        self.n_actions = env.n_actions
        self.n_param_outputs = env.n_param_outputs

    def forward(self, encoding: torch.Tensor) -> PolicyOutput:
        batch = encoding.shape[0]
        return PolicyOutput(
            logits=encoding.new_zeros(batch, self.n_actions),
            params=encoding.new_zeros(batch, self.n_param_outputs),
        )

    def forward_blocks(
        self, encoding: torch.Tensor, blocks
    ) -> tuple[PolicyOutput, list[torch.Tensor | None]]:
        """Like :meth:`MLPPolicy.forward_blocks`, with ``None`` for each block's logits: "all
        equal", which samplers read as uniform over the allowed actions without building a
        zero tensor per block."""
        batch = encoding.shape[0]
        output = PolicyOutput(
            logits=encoding.new_zeros(batch, 0),
            params=encoding.new_zeros(batch, self.n_param_outputs),
        )
        return output, [None] * len(blocks)


class MLPPolicy(Policy):
    """A multilayer perceptron with forward, continuous, backward and flow heads.

    Args:
        env: the environment (fixes input and output sizes).
        hidden: width of the hidden layers.
        layers: number of hidden layers.
        learn_backward: learn the backward policy (otherwise uniform over parents).
        flow_head: predict log F(s) (needed by detailed and sub-trajectory balance).

    Built for a run, ``hidden``, ``layers`` and ``learn_backward`` default to the run's
    settings of the same names, and the flow head is added when the loss needs ``log_flow``.
    """

    name = "mlp"

    def __init__(
        self,
        env: Environment,
        hidden: int = 256,
        layers: int = 3,
        learn_backward: bool = False,
        flow_head: bool = False,
    ):
        super().__init__()
        blocks: list[torch.nn.Module] = []
        width = env.encoding_dim
        for _ in range(layers):
            blocks += [torch.nn.Linear(width, hidden), torch.nn.LeakyReLU()]
            width = hidden
        self.trunk = torch.nn.Sequential(*blocks)
        self.forward_head = torch.nn.Linear(width, env.n_actions)
        self.param_head = (
            torch.nn.Linear(width, env.n_param_outputs) if env.n_param_outputs else None
        )
        self.backward_head = torch.nn.Linear(width, env.n_actions) if learn_backward else None
        self.flow_head = torch.nn.Linear(width, 1) if flow_head else None
        self.n_param_outputs = env.n_param_outputs
        # Start close to the uniform policy: small output weights give near-zero raw outputs.
        for head in (self.forward_head, self.param_head, self.backward_head):
            if head is not None:
                torch.nn.init.zeros_(head.bias)
                head.weight.data.mul_(0.01)

    @classmethod
    def from_settings(cls, env, settings, outputs=frozenset(), **kwargs) -> MLPPolicy:
        unknown = sorted(set(kwargs) - {"hidden", "layers", "learn_backward"})
        if unknown:
            raise ConfigError(
                f"policy 'mlp' does not accept {unknown}; accepted keyword arguments: "
                "['hidden', 'layers', 'learn_backward']"
            )
        values = {
            "hidden": settings.hidden,
            "layers": settings.layers,
            "learn_backward": settings.learn_backward,
            **kwargs,
        }
        return cls(env, flow_head="log_flow" in outputs, **values)

    @property
    def outputs(self) -> frozenset[str]:
        provided = []
        if self.backward_head is not None:
            provided.append("backward_logits")
        if self.flow_head is not None:
            provided.append("log_flow")
        return frozenset(provided)

    def forward_blocks(
        self, encoding: torch.Tensor, blocks
    ) -> tuple[PolicyOutput, list[torch.Tensor]]:
        """The output for ``encoding`` without its full forward logits, and the forward logits
        of each block ``(rows, columns)`` (int64 ``rows`` or ``None`` for all rows, int64
        ``columns``): ``forward(encoding).logits[rows][:, columns]`` up to float rounding, but
        only those entries are computed (the output layer is ``hidden x n_actions``, 4117
        wide for the crystal stack, while masks allow a small part of it per state)."""
        distinct = distinct_rows(encoding)
        if distinct is None:
            features, inverse = self.trunk(encoding), None
        else:
            # Repeated states (all trajectories start from one source): the trunk and the
            # output layer run once per distinct state, and rows copy their state's result.
            unique, inverse = distinct
            features_unique = self.trunk(unique)
            features = features_unique[inverse]
        output = self._output(features, logits=features.new_zeros(features.shape[0], 0))
        weight, bias = self.forward_head.weight, self.forward_head.bias
        logits = []
        for rows, columns in blocks:
            if columns.shape[0] != weight.shape[0]:
                block_weight, block_bias = weight[columns], bias[columns]
            else:
                block_weight, block_bias = weight, bias
            if inverse is None:
                rows_features = features if rows is None else features[rows]
                logits.append(torch.nn.functional.linear(rows_features, block_weight, block_bias))
            else:
                rows_inverse = inverse if rows is None else inverse[rows]
                used, used_inverse = torch.unique(rows_inverse, return_inverse=True)
                unique_logits = torch.nn.functional.linear(
                    features_unique[used], block_weight, block_bias
                )
                logits.append(unique_logits[used_inverse])
        return output, logits

    def _output(self, features: torch.Tensor, logits: torch.Tensor) -> PolicyOutput:
        params = (
            self.param_head(features)
            if self.param_head is not None
            else features.new_zeros(features.shape[0], 0)
        )
        return PolicyOutput(
            logits=logits,
            params=params,
            backward_logits=(
                self.backward_head(features) if self.backward_head is not None else None
            ),
            log_flow=self.flow_head(features).squeeze(1) if self.flow_head is not None else None,
        )

    def forward(self, encoding: torch.Tensor) -> PolicyOutput:
        features = self.trunk(encoding)
        params = (
            self.param_head(features)
            if self.param_head is not None
            else features.new_zeros(features.shape[0], 0)
        )
        return PolicyOutput(
            logits=self.forward_head(features),
            params=params,
            backward_logits=(
                self.backward_head(features) if self.backward_head is not None else None
            ),
            log_flow=self.flow_head(features).squeeze(1) if self.flow_head is not None else None,
        )
