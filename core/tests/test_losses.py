import crystalgfn
import pytest
import torch
from crystalgfn.loss import Loss
from crystalgfn.testing import check_loss
from crystalgfn.trajectories import Trajectories

BUILTIN_LOSSES = {"tb", "db", "subtb", "fm", "vargrad"}
REGISTERED_LOSSES = crystalgfn.get_plugins().losses.names()


def test_the_builtin_losses_are_registered():
    assert BUILTIN_LOSSES <= set(REGISTERED_LOSSES)


@pytest.mark.parametrize("name", REGISTERED_LOSSES)
@pytest.mark.parametrize("seed", [0, 1])
def test_every_registered_loss_passes_check_loss(name, seed):
    value = check_loss(crystalgfn.make_loss(name), seed=seed)
    assert value.shape == () and float(value) > 0  # random trajectories are not balanced


class _Broken(Loss):
    name = "broken"

    def __init__(self, forward):
        super().__init__()
        self._forward = forward

    def forward(self, trajectories):
        return self._forward(trajectories)


def _fm_residual(t):
    return (t.log_inflow - t.log_outflow).pow(2)


def _tb_residual(t):
    return (t.log_pf.sum(1) - t.log_reward - t.log_pb.sum(1)).pow(2)


BROKEN_LOSSES = {
    # flow matching without its step mask: reads the padding
    "fm reads padding": ("edge", lambda t: _fm_residual(t).mean(), "depends on padding"),
    # the last flow entry is log R only for full-length trajectories
    "db reads padding": (
        "state",
        lambda t: (t.log_flows[:, -1] + t.log_pf.sum(1) - t.log_reward).pow(2).mean(),
        "depends on padding",
    ),
    "ignores edge flows": ("edge", lambda t: _tb_residual(t).mean(), "differentiable in the in"),
    "ignores state flows": ("state", lambda t: _tb_residual(t).mean(), "in the state flows"),
    "detached": (None, lambda t: _tb_residual(t).mean().detach(), "must be differentiable"),
    "negative": (None, lambda t: -_tb_residual(t).mean(), "non-negative scalar"),
    "not a scalar": (None, lambda t: _tb_residual(t), "non-negative scalar"),
}


@pytest.mark.parametrize("case", sorted(BROKEN_LOSSES))
def test_check_loss_rejects_broken_losses(case):
    flows, forward, message = BROKEN_LOSSES[case]
    loss = _Broken(forward)
    loss.needs_flows = flows == "state"
    loss.needs_edge_flows = flows == "edge"
    with pytest.raises(AssertionError, match=message):
        check_loss(loss)


def test_tb_is_zero_exactly_when_balanced():
    loss = crystalgfn.make_loss("tb", init_log_z=1.5)
    log_pf = torch.tensor([[-0.5, -1.0], [-2.0, 0.0]])
    log_pb = torch.tensor([[-0.1, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    balanced = 1.5 + log_pf.sum(1) - log_pb.sum(1)
    assert float(loss(Trajectories(log_pf, log_pb, balanced, mask)).detach()) == 0.0
    assert float(loss(Trajectories(log_pf, log_pb, balanced + 1.0, mask)).detach()) == 1.0
