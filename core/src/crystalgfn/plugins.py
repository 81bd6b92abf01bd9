"""The plugin manager: finds plugins, records who registered what, and reports failures.

Loading order:

1. the built-in plugins of ``crystalgfn`` itself (losses, policies), through the same hooks a
   third-party package uses;
2. every entry point of the group ``crystalgfn``, except those named in the environment
   variable ``CRYSTALGFN_BLOCK_PLUGINS`` (comma-separated entry-point or distribution names).
   A plugin that fails to import is recorded with its distribution and skipped, so the
   others still load and ``crystalgfn plugins`` can show the failure;
3. ``check_pending()``, so a misspelt hook name is reported instead of being ignored;
4. each plugin's ``register_*`` hooks, one plugin at a time, so every name is attributed to
   the distribution that registered it.

A plugin that fails at step 2, 3 or 4 is recorded in :attr:`Plugins.failures` and everything
it registered is withdrawn: one broken plugin never breaks the commands that do not need it,
``crystalgfn plugins`` shows the failure, and an unknown-name error mentions it.
"""

from __future__ import annotations

import importlib.metadata
import os
from collections.abc import Callable

import attrs
import pluggy

from crystalgfn import hookspecs
from crystalgfn.errors import DuplicateNameError, PluginLoadError
from crystalgfn.registry import SESSION_DISTRIBUTION, Entry, Preset, Registry
from crystalgfn.restrictions import check_restrictions

ENTRY_POINT_GROUP = "crystalgfn"
BLOCK_ENV_VAR = "CRYSTALGFN_BLOCK_PLUGINS"
BUILTIN_DISTRIBUTION = "crystalgfn"
BUILTIN_MODULES = ("crystalgfn.losses", "crystalgfn.policies")


@attrs.frozen
class PluginFailure:
    """A plugin that could not be loaded, kept so that it can be reported."""

    distribution: str
    entry_point: str
    error: str


def constraint_key(source: str, target: str) -> str:
    """The registry name of the constraint that ``source`` places on ``target``."""
    return f"{source}->{target}"


def _registrars(plugins: Plugins, distribution: str) -> dict[str, Callable]:
    """The ``register`` callable handed to each hook, attributing names to ``distribution``."""

    def into(registry: Registry) -> Callable:
        def register(factory, name=None):
            return registry.add(factory, name, distribution=distribution)

        return register

    def register_env(factory, name=None, restrictions=()):
        checked = check_restrictions(restrictions, f"environment {name or factory!r}", distribution)
        return plugins.envs.add(
            factory, name, distribution=distribution, details={"restrictions": checked}
        )

    def register_preset(name, spec):
        return plugins.presets.add(Preset(spec), name, distribution=distribution)

    def register_constraint(source, target, factory):
        return plugins.constraints.add(
            factory, constraint_key(source, target), distribution=distribution
        )

    def register_proxy(factory, name=None, *, describes=False):
        if not isinstance(describes, bool):
            raise PluginLoadError(
                f"proxy {name or factory!r} from distribution {distribution!r}: 'describes' "
                f"must be True or False, got {describes!r}"
            )
        return plugins.proxies.add(
            factory, name, distribution=distribution, details={"describes": describes}
        )

    return {
        "register_envs": register_env,
        "register_presets": register_preset,
        "register_proxies": register_proxy,
        "register_losses": into(plugins.losses),
        "register_policies": into(plugins.policies),
        "register_structure_builders": into(plugins.structure_builders),
        "register_oracles": into(plugins.oracles),
        "register_judges": into(plugins.judges),
        "register_report_parts": into(plugins.report_parts),
        "register_reference_formats": into(plugins.reference_formats),
        "register_constraints": register_constraint,
    }


