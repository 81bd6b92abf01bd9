"""Crystal-GFN: sample crystals with desirable properties under hard constraints.

The public API. Plugins register environments, proxies, losses and cross-environment
constraints through the hooks in :mod:`crystalgfn.hookspecs`; users build them by name.
"""

from crystalgfn.builders import check_compatible, make_loss, make_proxy
from crystalgfn.compose import Stack, make_env
from crystalgfn.env import Constraint, Environment
from crystalgfn.errors import (
    CheckpointError,
    ConfigError,
    CrystalGFNError,
    DuplicateNameError,
    IncompatibleProxyError,
    InfeasibleError,
    PluginLoadError,
    RewardError,
    UnknownNameError,
)
from crystalgfn.hookspecs import hookimpl
from crystalgfn.loss import Loss
from crystalgfn.plugins import get_plugins, register_proxy, reset_plugins, unregister_proxy
from crystalgfn.proxy import Proxy
from crystalgfn.trajectories import Trajectories

__version__ = "0.1.0"

__all__ = [
    "CheckpointError",
    "ConfigError",
    "Constraint",
    "CrystalGFNError",
    "DuplicateNameError",
    "Environment",
    "IncompatibleProxyError",
    "InfeasibleError",
    "Loss",
    "PluginLoadError",
    "Proxy",
    "RewardError",
    "Stack",
    "Trajectories",
    "UnknownNameError",
    "__version__",
    "check_compatible",
    "get_plugins",
    "hookimpl",
    "make_env",
    "make_loss",
    "make_proxy",
    "register_proxy",
    "reset_plugins",
    "unregister_proxy",
]
