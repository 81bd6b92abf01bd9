"""The worked example in docs/examples is installed with pip and found through entry points,
exactly as a user's plugin would be."""

from __future__ import annotations

import crystalgfn
import pytest
import torch
from crystalgfn.plugins import get_plugins
from crystalgfn.testing import check_proxy


def test_example_is_discovered_and_works(installed_example):
    entry = get_plugins().proxies.get("volume_per_atom")
    assert entry.distribution == "crystalgfn-volume-per-atom"
    proxy = crystalgfn.make_proxy("volume_per_atom")
    composition = torch.zeros(2, 119)
    composition[0, 11] = composition[0, 17] = 4  # Na4Cl4 in the conventional rock-salt cell
    composition[1, 14] = 8  # Si8 (diamond)
    lattice = torch.tensor([[5.69, 5.69, 5.69, 90, 90, 90], [5.47, 5.47, 5.47, 90, 90, 90]])
    values = check_proxy(proxy, {"composition": composition, "lattice": lattice})
    assert values.tolist() == pytest.approx([5.69**3 / 8, 5.47**3 / 8], rel=1e-6)


def test_example_is_listed_by_the_cli(installed_example, capsys):
    from crystalgfn.cli import main

    assert main(["plugins"]) == 0
    out = capsys.readouterr().out
    assert "crystalgfn-volume-per-atom" in out and "proxy:volume_per_atom" in out
