"""Helpers shared by the lattice-plugin tests (imported through conftest's sys.path entry)."""

from __future__ import annotations

import math

import torch
from crystalgfn_lattice import LatticeEnv
from crystalgfn_lattice.beta import EPS


def system_source(env: LatticeEnv, system: int, n: int):
    """``n`` source states of ``env`` conditioned on ``system``."""
    return env.with_systems(env.source(n), torch.full((n,), system, dtype=torch.long))


def sample(env: LatticeEnv, system: int, raw: torch.Tensor, seed: int = 0):
    """``(source states, unit params, done states)`` for one row of ``raw`` per sample."""
    n = raw.shape[0]
    source = system_source(env, system, n)
    actions = torch.zeros(n, dtype=torch.long)
    u = env.sample_params(source, actions, raw, torch.Generator().manual_seed(seed))
    return source, u, env.step(source, actions, u)


def random_raw(env: LatticeEnv, n: int, seed: int, min_log_concentration: float = 0.0):
    """Random head outputs whose concentrations are at least ``e^min_log_concentration``
    (so numeric integration needs no care at singular edges); one shared row repeated."""
    g = torch.Generator().manual_seed(seed)
    row = torch.empty(6, env.n_components, 3)
    row[..., 0] = torch.randn(6, env.n_components, generator=g)
    row[..., 1:] = min_log_concentration + 3.0 * torch.rand(6, env.n_components, 2, generator=g)
    return row.reshape(1, -1).expand(n, -1).contiguous()


def unit_grid(points: int):
    """Nodes ``u`` in ``[EPS, 1 - EPS]`` equally spaced in logit, and ``du/dt`` at them, for
    integrating densities that may peak at the ends of the interval."""
    lo = math.log(EPS / (1 - EPS))
    t = torch.linspace(lo, -lo, points, dtype=torch.float64)
    u = torch.sigmoid(t)
    return t, u, u * (1 - u)


def ks_statistic(samples: torch.Tensor, cdf) -> float:
    """Kolmogorov–Smirnov distance between ``samples`` (1-D) and ``cdf`` (callable)."""
    x = torch.sort(samples.double()).values
    f = cdf(x)
    n = x.shape[0]
    upper = torch.arange(1, n + 1, dtype=torch.float64) / n - f
    lower = f - torch.arange(0, n, dtype=torch.float64) / n
    return float(torch.maximum(upper, lower).max())


def ks_critical(n: int) -> float:
    """KS critical distance at significance 0.001 (asymptotic)."""
    return 1.95 / math.sqrt(n)
