"""The shipped proxies: listed from their own distributions, trainable offline."""

import crystalgfn
import pytest
import torch
from crystalgfn.config import RunConfig
from crystalgfn.plugins import get_plugins
from crystalgfn.run import build_trainer
from crystalgfn.testing import rollout_uniform

SHIPPED = {"density": "crystalgfn-density", "formation_energy": "crystalgfn-formation-energy",
           "band_gap": "crystalgfn-band-gap"}
REWARDS = {"density": {"kind": "power", "exponent": 1.0},
           "formation_energy": {"kind": "exponential", "beta": -8.0},
           "band_gap": {"kind": "rbf", "target": 1.34, "sigma": 0.2}}


def test_each_proxy_comes_from_its_own_distribution():
    for name, distribution in SHIPPED.items():
        assert get_plugins().proxies.get(name).distribution == distribution


@pytest.mark.parametrize("proxy", sorted(SHIPPED))
def test_training_works_from_the_shipped_weights(proxy, monkeypatch):
    # No network: any attempt to open a socket fails the test.
    import socket

    def no_network(*args, **kwargs):
        raise AssertionError("a proxy tried to use the network")

    monkeypatch.setattr(socket.socket, "connect", no_network)
    config = RunConfig.from_dict({
        "env": "crystal", "proxy": proxy, "reward": REWARDS[proxy], "steps": 2, "batch_size": 8,
        "hidden": 32, "layers": 1, "env_kwargs": {"composition": {"elements": ["Li", "Fe", "O"]}},
    })
    trainer = build_trainer(config, None)
    trainer.train()
    assert trainer.step == 2
    log_r, predictions = trainer.reward(trainer.env.values(rollout_uniform(trainer.env, 16)))
    assert torch.isfinite(log_r).all() and torch.isfinite(predictions[proxy]).all()


def test_a_proxy_fed_unknown_elements_says_so():
    proxy = crystalgfn.make_proxy("formation_energy")
    composition = torch.zeros(1, 119)
    composition[0, 87] = 4  # francium is outside the training data
    batch = {"spacegroup": torch.tensor([225]), "composition": composition,
             "lattice": torch.tensor([[5.0, 5.0, 5.0, 90.0, 90.0, 90.0]])}
    with pytest.raises(ValueError, match=r"trained without the element\(s\) Fr"):
        proxy(batch)
