"""Crystal-GFN: sample crystals with desirable properties under hard constraints.

The public API. Plugins register environments, proxies, losses and cross-environment
constraints through the hooks in :mod:`crystalgfn.hookspecs`; users build them by name.

Names are imported on first use (PEP 562), so that ``import crystalgfn`` — which every
plugin does to reach :data:`hookimpl` — and commands such as ``crystalgfn plugins`` do not
pay for importing torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from crystalgfn._version import __version__
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
from crystalgfn.lazy import lazy_exports

#: public name -> the module that defines it, imported when the name is first used
_LAZY = {
    "check_compatible": "crystalgfn.builders",
    "make_loss": "crystalgfn.builders",
    "make_policy": "crystalgfn.builders",
    "make_proxy": "crystalgfn.builders",
    "Stack": "crystalgfn.compose",
    "make_env": "crystalgfn.compose",
    "Constraint": "crystalgfn.env",
    "Environment": "crystalgfn.env",
    "Loss": "crystalgfn.loss",
    "Policy": "crystalgfn.policy",
    "PolicyOutput": "crystalgfn.policy",
    "get_plugins": "crystalgfn.plugins",
    "register_proxy": "crystalgfn.plugins",
    "reset_plugins": "crystalgfn.plugins",
    "unregister_proxy": "crystalgfn.plugins",
    "Proxy": "crystalgfn.proxy",
    "Trajectories": "crystalgfn.trajectories",
}

if TYPE_CHECKING:  # for type checkers and IDEs, which do not run __getattr__
    from crystalgfn.builders import check_compatible, make_loss, make_policy, make_proxy
    from crystalgfn.compose import Stack, make_env
    from crystalgfn.env import Constraint, Environment
    from crystalgfn.loss import Loss
    from crystalgfn.plugins import get_plugins, register_proxy, reset_plugins, unregister_proxy
    from crystalgfn.policy import Policy, PolicyOutput
    from crystalgfn.proxy import Proxy
    from crystalgfn.trajectories import Trajectories


__getattr__, __dir__ = lazy_exports(__name__, _LAZY)

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
    "Policy",
    "PolicyOutput",
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
    "make_policy",
    "make_proxy",
    "register_proxy",
    "reset_plugins",
    "unregister_proxy",
]
