"""The continuous head's log-density: normalised in physical units and matching the samples.

``param_log_prob`` is the density against the uniform probability measure on each system's
region; dividing by the region's volume (``log_region_volume``) gives the density per Å and
per degree that these tests integrate."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from crystalgfn_lattice import ANGLE_MARGIN, LatticeEnv
from lattice_helpers import ks_critical, ks_statistic, random_raw, sample, system_source, unit_grid

CUBIC, MONOCLINIC, RHOMBOHEDRAL, TRICLINIC = 7, 1, 4, 0


def log_density(env, system, u, raw):
    """``param_log_prob`` for unit parameters ``u`` (n, 6) of ``system``."""
    n = u.shape[0]
    return env.param_log_prob(
        system_source(env, system, n), torch.zeros(n, dtype=torch.long), u, raw[:1].expand(n, -1)
    ) - env.log_region_volume(system)


def trapezoid(y, x, dim=-1):
    return torch.trapezoid(y, x, dim=dim)


def cumulative(y, x):
    """Cumulative trapezoid along the last dimension, starting at 0."""
    pieces = 0.5 * (y[..., 1:] + y[..., :-1]) * (x[..., 1:] - x[..., :-1])
    return torch.cat([torch.zeros_like(y[..., :1]), pieces.cumsum(-1)], dim=-1)


# -- (0) zero raw outputs give the uniform density of the free parameters ----------------------
@pytest.mark.parametrize("system", range(8))
def test_zero_raw_is_uniform(system):
    env = LatticeEnv()
    n = 1000
    raw = torch.zeros(n, env.n_param_outputs)
    source, u, done = sample(env, system, raw)
    log_prob = env.param_log_prob(source, torch.zeros(n, dtype=torch.long), u, raw).double()
    log_prob = log_prob - env.log_region_volume(system)
    free_lengths = {0: 3, 1: 3, 2: 3, 3: 2, 4: 1, 5: 2, 6: 2, 7: 1}[system]
    expected = torch.full((n,), -free_lengths * math.log(99.1), dtype=torch.float64)
    if system == MONOCLINIC:
        expected -= math.log(100.0)
    if system == RHOMBOHEDRAL:
        expected -= math.log(120.0 - ANGLE_MARGIN - 50.0)
    if system == TRICLINIC:
        alpha, beta = done["params"][:, 3], done["params"][:, 4]
        g_lo = torch.clamp((alpha - beta).abs() + ANGLE_MARGIN, min=50.0)
        g_hi = torch.minimum(
            torch.minimum(alpha + beta, 360.0 - alpha - beta) - ANGLE_MARGIN, torch.tensor(150.0)
        )
        expected -= 2 * math.log(100.0) + torch.log(g_hi - g_lo)
    assert torch.allclose(log_prob, expected, atol=1e-5)


# -- (1) the density integrates to one ----------------------------------------------------------
@pytest.mark.parametrize("seed", [None, 1, 2])
def test_cubic_density_integrates_to_one(seed):
    env = LatticeEnv(lattice_system="cubic")
    raw = torch.zeros(1, env.n_param_outputs) if seed is None else random_raw(env, 1, seed)
    t, u1, du_dt = unit_grid(20001)
    u = torch.full((t.shape[0], 6), 0.5, dtype=torch.float64)
    u[:, 0] = u1
    density = log_density(env, CUBIC, u.float(), raw).double().exp()  # per Å
    a = 0.9 + 99.1 * u1
    total = trapezoid(density * 99.1 * du_dt, t)  # ∫ p(a) da with da = 99.1 du
    assert abs(float(total) - 1.0) < 2e-3
    assert abs(float(trapezoid(density, a)) - 1.0) < 2e-3


@pytest.mark.parametrize("seed", [None, 3])
def test_rhombohedral_density_integrates_to_one(seed):
    """Two free parameters, a (Å) and α (degrees): ∫∫ p(a, α) da dα = 1."""
    env = LatticeEnv(
        min_length=2.0,
        max_length=12.0,
        min_angle=60.0,
        max_angle=130.0,
        lattice_system=RHOMBOHEDRAL,
    )
    raw = torch.zeros(1, env.n_param_outputs) if seed is None else random_raw(env, 1, seed)
    t, u1, du_dt = unit_grid(401)
    ua, ualpha = torch.meshgrid(u1, u1, indexing="ij")
    u = torch.full((ua.numel(), 6), 0.5, dtype=torch.float64)
    u[:, 0], u[:, 3] = ua.reshape(-1), ualpha.reshape(-1)
    density = log_density(env, RHOMBOHEDRAL, u.float(), raw).double().exp().reshape(ua.shape)
    a = 2.0 + 10.0 * u1
    alpha = 60.0 + (120.0 - ANGLE_MARGIN - 60.0) * u1  # α < 120 - δ: the cell stays real
    inner = trapezoid(density, alpha[None, :], dim=1)
    assert abs(float(trapezoid(inner, a)) - 1.0) < 5e-3


@pytest.mark.parametrize("angles", [(50.0, 150.0), (100.0, 150.0)])
def test_triclinic_density_integrates_to_one(angles):
    """∫∫∫ p(α, β, γ) over the real cells (box ∩ triangle inequalities written here).

    γ's head is left uniform, so ∫ p dγ over γ's true interval is p(γ_mid) × its width; α and
    β have random heads and are integrated on a 2-D midpoint grid (lengths are uniform)."""
    lo, hi = angles
    env = LatticeEnv(min_angle=lo, max_angle=hi)
    raw = random_raw(env, 1, 4).view(1, 6, 4, 3).clone()
    raw[:, [0, 1, 2, 5]] = 0.0
    raw = raw.reshape(1, -1)
    m = 400
    grid = lo + (hi - lo) * (torch.arange(m, dtype=torch.float64) + 0.5) / m
    alpha, beta = (x.reshape(-1) for x in torch.meshgrid(grid, grid, indexing="ij"))
    g_lo = torch.clamp((alpha - beta).abs() + ANGLE_MARGIN, min=lo)
    g_hi = torch.minimum(
        torch.minimum(alpha + beta, 360.0 - alpha - beta) - ANGLE_MARGIN, torch.tensor(hi)
    )
    real = g_hi > g_lo
    lattice = torch.stack(
        [
            torch.full_like(alpha, 5.0),
            torch.full_like(alpha, 5.0),
            torch.full_like(alpha, 5.0),
            alpha,
            beta,
            (g_lo + g_hi) / 2,
        ],
        dim=1,
    )[real]
    u, _ = env.cellmap.to_unit(TRICLINIC, lattice)
    density = log_density(env, TRICLINIC, u, raw).double().exp() * 99.1**3  # lengths integrated out
    total = float((density * (g_hi - g_lo)[real]).sum()) * ((hi - lo) / m) ** 2
    assert abs(total - 1.0) < 1e-2


# -- (2) samples follow the stated density ------------------------------------------------------
@pytest.mark.parametrize(
    ("system", "slot", "interval", "seed"),
    [
        (CUBIC, 0, (0.9, 100.0), 5),
        (MONOCLINIC, 4, (50.0, 150.0), 6),
        (RHOMBOHEDRAL, 3, (50.0, 120.0 - ANGLE_MARGIN), 7),
        (TRICLINIC, 3, (50.0, 150.0), 8),
    ],
)
def test_samples_match_log_density(system, slot, interval, seed):
    """KS test of one parameter's samples against the CDF obtained by numerically integrating
    exp(param_log_prob) along it (the other free slots held fixed: the head is a product over
    slots, and its normalisation is tested above)."""
    env = LatticeEnv(lattice_system=system)
    n = 20_000
    raw = random_raw(env, n, seed, min_log_concentration=-0.7)
    _, _, done = sample(env, system, raw, seed=seed)
    x = done["params"][:, slot]

    lo, hi = interval
    t, u1, du_dt = unit_grid(4001)
    u = torch.full((t.shape[0], 6), 0.5, dtype=torch.float64)
    u[:, slot] = u1
    log_p = log_density(env, system, u.float(), raw).double()
    if system == TRICLINIC:
        # The joint at fixed β and γ slots carries 1 / (w_β(α) w_γ(α, β)): undo it to get α's
        # marginal density (the slots' own head factors are constants).
        lattice, _ = env.cellmap.to_lattice(TRICLINIC, u.float().double())
        b_lo, b_hi = env.cellmap.triclinic.beta_bounds(lattice[:, 3])
        g_lo, g_hi = env.cellmap.triclinic.gamma_bounds(lattice[:, 3], lattice[:, 4])
        log_p = log_p + torch.log(b_hi - b_lo) + torch.log(g_hi - g_lo)
    density = log_p.exp()
    cdf_t = cumulative(density * (hi - lo) * du_dt, t)
    cdf_t = cdf_t / cdf_t[-1]

    def cdf(values):
        unit = ((values - lo) / (hi - lo)).clamp(1e-300, 1 - 1e-16)
        return torch.from_numpy(np.interp(torch.logit(unit).numpy(), t.numpy(), cdf_t.numpy()))

    assert ks_statistic(x, cdf) < ks_critical(n)
    uniform = ks_statistic(x, lambda v: (v - lo) / (hi - lo))
    assert uniform > 2 * ks_critical(n), "the KS test must be able to tell the head from uniform"


@pytest.mark.parametrize("angles", [(50.0, 150.0), (100.0, 150.0)])
def test_triclinic_conditionals_match_log_density(angles):
    """Probability-integral transform of γ given (α, β), and of β given α: each sample's
    conditional CDF, from numerically integrating exp(param_log_prob) over the conditional
    interval (γ's written independently here), must be uniform (KS)."""
    lo, hi = angles
    env = LatticeEnv(min_angle=lo, max_angle=hi)
    n = 1000
    raw = random_raw(env, n, 9, min_log_concentration=-0.7)
    _, _, done = sample(env, TRICLINIC, raw, seed=9)
    lattice = done["params"]
    alpha, beta, gamma = lattice[:, 3], lattice[:, 4], lattice[:, 5]
    _, s, _ = unit_grid(201)

    region = env.cellmap.triclinic

    def pit(column, low, high):
        """Conditional CDF of ``lattice[:, column]`` on its interval ``[low, high]`` (n,)."""
        nodes = low[:, None] + (high - low)[:, None] * s[None, :]  # (n, G) degrees
        grid = lattice[:, None, :].expand(-1, s.shape[0], -1).clone()
        grid[:, :, column] = nodes
        correction = 0.0
        if column == 4:
            # Moving β moves γ's interval: keep γ at the same relative position in it (so its
            # head's factor is constant) and add back log w_γ(α, β), leaving p(β | α).
            g_lo, g_hi = region.gamma_bounds(alpha, beta)
            position = (gamma - g_lo) / (g_hi - g_lo)
            g_lo, g_hi = region.gamma_bounds(alpha[:, None].expand_as(nodes), nodes)
            grid[:, :, 5] = g_lo + (g_hi - g_lo) * position[:, None]
            correction = torch.log(g_hi - g_lo)
        u, _ = env.cellmap.to_unit(TRICLINIC, grid.reshape(-1, 6))
        logp = log_density(env, TRICLINIC, u, raw).double().reshape(n, -1) + correction
        cdf = cumulative((logp - logp.max(dim=1, keepdim=True).values).exp(), nodes)
        cdf = cdf / cdf[:, -1:]
        x = lattice[:, column]
        idx = torch.searchsorted(nodes, x[:, None].contiguous()).clamp(1, s.shape[0] - 1).squeeze(1)
        rows = torch.arange(n)
        x0, x1 = nodes[rows, idx - 1], nodes[rows, idx]
        f0, f1 = cdf[rows, idx - 1], cdf[rows, idx]
        return f0 + (f1 - f0) * ((x - x0) / (x1 - x0)).clamp(0, 1)

    g_lo = torch.clamp((alpha - beta).abs() + ANGLE_MARGIN, min=lo)
    g_hi = torch.minimum(
        torch.minimum(alpha + beta, 360.0 - alpha - beta) - ANGLE_MARGIN, torch.tensor(hi)
    )
    assert bool((gamma >= g_lo).all() and (gamma <= g_hi).all())
    pit_gamma = pit(5, g_lo, g_hi)
    assert ks_statistic(pit_gamma, lambda v: v) < ks_critical(n)
    b_lo, b_hi = region.beta_bounds(alpha)
    pit_beta = pit(4, b_lo, b_hi)
    assert ks_statistic(pit_beta, lambda v: v) < ks_critical(n)
