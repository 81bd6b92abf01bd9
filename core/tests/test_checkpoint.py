"""Checkpoints are read with ``weights_only=True``: one that carries pickled Python objects is
refused before any of its code runs."""

from __future__ import annotations

import pytest
import torch
from crystalgfn.checkpoint import FORMAT, load_checkpoint, save_checkpoint
from crystalgfn.errors import CheckpointError


class Payload:
    """Unpickling this writes ``marker``: what a malicious checkpoint would do (and worse)."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (exec, (f"open({self.marker!r}, 'w').write('ran')",))


def test_a_checkpoint_with_a_pickled_payload_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "payload-ran"
    path = tmp_path / "checkpoint.pt"
    payload = {"format": FORMAT, "step": 3, "policy": {"w": torch.zeros(2)}, "x": Payload(marker)}
    torch.save(payload, path)
    refused = r"refused to load .*checkpoint\.pt.*object '\S*exec'"
    with pytest.raises(CheckpointError, match=refused):
        load_checkpoint(path)
    assert not marker.exists(), "loading the checkpoint ran the code pickled into it"
    # The payload is real: an unsafe load runs it (which is what load_checkpoint must not do).
    torch.load(path, weights_only=False)
    assert marker.read_text() == "ran"


def test_plain_data_and_tensors_round_trip(tmp_path):
    generator = torch.Generator().manual_seed(1)
    payload = {
        "step": 7, "policy": {"w": torch.arange(3.0)}, "generators": [generator.get_state()],
        "replays": [{"states": None, "log_rewards": None}],
        "settings": {"lr": 1e-3, "device": "cpu", "learn_backward": False, "betas": (0.9, 0.99)},
    }
    loaded = load_checkpoint(save_checkpoint(tmp_path / "checkpoint.pt", payload))
    assert loaded["step"] == 7 and loaded["settings"] == payload["settings"]
    assert torch.equal(loaded["policy"]["w"], payload["policy"]["w"])
    assert torch.equal(loaded["generators"][0], generator.get_state())


def test_a_file_that_is_not_a_checkpoint_is_called_corrupt(tmp_path):
    path = tmp_path / "checkpoint.pt"
    path.write_bytes(b"not a checkpoint")
    with pytest.raises(CheckpointError, match="is corrupt or unreadable"):
        load_checkpoint(path)
