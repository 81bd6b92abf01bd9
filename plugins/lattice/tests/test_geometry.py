"""Every sampled cell fits its system, lies in the ranges and is real; feasibility tables."""

from __future__ import annotations

import pytest
import torch
from crystalgfn.errors import InfeasibleError
from crystalgfn.geometry import volume_factor
from crystalgfn.testing import rollout_uniform
from crystalgfn_lattice import ANGLE_MARGIN, LATTICE_SYSTEMS, LatticeEnv
from crystalgfn_lattice.cellmap import TriclinicRegion
from lattice_helpers import sample

DELTA = ANGLE_MARGIN


def gamma_interval(alpha, beta, lo, hi):
    """The conditional γ interval, written independently of the package."""
    low = torch.clamp((alpha - beta).abs() + DELTA, min=lo)
    high = torch.minimum(
        torch.minimum(alpha + beta - DELTA, 360.0 - alpha - beta - DELTA), torch.tensor(hi)
    )
    return low, high


def assert_valid_triclinic(params, lengths, angles):
    (l_lo, l_hi), (a_lo, a_hi) = lengths, angles
    assert params.dtype == torch.float64 and bool(torch.isfinite(params).all())
    assert bool(((params[:, :3] >= l_lo) & (params[:, :3] <= l_hi)).all())
    assert bool(((params[:, 3:] >= a_lo) & (params[:, 3:] <= a_hi)).all())
    alpha, beta, gamma = params[:, 3:].unbind(1)
    for x, y, z in ((alpha, beta, gamma), (beta, gamma, alpha), (gamma, alpha, beta)):
        assert bool((x <= y + z - DELTA + 1e-9).all()), "triangle inequality"
    assert bool((alpha + beta + gamma <= 360.0 - DELTA + 1e-9).all())
    assert bool((volume_factor(params) > 0).all())


TRICLINIC_RANGES = [
    dict(),  # 0.9-100 Å, 50-150°
    dict(min_length=4.0, max_length=4.2, min_angle=100.0, max_angle=150.0),  # box partly infeasible
    dict(min_angle=119.6, max_angle=150.0),  # a thin tetrahedron of angles
    dict(min_angle=1.0, max_angle=179.0),  # the widest angles accepted
]


@pytest.mark.parametrize("ranges", TRICLINIC_RANGES)
def test_100k_uniform_triclinic_cells_are_valid(ranges):
    env = LatticeEnv(**ranges)
    done = rollout_uniform(env, 100_000, seed=1)
    assert bool(done["done"].all()) and bool((done["system"] == 0).all())
    assert_valid_triclinic(done["params"], env.lengths, env.angles)


def test_peaked_heads_stay_valid():
    """Heads concentrated at the clamp points (u = EPS or 1 - EPS) still give real cells."""
    env = LatticeEnv(min_angle=100.0, max_angle=150.0)
    raw = torch.zeros(20_000, env.n_param_outputs).view(20_000, 6, 4, 3)
    raw[..., 1] = torch.where(
        torch.rand(20_000, 6, 1) < 0.5, -30.0, 30.0
    )  # Beta(e^-8, e^8) or mirror
    raw[..., 2] = -raw[..., 1]
    _, _, done = sample(env, 0, raw.reshape(20_000, -1))
    assert_valid_triclinic(done["params"], env.lengths, env.angles)


