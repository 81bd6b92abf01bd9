import torch

import crystalgfn
from crystalgfn.testing import check_loss
from crystalgfn.trajectories import Trajectories


def test_tb_contract():
    check_loss(crystalgfn.make_loss("tb"))


def test_tb_is_zero_exactly_when_balanced():
    loss = crystalgfn.make_loss("tb", init_log_z=1.5)
    log_pf = torch.tensor([[-0.5, -1.0], [-2.0, 0.0]])
    log_pb = torch.tensor([[-0.1, 0.0], [0.0, 0.0]])
    mask = torch.tensor([[True, True], [True, False]])
    balanced = 1.5 + log_pf.sum(1) - log_pb.sum(1)
    assert float(loss(Trajectories(log_pf, log_pb, balanced, mask)).detach()) == 0.0
    assert float(loss(Trajectories(log_pf, log_pb, balanced + 1.0, mask)).detach()) == 1.0
