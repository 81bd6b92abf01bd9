"""The policy interface and registry, and the loss interface the trainer calls."""

from __future__ import annotations

import crystalgfn
import pytest
import torch
from crystalgfn.errors import ConfigError
from crystalgfn.loss import Loss, TrainingBatch
from crystalgfn.policy import MLPPolicy, Policy, PolicyOutput, UniformPolicy
from crystalgfn.trainer import Trainer, TrainSettings, build_policy

#: The parameter names of the MLP policy in checkpoints written before policies were
#: registered (``hidden``/``layers`` settings, flow head for db/subtb): they must still load.
MLP_KEYS = [
    "trunk.0.weight", "trunk.0.bias", "trunk.2.weight", "trunk.2.bias",
    "forward_head.weight", "forward_head.bias",
]


def test_builtin_policies_are_registered():
    policies = crystalgfn.get_plugins().policies
    assert {"mlp", "uniform"} <= set(policies.names())
    assert policies.get("mlp").distribution == "crystalgfn"
    assert policies.get("uniform").factory is UniformPolicy


@pytest.mark.parametrize(
    ("loss", "extra"), [("tb", []), ("db", ["flow_head.weight", "flow_head.bias"])]
)
def test_the_default_policy_is_todays_mlp(plugins, loss, extra):
    env = crystalgfn.make_env("pick", n=5)
    policy = build_policy(env, TrainSettings(hidden=8, layers=2), crystalgfn.make_loss(loss))
    assert type(policy) is MLPPolicy
    assert list(policy.state_dict()) == MLP_KEYS + extra
    assert policy.trunk[0].out_features == 8
    wider = TrainSettings(hidden=8, layers=2, policy_kwargs={"hidden": 12})
    assert build_policy(env, wider, crystalgfn.make_loss(loss)).trunk[0].out_features == 12


class ForwardOnly(Policy):
    """A policy implementing only ``forward``: it gets the default ``forward_blocks``."""

    name = "forward_only"

    def __init__(self, env):
        super().__init__()
        self.net = torch.nn.Linear(env.encoding_dim, env.n_actions)

    def forward(self, encoding):
        return PolicyOutput(logits=self.net(encoding), params=encoding.new_zeros(len(encoding), 0))


def test_default_forward_blocks_slices_forward(plugins):
    env = crystalgfn.make_env("pick", n=6)
    policy = ForwardOnly(env)
    encoding = torch.randn(5, env.encoding_dim)
    rows, columns = torch.tensor([0, 3]), torch.tensor([1, 4, 5])
    blocks = [(None, columns), (rows, columns)]
    output, (everything, block) = policy.forward_blocks(encoding, blocks)
    full = policy(encoding).logits
    assert torch.equal(everything, full[:, columns])
    assert torch.equal(block, full[rows][:, columns])
    assert output.log_flow is None and policy.outputs == frozenset()


def test_a_policy_that_cannot_provide_what_the_loss_needs_is_refused(plugins):
    env = crystalgfn.make_env("pick", n=4)
    with pytest.raises(ConfigError, match=r"'uniform' does not provide \['log_flow'\]"):
        crystalgfn.make_policy("uniform", env, outputs={"log_flow"})
    with pytest.raises(ConfigError, match="does not accept"):
        crystalgfn.make_policy("uniform", env, hidden=3)
    with pytest.raises(ConfigError, match="does not accept"):
        crystalgfn.make_policy("mlp", env, width=3)
    with pytest.raises(crystalgfn.UnknownNameError, match="mlp"):
        crystalgfn.make_policy("mpl", env)
    with pytest.raises(ConfigError, match="policy_kwargs must be a table"):
        TrainSettings(policy_kwargs=3)


class Recorded(Loss):
    """A loss with its own ``evaluate``: the trainer must call it and nothing else."""

    name = "recorded"

    def __init__(self):
        super().__init__()
        self.batches = []

    def forward(self, trajectories):
        raise AssertionError("the trainer calls evaluate, which this loss overrides")

    def evaluate(self, batch):
        self.batches.append(batch)
        return (batch.log_pf.sum() + 3.0).pow(2)

    def estimate_log_z(self, env, policy, device):
        return 1.25


def test_the_trainer_calls_the_loss_through_evaluate(plugins):
    env = crystalgfn.make_env("pick", n=4)
    loss = Recorded()
    metrics = []
    trainer = Trainer(env, lambda v: (torch.zeros(v["pick"].shape[0]), {}), loss,
                      TrainSettings(steps=2, batch_size=5, hidden=4, layers=1))
    trainer.train(on_step=metrics.append)
    assert len(loss.batches) == 2 and all(isinstance(b, TrainingBatch) for b in loss.batches)
    batch = loss.batches[0]
    assert batch.policy is trainer.policy and batch.size == 5 and batch.log_flow is None
    assert batch.trajectories().log_pf.shape == (5, 1)
    assert [m["log_z"] for m in metrics] == [1.25, 1.25]
    with pytest.raises(ConfigError, match="no flow head"):
        batch.state_flows()
