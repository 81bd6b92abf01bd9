"""The Beta-mixture head: uniform at zero, generator-driven Gamma sampling with correct moments."""

from __future__ import annotations

import math

import pytest
import torch
from crystalgfn_lattice import beta


def test_zero_raw_is_uniform():
    raw = torch.zeros(7, 6 * 3 * 3)
    u = torch.tensor([beta.EPS, 1e-3, 0.2, 0.5, 0.7, 0.999, 1 - beta.EPS], dtype=torch.float64)[
        :, None
    ].expand(7, 6)
    assert torch.equal(beta.log_prob(u, raw, 3), torch.zeros(7, 6, dtype=torch.float64))
    samples = beta.sample(torch.zeros(20_000, 6), 1, 2, torch.Generator().manual_seed(0))
    assert abs(float(samples.mean()) - 0.5) < 0.01 and abs(float(samples.var()) - 1 / 12) < 0.003


def test_clamp_points_are_float32_exact():
    assert float(torch.tensor(beta.EPS, dtype=torch.float32)) == beta.EPS
    assert float(torch.tensor(1 - beta.EPS, dtype=torch.float32)) == 1 - beta.EPS


@pytest.mark.parametrize("shape", [0.01, 0.3, 1.0, 4.0, 300.0])
def test_log_gamma_moments(shape):
    """E[log X] = ψ(a) and Var[log X] = ψ'(a) for X ~ Gamma(a)."""
    n = 40_000
    a = torch.full((n,), shape, dtype=torch.float64)
    log_x = beta.log_standard_gamma(a, torch.Generator().manual_seed(1))
    assert bool(torch.isfinite(log_x).all())
    mean, var = torch.digamma(a[0]), torch.polygamma(1, a[0])
    assert abs(float(log_x.mean() - mean)) < 5 * math.sqrt(float(var) / n)
    assert abs(float(log_x.var() / var) - 1) < 0.05


def test_beta_sample_moments():
    """Concentrations (2, 5): mean 2/7, variance 10/392."""
    raw = torch.zeros(50_000, 1, 1, 3)
    raw[..., 1], raw[..., 2] = (
        math.log(2.0),
        math.log(5.0),
    )  # inside the soft bound: tanh ≈ identity
    u = beta.sample(raw.reshape(50_000, -1), 1, 1, torch.Generator().manual_seed(2))
    a, b = (math.exp(8 * math.tanh(math.log(v) / 8)) for v in (2.0, 5.0))
    assert abs(float(u.mean()) - a / (a + b)) < 0.003
    assert abs(float(u.var()) - a * b / ((a + b) ** 2 * (a + b + 1))) < 0.0015


def test_log_prob_matches_torch_beta():
    raw = torch.randn(100, 6 * 1 * 3, generator=torch.Generator().manual_seed(3))
    u = torch.rand(100, 6, generator=torch.Generator().manual_seed(4), dtype=torch.float64).clamp(
        0.01, 0.99
    )
    _, a, b = beta.split_raw(raw, 6, 1)
    expected = torch.distributions.Beta(a[..., 0], b[..., 0]).log_prob(u)
    assert torch.allclose(beta.log_prob(u, raw, 1), expected, atol=1e-10)