@pytest.mark.parametrize("system", range(1, 8))
def test_other_systems_fit_pattern_and_volume(system):
    env = LatticeEnv(lattice_system=system)
    done = rollout_uniform(env, 20_000, seed=system)
    params = done["params"]
    assert bool((volume_factor(params) > 0).all())
    assert bool(((params[:, :3] >= 0.9) & (params[:, :3] <= 100.0)).all())
    name = LATTICE_SYSTEMS[system]
    a, b, c, alpha, beta, gamma = params.unbind(1)
    if name in ("tetragonal", "trigonal-hexagonal", "hexagonal"):
        assert torch.equal(a, b)
    if name in ("cubic", "trigonal-rhombohedral"):
        assert torch.equal(a, b) and torch.equal(a, c)
    if name == "trigonal-rhombohedral":
        assert torch.equal(alpha, beta) and torch.equal(alpha, gamma)
        assert bool((alpha >= 50.0).all() and (alpha <= 120.0 - DELTA).all())
    if name == "monoclinic":
        assert bool((alpha == 90).all() and (gamma == 90).all())
        assert bool((beta >= 50).all() and (beta <= 150).all())
    if name in ("orthorhombic", "tetragonal", "cubic"):
        assert bool((params[:, 3:] == 90).all())
    if name in ("hexagonal", "trigonal-hexagonal"):
        assert bool((alpha == 90).all() and (beta == 90).all() and (gamma == 120).all())


@pytest.mark.parametrize(
    "angles",
    [(50.0, 150.0), (100.0, 150.0), (110.0, 150.0), (119.6, 150.0), (20.0, 40.0), (1.0, 179.0)],
)
def test_triclinic_projection_matches_brute_force(angles):
    """The α interval and the conditional β intervals are exactly the (α, β) pairs that leave
    a non-empty γ interval, checked on a grid."""
    lo, hi = angles
    region = TriclinicRegion(lo, hi, DELTA)
    grid = torch.linspace(lo, hi, 1201, dtype=torch.float64)
    step = float(grid[1] - grid[0])
    alpha, beta = torch.meshgrid(grid, grid, indexing="ij")
    g_lo, g_hi = gamma_interval(alpha, beta, lo, hi)
    ok = g_hi >= g_lo
    alphas = grid[ok.any(dim=1)]
    assert (
        abs(float(alphas.min()) - region.alpha[0]) <= step
        and abs(float(alphas.max()) - region.alpha[1]) <= step
    )
    b_lo, b_hi = region.beta_bounds(grid)
    rows = ok.any(dim=1)
    betas_lo = torch.where(ok, beta, torch.inf).amin(dim=1)[rows]
    betas_hi = torch.where(ok, beta, -torch.inf).amax(dim=1)[rows]
    assert float((betas_lo - b_lo[rows]).abs().max()) <= step + 1e-9
    assert float((betas_hi - b_hi[rows]).abs().max()) <= step + 1e-9
    inside = (grid >= region.alpha[0]) & (grid <= region.alpha[1])
    assert bool((b_hi[inside] >= b_lo[inside]).all())  # never an empty β interval


def test_default_triclinic_region_is_the_box():
    region = TriclinicRegion(50.0, 150.0, DELTA)
    assert region.alpha == (50.0, 150.0)
    alpha = torch.linspace(50, 150, 101, dtype=torch.float64)
    b_lo, b_hi = region.beta_bounds(alpha)
    assert bool((b_lo == 50).all() and (b_hi == 150).all())


@pytest.mark.parametrize(
    ("angles", "expected"),
    [
        ((50.0, 150.0), (0, 1, 2, 3, 4, 5, 6, 7)),
        ((60.0, 80.0), (0, 4)),
        ((85.0, 95.0), (0, 1, 2, 3, 4, 7)),
        ((95.0, 125.0), (0, 4)),
        ((119.5, 130.0), (0,)),
        ((90.0, 120.0), (0, 1, 2, 3, 4, 5, 6, 7)),
    ],
)
def test_feasible_systems(angles, expected):
    env = LatticeEnv(min_angle=angles[0], max_angle=angles[1])
    assert env.feasible_systems() == expected
    for system in range(8):
        assert (env.explain_infeasible(system) == "") == (system in expected)


def test_no_feasible_system_is_reported():
    with pytest.raises(InfeasibleError, match="no lattice system has a real cell") as info:
        LatticeEnv(min_angle=125.0, max_angle=150.0)
    assert "triangle inequalities" in str(info.value) and "120" in str(info.value)
