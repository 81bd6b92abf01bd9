"""Test setup of the lattice plugin: helpers importable as ``lattice_helpers``, one thread."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
import torch

sys.path.insert(0, str(Path(__file__).parent))


@pytest.fixture(autouse=True)
def one_thread():
    """Batched float64 work on a few hundred thousand rows is fastest single-threaded on
    shared machines; restore the setting afterwards."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)
