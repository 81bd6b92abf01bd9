"""Reward functions: from proxy values to log-rewards, computed stably.

Every function maps property values ``x`` ``(B,)`` straight to ``log R(x)`` — never the log of
an exponential that may have underflowed — so that R = exp(−8·E) stays exact even where R
itself is below the smallest float.

* ``exponential``: R = exp(β·x)                     (e.g. β = −8 for formation energy)
* ``rbf``:         R = exp(−(x − target)² / (2σ²))  (e.g. band gap near 1.34 eV)
* ``identity``:    R = x                            (x must be > 0)
* ``power``:       R = x^p                          (x must be > 0)

An optional ``min_reward`` floors R (as log R = max(log R, log min_reward)). An
:class:`Objective` pairs a proxy with a reward function and a weight; :class:`Reward` sums the
weighted log-rewards of several objectives (multi-objective sampling: R = Π R_i^{w_i}).

Uncertainty penalty
-------------------
``uncertainty_penalty = κ`` (κ ≥ 0, default 0) rewards a pessimistic bound instead of the
proxy's mean μ, using the standard deviation σ that proxies which report their uncertainty
return (:meth:`crystalgfn.proxy.Proxy.predict_with_uncertainty`): the bound is whichever of
μ − κσ and μ + κσ has the lower reward, so an uncertain crystal never gains:

* a quantity the reward prefers low (``exponential`` with β < 0, ``power`` with p < 0):
  μ + κσ — e.g. formation energy with R = exp(−8 E): R = exp(−8 (μ + κσ));
* a quantity it prefers high (``exponential`` with β > 0, ``identity``, ``power`` with p > 0):
  μ − κσ;
* ``rbf``: the end of [μ − κσ, μ + κσ] farther from ``target``;
* ``exponential`` with β = 0: no preference, the penalty changes nothing.

κ is accepted only for proxies that report an uncertainty (``proxy.uncertainty`` is set).
"""

from __future__ import annotations

import math
import numbers
import warnings
from collections.abc import Callable, Mapping

import attrs
import torch

from crystalgfn.errors import ConfigError, RewardError
from crystalgfn.proxy import Proxy


