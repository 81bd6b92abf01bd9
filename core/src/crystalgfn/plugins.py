"""The plugin manager: finds plugins, records who registered what, and reports failures.

Loading order:

1. the built-in plugins of ``crystalgfn`` itself (the losses), through the same hooks a
   third-party package uses;
2. every entry point of the group ``crystalgfn``, except those named in the environment
   variable ``CRYSTALGFN_BLOCK_PLUGINS`` (comma-separated entry-point or distribution names).
   A plugin that fails to import is recorded with its distribution and skipped, so the
   others still load and ``crystalgfn plugins`` can show the failure;
3. ``check_pending()``, so a misspelt hook name fails loudly instead of being ignored;
4. each plugin's ``register_*`` hooks, one plugin at a time, so every name is attributed to
   the distribution that registered it.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable
from types import ModuleType

import attrs
import pluggy

from crystalgfn import hookspecs
from crystalgfn.errors import DuplicateNameError, PluginLoadError
from crystalgfn.registry import SESSION_DISTRIBUTION, Registry

ENTRY_POINT_GROUP = "crystalgfn"
BLOCK_ENV_VAR = "CRYSTALGFN_BLOCK_PLUGINS"
BUILTIN_DISTRIBUTION = "crystalgfn"
BUILTIN_MODULES = ("crystalgfn.losses",)


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded, kept so that it can be reported."""

    distribution: str
    entry_point: str
    error: str


@attrs.frozen
class ConstraintEntry:
    """A cross-environment constraint: ``source`` part constrains ``target`` part."""

    source: str
    target: str
    factory: Callable
    distribution: str


@attrs.define
class Plugins:
    """Everything the installed plugins registered, with provenance.

    Use :func:`get_plugins` for the process-wide instance.
    """

    manager: pluggy.PluginManager
    envs: Registry = attrs.field(factory=lambda: Registry("environment"))
    proxies: Registry = attrs.field(factory=lambda: Registry("proxy"))
    losses: Registry = attrs.field(factory=lambda: Registry("loss"))
    structure_builders: Registry = attrs.field(factory=lambda: Registry("structure builder"))
    oracles: Registry = attrs.field(factory=lambda: Registry("oracle"))
    constraints: dict[tuple[str, str], ConstraintEntry] = attrs.field(factory=dict)
    failures: list[PluginFailure] = attrs.field(factory=list)
    #: distribution name -> version, for every distribution that contributed a plugin
    versions: dict[str, str] = attrs.field(factory=dict)

    def add_constraint(self, source: str, target: str, factory: Callable, *, distribution: str):
        key = (source, target)
        if key in self.constraints:
            first = self.constraints[key].distribution
            raise DuplicateNameError(
                f"constraint {source} -> {target} is registered by two distributions: "
                f"{first!r} and {distribution!r}"
            )
        self.constraints[key] = ConstraintEntry(source, target, factory, distribution)

    def registries(self) -> dict[str, Registry]:
        return {
            "env": self.envs,
            "proxy": self.proxies,
            "loss": self.losses,
            "structure_builder": self.structure_builders,
            "oracle": self.oracles,
        }

    def register_module(self, plugin: object, distribution: str) -> None:
        """Register one plugin object (module or instance with hook implementations).

        Its ``register_*`` hooks run immediately and their names are attributed to
        ``distribution``.
        """
        self.manager.register(plugin, name=f"{distribution}:{getattr(plugin, '__name__', id(plugin))}")
        self.manager.check_pending()
        self._collect(plugin, distribution)

    def _collect(self, plugin: object, distribution: str) -> None:
        registrars = {
            "register_envs": lambda f, name=None: self.envs.add(f, name, distribution=distribution),
            "register_proxies": lambda f, name=None: self.proxies.add(
                f, name, distribution=distribution
            ),
            "register_losses": lambda f, name=None: self.losses.add(
                f, name, distribution=distribution
            ),
            "register_structure_builders": lambda f, name=None: self.structure_builders.add(
                f, name, distribution=distribution
            ),
            "register_oracles": lambda f, name=None: self.oracles.add(
                f, name, distribution=distribution
            ),
            "register_constraints": lambda source, target, factory: self.add_constraint(
                source, target, factory, distribution=distribution
            ),
        }
        for hook_name, register in registrars.items():
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                if impl.plugin is plugin:
                    impl.function(register=register)