@attrs.define
class Plugins:
    """Everything the installed plugins registered, with provenance.

    Use :func:`get_plugins` for the process-wide instance. A plugin that fails (its import,
    an invalid hook, a hook that raises or calls ``register`` wrongly) is recorded in
    :attr:`failures` with everything it registered withdrawn; the other plugins still load.
    """

    manager: pluggy.PluginManager
    failures: list[PluginFailure] = attrs.field(factory=list)
    envs: Registry = attrs.field()
    proxies: Registry = attrs.field()
    losses: Registry = attrs.field()
    policies: Registry = attrs.field()
    structure_builders: Registry = attrs.field()
    oracles: Registry = attrs.field()
    #: what ``crystalgfn evaluate`` judges and how (:class:`crystalgfn.judge.base.Judge`)
    judges: Registry = attrs.field()
    #: how reports read and show a state part, by part name
    #: (:class:`crystalgfn.report.parts.ReportPart`)
    report_parts: Registry = attrs.field()
    #: other table formats a report reference may come in
    #: (:class:`crystalgfn.report.reference.ReferenceFormat`)
    reference_formats: Registry = attrs.field()
    #: cross-environment constraints, named ``"source->target"`` (see :func:`constraint_key`)
    constraints: Registry = attrs.field()
    #: names standing for a whole stack spec (``"crystal"``); each factory is a :class:`Preset`
    presets: Registry = attrs.field()
    #: distribution name -> version, for every distribution that contributed a plugin
    versions: dict[str, str] = attrs.field(factory=dict)

    @envs.default
    def _envs(self):
        return Registry("environment", failures=self.failures)

    @proxies.default
    def _proxies(self):
        return Registry("proxy", failures=self.failures)

    @losses.default
    def _losses(self):
        return Registry("loss", failures=self.failures)

    @policies.default
    def _policies(self):
        return Registry("policy", failures=self.failures)

    @structure_builders.default
    def _structure_builders(self):
        return Registry("structure builder", failures=self.failures)

    @oracles.default
    def _oracles(self):
        return Registry("oracle", failures=self.failures)

    @judges.default
    def _judges(self):
        return Registry("judge", failures=self.failures)

    @report_parts.default
    def _report_parts(self):
        return Registry("report part", failures=self.failures)

    @reference_formats.default
    def _reference_formats(self):
        return Registry("reference format", failures=self.failures)

    @constraints.default
    def _constraints(self):
        return Registry("constraint", failures=self.failures)

    @presets.default
    def _presets(self):
        return Registry("preset", failures=self.failures)

    def registries(self) -> dict[str, Registry]:
        return {
            "env": self.envs,
            "proxy": self.proxies,
            "loss": self.losses,
            "policy": self.policies,
            "structure_builder": self.structure_builders,
            "oracle": self.oracles,
            "judge": self.judges,
            "report_part": self.report_parts,
            "reference_format": self.reference_formats,
            "constraint": self.constraints,
            "preset": self.presets,
        }

    def constraint(self, source: str, target: str) -> Entry | None:
        """The constraint ``source`` places on ``target``, or None when none is registered."""
        key = constraint_key(source, target)
        return self.constraints.get(key) if key in self.constraints else None

    def register_module(self, plugin: object, distribution: str) -> None:
        """Register one plugin object (module or instance with hook implementations).

        Its ``register_*`` hooks run immediately and their names are attributed to
        ``distribution``. Raises :class:`PluginLoadError` (with nothing of the plugin left
        registered) when a hook is invalid, raises, or calls ``register`` wrongly.
        """
        label = getattr(plugin, "__name__", repr(plugin))
        try:
            self.manager.register(plugin, name=f"{distribution}:{label}")
            self.manager.check_pending()
        except pluggy.PluginValidationError as error:
            self._withdraw(plugin, distribution)
            raise PluginLoadError(
                f"plugin {label!r} from distribution {distribution!r} is invalid: {error}. "
                "Hook implementations must be named after a hook in crystalgfn.hookspecs: "
                + ", ".join(_hook_names())
            ) from error
        registrars = _registrars(self, distribution)
        for hook_name, register in registrars.items():
            for impl in getattr(self.manager.hook, hook_name).get_hookimpls():
                if impl.plugin is not plugin:
                    continue
                try:
                    impl.function(register=register)
                except Exception as error:  # third-party code: report it, keep the rest
                    self._withdraw(plugin, distribution)
                    raise PluginLoadError(
                        f"hook {hook_name} of plugin {label!r} from distribution "
                        f"{distribution!r} failed: {type(error).__name__}: {error}"
                    ) from error

    def _withdraw(self, plugin: object, distribution: str) -> None:
        if self.manager.is_registered(plugin):
            self.manager.unregister(plugin)
        for registry in self.registries().values():
            registry.remove_distribution(distribution)


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
            plugins.register_module(plugin, distribution)
        except Exception as error:  # any failure of third-party code: record it, go on
            message = str(error) if isinstance(error, PluginLoadError) else (
                f"{type(error).__name__}: {error}"
            )
            plugins.failures.append(PluginFailure(distribution, entry_point.name, message))
            continue
        plugins.versions[distribution] = version
    return plugins


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
    proxies = get_plugins().proxies
    name = name if name is not None else getattr(proxy_class, "name", None)
    if name in proxies:
        raise DuplicateNameError(
            f"proxy name {name!r} is already registered by {proxies.get(name).distribution!r}; "
            "choose another name, or unregister_proxy() the session one first"
        )
    proxies.add(proxy_class, name, distribution=SESSION_DISTRIBUTION)
    return proxy_class


def unregister_proxy(name: str) -> None:
    """Remove a proxy registered with :func:`register_proxy`."""
    get_plugins().proxies.remove(name)
