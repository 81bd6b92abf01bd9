import math

import pytest
import torch
from crystalgfn.geometry import cell_volume


def test_cubic_and_hexagonal_volumes():
    lattice = torch.tensor([[2.0, 2.0, 2.0, 90, 90, 90], [3.0, 3.0, 5.0, 90, 90, 120]])
    volumes = cell_volume(lattice)
    assert volumes[0].item() == pytest.approx(8.0)
    assert volumes[1].item() == pytest.approx(9 * 5 * math.sqrt(3) / 2)


def test_impossible_angles_are_rejected():
    with pytest.raises(ValueError, match="no real cell volume"):
        cell_volume(torch.tensor([[1.0, 1.0, 1.0, 150, 150, 150]]))
