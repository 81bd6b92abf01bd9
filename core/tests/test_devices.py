"""Device handling: a clear error when CUDA is missing, and generators made on the device of
the tensors they draw for (PyTorch rejects a CPU generator for CUDA tensors)."""

from __future__ import annotations

import pytest
import torch
from crystalgfn.devices import make_generator, resolve_device
from crystalgfn.errors import ConfigError
from crystalgfn.trainer import ReplayBuffer, TrainSettings


@pytest.fixture
def no_cuda(monkeypatch):
    """This machine as one without CUDA, whatever it has."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


def test_cuda_without_cuda_is_a_config_error(no_cuda):
    with pytest.raises(ConfigError, match=r"device 'cuda' is not available: .*use --device cpu"):
        resolve_device("cuda")
    with pytest.raises(ConfigError, match=r"device 'cuda' is not available"):
        make_generator(0, "cuda")


@pytest.mark.parametrize("name", ["tpu", "cuda:x", 3])
def test_unknown_devices_are_named(name):
    with pytest.raises(ConfigError, match=r"device must be one of \['cpu', 'cuda'\], got"):
        resolve_device(name)


def test_the_generator_lives_on_the_device_of_the_tensors():
    for device in ("cpu", torch.device("cpu")):
        generator = make_generator(5, device)
        assert generator.device == torch.device("cpu")
        assert generator.initial_seed() == 5
        # The pairing PyTorch requires: a draw on the device with the generator made for it.
        drawn = torch.rand(3, generator=generator, device=resolve_device(device))
        assert torch.equal(drawn, torch.rand(3, generator=torch.Generator().manual_seed(5)))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_a_cuda_generator_draws_cuda_tensors():
    generator = make_generator(5, "cuda")
    assert generator.device.type == "cuda"
    assert torch.rand(3, generator=generator, device="cuda").device.type == "cuda"


def test_the_replay_buffer_draws_on_its_generators_device():
    buffer = ReplayBuffer(4, states={"x": torch.arange(4)}, log_rewards=torch.zeros(4))
    generator = make_generator(0, "cpu")
    picked = buffer.sample(6, generator)
    expected = torch.randint(0, 4, (6,), generator=torch.Generator().manual_seed(0))
    assert torch.equal(picked["x"], expected)


def test_settings_reject_an_unknown_device():
    with pytest.raises(ConfigError, match=r"device must be one of \['cpu', 'cuda'\], got 'gpu'"):
        TrainSettings(device="gpu")