def _exponential(x: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    return beta * x


def _rbf(x: torch.Tensor, target: float = 0.0, sigma: float = 1.0) -> torch.Tensor:
    if not sigma > 0:
        raise ConfigError(f"rbf reward needs sigma > 0, got {sigma}")
    return -((x - target) ** 2) / (2.0 * sigma**2)


def _positive_log(x: torch.Tensor, kind: str) -> torch.Tensor:
    if bool((x <= 0).any()):
        raise RewardError(
            f"{kind} reward needs positive property values; got {float(x.min()):.4g}. "
            "Use the exponential or rbf reward, or a proxy with positive values."
        )
    return torch.log(x)


def _identity(x: torch.Tensor) -> torch.Tensor:
    return _positive_log(x, "identity")


def _power(x: torch.Tensor, exponent: float = 1.0) -> torch.Tensor:
    return exponent * _positive_log(x, "power")


def _is_number(value) -> bool:
    """A finite int or float (not a bool, whose TOML spelling is not a number)."""
    return isinstance(value, numbers.Real) and not isinstance(value, bool) and math.isfinite(value)


KINDS: dict[str, Callable[..., torch.Tensor]] = {
    "exponential": _exponential,
    "rbf": _rbf,
    "identity": _identity,
    "power": _power,
}


@attrs.frozen
class RewardFunction:
    """A named reward function with its parameters and an optional floor."""

    kind: str = "exponential"
    params: Mapping[str, float] = attrs.field(factory=dict)
    min_reward: float | None = None
    #: κ of the pessimistic bound (see the module docstring); 0 rewards the mean.
    uncertainty_penalty: float = 0.0

    @classmethod
    def from_config(cls, config: Mapping, where: str = "reward") -> RewardFunction:
        """From a config table such as ``{kind = "exponential", beta = -8.0}``; every value is
        checked here, naming it as ``where.key`` (e.g. ``reward.beta``)."""
        if not isinstance(config, Mapping):
            raise ConfigError(
                f"{where} must be a table such as {{ kind = \"exponential\", beta = -8.0 }}, "
                f"got {config!r}"
            )
        config = dict(config)
        kind = config.pop("kind", "exponential")
        if not isinstance(kind, str) or kind not in KINDS:
            raise ConfigError(f"unknown reward kind {kind!r}; accepted: {sorted(KINDS)}")
        min_reward = config.pop("min_reward", None)
        if min_reward is not None and (not _is_number(min_reward) or not min_reward > 0):
            raise ConfigError(f"min_reward must be > 0 (a number), got {min_reward!r}")
        penalty = config.pop("uncertainty_penalty", 0.0)
        if not _is_number(penalty) or penalty < 0:
            raise ConfigError(
                f"{where}.uncertainty_penalty must be a finite number >= 0 (κ of the pessimistic "
                f"bound μ ± κσ; 0 rewards the mean), got {penalty!r}"
            )
        import inspect

        accepted = [p for p in inspect.signature(KINDS[kind]).parameters if p != "x"]
        unknown = sorted(set(config) - set(accepted))
        if unknown:
            raise ConfigError(
                f"reward kind {kind!r} does not accept {unknown}; "
                f"accepted: {accepted + ['min_reward', 'uncertainty_penalty']}"
            )
        for name, value in config.items():
            if not _is_number(value):
                raise ConfigError(
                    f"{where}.{name} must be a finite number (e.g. 1.0), got {value!r}"
                )
        if kind == "rbf" and not config.get("sigma", 1.0) > 0:
            raise ConfigError(f"{where}.sigma must be > 0, got {config['sigma']!r}")
        params = {name: float(value) for name, value in config.items()}
        min_reward = None if min_reward is None else float(min_reward)
        return cls(kind=kind, params=params, min_reward=min_reward,
                   uncertainty_penalty=float(penalty))

    @property
    def preference(self) -> int:
        """+1 if the reward grows with the value, −1 if it falls, 0 if neither (``rbf``, or
        β = 0): which side of μ ± κσ is the pessimistic one."""
        if self.kind == "exponential":
            beta = self.params.get("beta", 1.0)
            return (beta > 0) - (beta < 0)
        if self.kind == "identity":
            return 1
        if self.kind == "power":
            exponent = self.params.get("exponent", 1.0)
            return (exponent > 0) - (exponent < 0)
        return 0

    def pessimistic(self, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
        """The bound of μ ± κσ with the lower reward (float64 ``(B,)``)."""
        mean, shift = mean.double(), self.uncertainty_penalty * std.double()
        if self.kind == "rbf":
            away = torch.where(mean >= self.params.get("target", 0.0), 1.0, -1.0)
            return mean + away.to(mean) * shift
        return mean - self.preference * shift

    def log_reward(self, values: torch.Tensor, std: torch.Tensor | None = None) -> torch.Tensor:
        """log R ``(B,)`` (float64) of property values ``(B,)``; with ``uncertainty_penalty``
        > 0, of the pessimistic bound of ``values`` ± κ ``std`` (``std`` is then required)."""
        if self.uncertainty_penalty:
            if std is None:
                raise ConfigError(
                    f"uncertainty_penalty = {self.uncertainty_penalty} needs the proxy's standard "
                    "deviation (a proxy that reports its uncertainty)"
                )
            bound = self.pessimistic(values, std)
            if self.kind in ("identity", "power") and bool((bound <= 0).any()):
                row = int((bound <= 0).nonzero()[0])
                raise RewardError(
                    f"the pessimistic bound μ ∓ κσ of a {self.kind} reward must stay positive; "
                    f"with uncertainty_penalty = {self.uncertainty_penalty} it is "
                    f"{float(bound[row]):.4g} (μ = {float(values[row]):.4g}, σ = "
                    f"{float(std[row]):.4g}). Lower uncertainty_penalty."
                )
            values = bound
        log_r = KINDS[self.kind](values.double(), **self.params)
        if self.min_reward is not None:
            log_r = log_r.clamp(min=math.log(self.min_reward))
        return log_r


@attrs.frozen
class Objective:
    """One proxy, its reward function and its weight in the total log-reward."""

    proxy: Proxy
    reward: RewardFunction
    weight: float = 1.0

    def __attrs_post_init__(self):
        penalty = self.reward.uncertainty_penalty
        if penalty and getattr(self.proxy, "uncertainty", None) is None:
            raise ConfigError(
                f"reward.uncertainty_penalty = {penalty!r} needs a proxy that reports its "
                f"uncertainty, but proxy {self.proxy.name!r} does not (its 'uncertainty' is "
                "None). Accepted: uncertainty_penalty = 0 (or no key) for this proxy; a value "
                "> 0 only with proxies that declare an uncertainty (e.g. ensembles; "
                "'crystalgfn plugins' lists the installed proxies)"
            )


@attrs.define
class Reward:
    """The total log-reward of done states: Σ_i w_i log R_i(proxy_i(x)).

    Args:
        objectives: the proxies and their reward functions.
        on_nan: ``"error"`` (default) raises on a NaN or infinite proxy value, naming the
            crystal; ``"floor"`` gives such crystals the smallest reward, with a warning.
        describe: optional callable turning the proxy inputs of some rows into readable
            descriptions for error messages.
    """

    objectives: list[Objective]
    on_nan: str = "error"
    describe: Callable[[Mapping[str, torch.Tensor], list[int]], list[str]] | None = None

    def __attrs_post_init__(self):
        if self.on_nan not in ("error", "floor"):
            raise ConfigError(f"on_nan must be 'error' or 'floor', got {self.on_nan!r}")
        if not self.objectives:
            raise ConfigError("a reward needs at least one objective (proxy)")

    def __call__(
        self, values: Mapping[str, torch.Tensor]
    ) -> tuple[torch.Tensor, dict[str, torch.Tensor]]:
        """``(log R (B,) float64, {proxy name: values (B,)})``; the values are the proxies'
        predictions (the means of those that report an uncertainty)."""
        log_r, predictions, _ = self.evaluate(values, all_std=False)
        return log_r, predictions

    def columns(self, values: Mapping[str, torch.Tensor]) -> tuple[torch.Tensor, dict[str, list]]:
        """``(log R (B,), table columns)``: per proxy its values and, for a proxy that
        reports its uncertainty, ``<name>_std`` and ``<name>_uncertain`` (1 where the std
        exceeds the proxy's ``uncertainty.threshold``, else 0)."""
        log_r, predictions, stds = self.evaluate(values, all_std=True)
        columns: dict[str, list] = {}
        for name, x in predictions.items():
            columns[name] = x.double().tolist()
            if name in stds:
                std, threshold = stds[name]
                columns[f"{name}_std"] = std.double().tolist()
                columns[f"{name}_uncertain"] = (std > threshold).long().tolist()
        return log_r, columns

    def evaluate(self, values: Mapping[str, torch.Tensor], all_std: bool = True):
        """``(log R, {name: mean}, {name: (std, threshold)})``. Standard deviations are
        computed for objectives with an uncertainty penalty and, with ``all_std``, for every
        proxy that reports an uncertainty."""
        total = None
        predictions: dict[str, torch.Tensor] = {}
        stds: dict[str, tuple[torch.Tensor, float]] = {}
        for objective in self.objectives:
            proxy, std = objective.proxy, None
            declared = getattr(proxy, "uncertainty", None)
            if declared is not None and (all_std or objective.reward.uncertainty_penalty):
                x, std = proxy.call_with_uncertainty(values)
                x, std = x.detach(), std.detach()
                stds[proxy.name] = (std, float(declared.threshold))
            else:
                x = proxy(values).detach()
            predictions[proxy.name] = x
            log_r = objective.reward.log_reward(x, std)
            bad = ~torch.isfinite(log_r)
            if bool(bad.any()):
                rows = bad.nonzero().squeeze(1).tolist()
                where = (self.describe(values, rows[:3]) if self.describe
                         else [f"row {r}" for r in rows[:3]])
                message = (
                    f"proxy {proxy.name!r} gave a non-finite reward for {len(rows)} crystal(s), "
                    f"e.g. {', '.join(where)} (value {x[rows[0]].item()})"
                )
                if self.on_nan == "error":
                    hint = ". Set on_nan = 'floor' to give them the minimum reward."
                    raise RewardError(message + hint)
                warnings.warn(message + "; floored to the minimum reward", stacklevel=2)
                floor = objective.reward.min_reward or 1e-30
                log_r = torch.where(bad, torch.full_like(log_r, math.log(floor)), log_r)
            term = objective.weight * log_r
            total = term if total is None else total + term
        return total, predictions, stds
