"""Bad options, restrictions and values fail with messages naming the value and what is accepted."""

from __future__ import annotations

import pytest
import torch
from crystalgfn.errors import ConfigError, InfeasibleError
from crystalgfn_lattice import LatticeEnv


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (dict(min_length=0.0), r"min_length must be a finite number of Å > 0, got 0.0"),
        (dict(min_length=float("nan")), r"min_length must be a finite number of Å > 0, got nan"),
        (
            dict(min_length=5.0, max_length=3.0),
            r"max_length must be a finite number of Å > min_length \(5\), got 3.0",
        ),
        (dict(min_angle=0.5), r"min_angle must be a number of degrees in \[1, 179\), got 0.5"),
        (
            dict(max_angle=179.5),
            r"max_angle must be a number of degrees in \(min_angle=50, 179\], got 179.5",
        ),
        (dict(min_angle=100.0, max_angle=90.0), r"max_angle .* got 90.0"),
        (dict(max_angle="150"), r"max_angle must be .* got '150'"),
        (
            dict(lattice_system="cubik"),
            r"unknown lattice_system 'cubik'; accepted: one of \['triclinic'",
        ),
        (dict(lattice_system=8), r"unknown lattice_system 8"),
        (dict(n_components=0), r"n_components must be an integer in \[1, 64\], got 0"),
        (dict(n_components=2.0), r"n_components must be an integer in \[1, 64\], got 2.0"),
    ],
)
def test_bad_options(kwargs, message):
    with pytest.raises(ConfigError, match=message):
        LatticeEnv(**kwargs)


def test_impossible_default_system():
    with pytest.raises(
        InfeasibleError,
        match=r"lattice_system 'cubic' has no real cell .*90 degrees\) are outside the angle "
        r"range \[60, 80\]. Possible systems: \['triclinic', 'trigonal-rhombohedral'\]",
    ):
        LatticeEnv(min_angle=60.0, max_angle=80.0, lattice_system="cubic")
    with pytest.raises(
        InfeasibleError,
        match=r"'trigonal-rhombohedral' has no real cell.*needs alpha < 119 degrees "
        r"but min_angle is 119.5",
    ):
        LatticeEnv(min_angle=119.5, max_angle=130.0, lattice_system=4)


def test_restrictions():
    env = LatticeEnv()
    narrow = env.restrict(lengths=(2.0, 5.0), angles=(80.0, 100.0))
    assert narrow.lengths == (2.0, 5.0) and narrow.angles == (80.0, 100.0)
    assert env.lengths == (0.9, 100.0)  # the original is unchanged
    assert narrow.restrict(angles=(85.0, 95.0)).angles == (85.0, 95.0)
    with pytest.raises(
        ConfigError,
        match=r"restriction lengths=\(0.5, 10\) Å must lie inside the current range \[0.9, 100\]",
    ):
        env.restrict(lengths=(0.5, 10.0))
    with pytest.raises(
        InfeasibleError,
        match=r"restriction lengths=\(200, 300\) Å leaves nothing: "
        r"the current range is \[0.9, 100\]",
    ):
        env.restrict(lengths=(200.0, 300.0))
    with pytest.raises(
        ConfigError, match=r"restriction angles must be finite with lo < hi, got \(150.0, 140.0\)"
    ):
        env.restrict(angles=(150.0, 140.0))
    with pytest.raises(
        ConfigError,
        match=r"restriction angles must be a pair \(lo, hi\) of numbers in degrees, got 90",
    ):
        env.restrict(angles=90)
    with pytest.raises(
        InfeasibleError,
        match=r"no lattice system has a real cell with lengths \[0.9, 100\] Å "
        r"and angles \[125, 150\] degrees",
    ):
        env.restrict(angles=(125.0, 150.0))
    with pytest.raises(InfeasibleError, match=r"'hexagonal' has no real cell"):
        LatticeEnv(lattice_system="hexagonal").restrict(angles=(80.0, 100.0))
    with pytest.raises(
        ConfigError,
        match=r"does not accept the restrictions \['elements'\]; accepted: \['lengths', 'angles'\]",
    ):
        env.restrict(elements=["Fe"])


@pytest.mark.parametrize(
    ("lattice", "systems", "message"),
    [
        (
            [[4, 4, 4, 90, 90, 90], [4, 4.5, 4, 90, 90, 90]],
            [7, 7],
            r"row 1: .* not a valid cubic cell: cubic needs a = b = c",
        ),
        (
            [[4, 4, 200, 90, 90, 90]],
            [3],
            r"row 0: .* tetragonal cell: lengths must lie in \[0.9, 100\] Å",
        ),
        (
            [[4, 5, 6, 60, 60, 140]],
            [0],
            r"row 0: .* triclinic cell: "
            r"triclinic needs angles in \[50, 150\] satisfying the triangle",
        ),
        (
            [[4, 5, 6, 90, 160, 90]],
            [1],
            r"row 0: .* monoclinic cell: monoclinic needs its free angle in \[50, 150\]",
        ),
        (
            [[4, 4, 4, 119.5, 119.5, 119.5]],
            [4],
            r"trigonal-rhombohedral needs its free angle in \[50, 119\]",
        ),
        ([[4, 5, float("nan"), 90, 90, 90]], [2], r"row 0: .* values must be finite"),
    ],
)
def test_bad_values(lattice, systems, message):
    env = LatticeEnv()
    with pytest.raises(ValueError, match=message):
        env.from_values_with_systems(
            {"lattice": torch.tensor(lattice, dtype=torch.float64)}, torch.tensor(systems)
        )


def test_values_fitting_no_system():
    env = LatticeEnv()
    with pytest.raises(
        ValueError,
        match=r"row 1: lattice .* fits no possible lattice system "
        r".*\(as triclinic: triclinic needs angles",
    ):
        env.from_values(
            {"lattice": torch.tensor([[4.0, 4, 4, 90, 90, 90], [4.0, 5, 6, 60, 60, 140]])}
        )
    with pytest.raises(ValueError, match=r"'lattice' must be a float tensor \(B, 6\)"):
        env.from_values({"lattice": torch.zeros(3, 5)})
    with pytest.raises(ValueError, match="need the key 'lattice'"):
        env.from_values({"cell": torch.zeros(3, 6)})


def test_bad_steps():
    env = LatticeEnv()
    actions = torch.zeros(2, dtype=torch.long)
    with pytest.raises(ValueError, match=r"free unit parameters must lie in \[0, 1\]"):
        env.step(env.source(2), actions, torch.full((2, 6), 1.5))
    with pytest.raises(ValueError, match=r"expected params of shape \(2, 6\), got None"):
        env.step(env.source(2), actions)
    done = env.step(env.source(2), actions, torch.full((2, 6), 0.5))
    with pytest.raises(ValueError, match="already sampled"):
        env.step(done, actions, torch.full((2, 6), 0.5))
