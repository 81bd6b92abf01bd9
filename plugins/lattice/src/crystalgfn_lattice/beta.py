"""The continuous policy head: a mixture of Beta distributions per unit-interval slot.

Raw layout
----------
``raw`` has shape ``(n, n_slots · n_components · 3)`` and is read as
``raw.view(n, n_slots, n_components, 3)``: for each slot and component, the mixture logit,
the log-concentration ``log α`` and ``log β``. Log-concentrations pass through the soft
bound ``L · tanh(r / L)`` with ``L = LOG_CONCENTRATION_BOUND`` (so concentrations stay in
``(e^-8, e^8)``, and zero stays zero): raw outputs of zero give ``Beta(1, 1)`` components
with equal weights, i.e. the uniform density on ``(0, 1)``.

Numerical safety: unit values are clamped to ``[EPS, 1 − EPS]`` with ``EPS = 2⁻²⁰ ≈ 9.5e-7``
(a power of two, so both clamp points are exact in float32), after sampling and before
evaluating a log-density. All arithmetic is float64.

Reproducible sampling
---------------------
``torch.distributions.Beta`` draws through ``torch._standard_gamma``, which takes no
``torch.Generator``. Here every random number comes from ``torch.rand``/``torch.randn``/
``torch.multinomial`` with the caller's generator: the component by ``multinomial``, and
``Beta(a, b) = X / (X + Y)`` with ``X ~ Gamma(a)``, ``Y ~ Gamma(b)`` drawn by
Marsaglia–Tsang rejection at shape ``a + 1`` followed by the boost
``Gamma(a) = Gamma(a + 1) · U^(1/a)``, all in log space (no underflow for small shapes).
The same generator state therefore gives the same samples.
"""

from __future__ import annotations

import torch

#: Soft bound on log-concentrations.
LOG_CONCENTRATION_BOUND = 8.0
#: Clamp of unit values away from 0 and 1 (exact in float32).
EPS = 2.0**-20
#: Safety cap on Marsaglia–Tsang rejection rounds (each accepts > 95 % of the draws).
_MAX_ROUNDS = 200

_F64 = torch.float64


def split_raw(raw: torch.Tensor, n_slots: int, n_components: int):
    """Mixture log-weights, ``α`` and ``β``, each float64 ``(n, n_slots, n_components)``."""
    view = raw.to(_F64).reshape(raw.shape[0], n_slots, n_components, 3)
    log_weights = torch.log_softmax(view[..., 0], dim=-1)
    bound = LOG_CONCENTRATION_BOUND
    concentration = torch.exp(bound * torch.tanh(view[..., 1:] / bound))
    return log_weights, concentration[..., 0], concentration[..., 1]


def log_prob(u: torch.Tensor, raw: torch.Tensor, n_components: int) -> torch.Tensor:
    """Log-density float64 ``(n, n_slots)`` of each slot of ``u`` ``(n, n_slots)`` under its
    Beta mixture (``u`` clamped to ``[EPS, 1 − EPS]``)."""
    log_weights, a, b = split_raw(raw, u.shape[1], n_components)
    x = u.to(_F64).clamp(EPS, 1.0 - EPS)[..., None]
    log_beta_fn = torch.lgamma(a) + torch.lgamma(b) - torch.lgamma(a + b)
    components = (a - 1.0) * torch.log(x) + (b - 1.0) * torch.log1p(-x) - log_beta_fn
    return torch.logsumexp(log_weights + components, dim=-1)


def log_standard_gamma(
    shape: torch.Tensor, generator: torch.Generator | None = None
) -> torch.Tensor:
    """``log X`` with ``X ~ Gamma(shape, 1)``, float64 like ``shape`` (any shape ``> 0``)."""
    flat = shape.to(_F64).reshape(-1)
    d = flat + 1.0 - 1.0 / 3.0  # Marsaglia–Tsang at shape + 1 >= 1
    c = 1.0 / torch.sqrt(9.0 * d)
    out = torch.empty_like(flat)
    pending = torch.ones_like(flat, dtype=torch.bool)
    for _ in range(_MAX_ROUNDS):
        idx = pending.nonzero().squeeze(1)
        if idx.numel() == 0:
            break
        z = torch.randn(idx.numel(), generator=generator, dtype=_F64, device=flat.device)
        uniform = torch.rand(idx.numel(), generator=generator, dtype=_F64, device=flat.device)
        v = (1.0 + c[idx] * z) ** 3
        log_v = torch.log(v.clamp(min=1e-300))
        accept = (v > 0) & (torch.log(uniform) < 0.5 * z * z + d[idx] - d[idx] * v + d[idx] * log_v)
        out[idx[accept]] = torch.log(d[idx[accept]]) + log_v[accept]
        pending[idx[accept]] = False
    else:
        if pending.any():
            raise RuntimeError("Gamma sampling did not converge")
    boost = 1.0 - torch.rand(
        flat.shape, generator=generator, dtype=_F64, device=flat.device
    )  # (0, 1]
    return (out + torch.log(boost) / flat).reshape(shape.shape)


def sample(
    raw: torch.Tensor, n_slots: int, n_components: int, generator: torch.Generator | None = None
) -> torch.Tensor:
    """Unit values float64 ``(n, n_slots)`` in ``[EPS, 1 − EPS]`` from the Beta mixtures."""
    log_weights, a, b = split_raw(raw, n_slots, n_components)
    probs = log_weights.exp().reshape(-1, n_components)
    choice = torch.multinomial(probs, 1, generator=generator)
    a = a.reshape(-1, n_components).gather(1, choice).squeeze(1)
    b = b.reshape(-1, n_components).gather(1, choice).squeeze(1)
    log_x = log_standard_gamma(a, generator)
    log_y = log_standard_gamma(b, generator)
    u = torch.exp(log_x - torch.logaddexp(log_x, log_y))
    return u.clamp(EPS, 1.0 - EPS).reshape(raw.shape[0], n_slots)