def _blocked_names() -> set[str]:
    raw = os.environ.get(BLOCK_ENV_VAR, "")
    return {name.strip() for name in raw.split(",") if name.strip()}


def _distribution_of(entry_point: importlib.metadata.EntryPoint) -> tuple[str, str]:
    dist = entry_point.dist
    if dist is None:
        return entry_point.value.split(".")[0], "unknown"
    return dist.metadata["Name"], dist.version


def load_plugins() -> Plugins:
    """Build a fresh :class:`Plugins` from the built-ins and the installed entry points."""
    manager = pluggy.PluginManager(hookspecs.PROJECT_NAME)
    manager.add_hookspecs(hookspecs)
    plugins = Plugins(manager=manager)
    plugins.versions[BUILTIN_DISTRIBUTION] = _own_version()
    for module_name in BUILTIN_MODULES:
        plugins.register_module(importlib.import_module(module_name), BUILTIN_DISTRIBUTION)

    blocked = _blocked_names()
    entry_points = sorted(
        importlib.metadata.entry_points(group=ENTRY_POINT_GROUP), key=lambda ep: ep.name
    )
    for entry_point in entry_points:
        distribution, version = _distribution_of(entry_point)
        if entry_point.name in blocked or distribution in blocked:
            continue
        try:
            plugin = entry_point.load()
        except Exception as error:  # any import-time failure of third-party code
            plugins.failures.append(
                PluginFailure(distribution, entry_point.name, f"{type(error).__name__}: {error}")
            )
            continue
        _register_checked(plugins, plugin, distribution)
        plugins.versions[distribution] = version
    return plugins


def _register_checked(plugins: Plugins, plugin: ModuleType, distribution: str) -> None:
    try:
        plugins.register_module(plugin, distribution)
    except pluggy.PluginValidationError as error:
        plugins.manager.unregister(plugin)
        raise PluginLoadError(
            f"plugin {getattr(plugin, '__name__', plugin)!r} from distribution {distribution!r} "
            f"is invalid: {error}. "
            "Hook implementations must be named after a hook in crystalgfn.hookspecs: "
            + ", ".join(_hook_names())
        ) from error


def _hook_names() -> list[str]:
    return sorted(name for name in dir(hookspecs) if name.startswith("register_"))


def _own_version() -> str:
    try:
        return importlib.metadata.version(BUILTIN_DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


_PLUGINS: Plugins | None = None


def get_plugins() -> Plugins:
    """The process-wide :class:`Plugins`, loaded on first use."""
    global _PLUGINS
    if _PLUGINS is None:
        _PLUGINS = load_plugins()
    return _PLUGINS


def reset_plugins() -> None:
    """Forget loaded plugins so the next :func:`get_plugins` rescans entry points."""
    global _PLUGINS
    _PLUGINS = None


def register_proxy(proxy_class: Callable, name: str | None = None):
    """Register a proxy class from a running session (e.g. a notebook), without packaging.

    Returns the class, so it can be used as a decorator::

        @crystalgfn.register_proxy
        class Hardness(crystalgfn.Proxy):
            name = "hardness"
            ...
    """
    get_plugins().proxies.add(proxy_class, name, distribution=SESSION_DISTRIBUTION)
    return proxy_class


def unregister_proxy(name: str) -> None:
    """Remove a proxy registered with :func:`register_proxy`."""
    get_plugins().proxies.remove(name)
