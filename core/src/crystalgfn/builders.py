"""Building proxies, losses and policies by registered name, and checking they fit an
environment."""

from __future__ import annotations

from crystalgfn.env import Environment
from crystalgfn.errors import ConfigError, IncompatibleProxyError
from crystalgfn.factory import call_with_kwargs
from crystalgfn.loss import Loss
from crystalgfn.plugins import get_plugins
from crystalgfn.proxy import Proxy


def make_proxy(name: str, **kwargs) -> Proxy:
    """The proxy registered as ``name``, built with ``kwargs``.

    Unknown names raise :class:`crystalgfn.errors.UnknownNameError` with a did-you-mean and the
    installed names; unknown keyword arguments raise :class:`crystalgfn.errors.ConfigError`.
    """
    entry = get_plugins().proxies.get(name)
    proxy = call_with_kwargs("proxy", name, entry.factory, kwargs)
    if not isinstance(proxy, Proxy):
        raise ConfigError(
            f"proxy {name!r} from {entry.distribution!r} built a {type(proxy).__name__}, "
            "not a crystalgfn.Proxy"
        )
    return proxy


def make_loss(name: str, **kwargs) -> Loss:
    """The loss registered as ``name`` (e.g. ``"tb"``), built with ``kwargs``."""
    entry = get_plugins().losses.get(name)
    loss = call_with_kwargs("loss", name, entry.factory, kwargs)
    if not isinstance(loss, Loss):
        raise ConfigError(
            f"loss {name!r} from {entry.distribution!r} built a {type(loss).__name__}, "
            "not a crystalgfn.Loss"
        )
    return loss


def make_policy(name: str, env: Environment, settings=None, outputs=frozenset(), **kwargs):
    """The policy registered as ``name`` (e.g. ``"mlp"``) for ``env``, untrained, built with
    ``kwargs`` (a run config's ``[policy_kwargs]``). ``settings`` are the run's
    :class:`crystalgfn.trainer.TrainSettings` (default: the defaults); ``outputs`` the
    optional :class:`crystalgfn.policy.PolicyOutput` fields the loss needs."""
    from crystalgfn.policy import build_policy_from
    from crystalgfn.trainer import TrainSettings

    entry = get_plugins().policies.get(name)
    settings = settings if settings is not None else TrainSettings()
    return build_policy_from(
        entry.factory, name, env, settings, frozenset(outputs), kwargs, entry.distribution
    )


def check_compatible(env: Environment, proxy: Proxy) -> None:
    """Raise :class:`IncompatibleProxyError` unless ``env`` provides every part ``proxy`` reads."""
    missing = [part for part in proxy.requires if part not in env.provides]
    if missing:
        spec = getattr(env, "spec", env.name)
        raise IncompatibleProxyError(
            f"proxy {proxy.name!r} reads {list(proxy.requires)}, but environment {spec!r} "
            f"provides only {list(env.provides)} (missing {missing}). Add the environments "
            "that provide them to the spec ('a+b+c'; `crystalgfn plugins` lists them)."
        )
