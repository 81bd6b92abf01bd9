"""Presets and restriction flags are registrations: a plugin's ``register_presets`` hook names
a stack, and the restrictions an environment's registration declares become command-line
flags, without core knowing any environment."""

from __future__ import annotations

import json

import crystalgfn
import pytest
from crystalgfn.cli import build_parser, main
from crystalgfn.compose import make_env, parse_spec
from crystalgfn.errors import PluginLoadError, UnknownNameError
from crystalgfn.plugins import get_plugins, reset_plugins
from crystalgfn.restrictions import Restriction, detached_negative_range, restrictions_from_args


def declaring_plugin(pick, other, at_least):
    """A plugin registering the toy environments with restrictions, and presets."""

    class Digits(pick):
        """``pick`` whose ``allowed`` restriction also reads the command line's strings."""

        def restrict(self, allowed=None):
            return type(self)(self.n, [int(v) for v in allowed])

    class DeclaringPlugin:
        @crystalgfn.hookimpl
        def register_envs(self, register):
            register(Digits, restrictions=[
                Restriction("allowed", kind="list", help="only these values, e.g. 1,2"),
            ])
            register(other, restrictions=(
                Restriction("width", kind="range", help="a range of widths"),
                Restriction("seed", kind="int", help="clashes with sample --seed"),
            ))

        @crystalgfn.hookimpl
        def register_constraints(self, register):
            register("pick", "other", at_least)

        @crystalgfn.hookimpl
        def register_presets(self, register):
            register("toys", "pick+other")
            register("picks", "pick")
            register("other", "pick")  # an environment of that name wins

    return DeclaringPlugin()


@pytest.fixture
def toy_classes(plugins):
    """The toy ``Pick``, ``Other`` and ``AtLeast`` classes of core's conftest."""
    return (
        plugins.envs.get("pick").factory,
        plugins.envs.get("other").factory,
        plugins.constraints.get("pick->other").factory,
    )


@pytest.fixture
def declared(toy_classes):
    reset_plugins()
    plugins = get_plugins()
    plugins.register_module(declaring_plugin(*toy_classes), "declaring-dist")
    yield plugins
    reset_plugins()


def test_a_registered_preset_builds_its_stack(declared):
    env = make_env("toys")
    assert env.spec == "pick+other"
    assert len(env.constraints) == 1
    assert parse_spec("picks+other") == ["pick", "other"]
    assert make_env("other").name == "other"
    assert declared.presets.get("toys").distribution == "declaring-dist"


def test_unknown_preset_is_an_unknown_environment_with_presets_suggested(declared):
    with pytest.raises(UnknownNameError, match=r"unknown environment 'toyz'\. Did you mean 'toys'"):
        make_env("toyz")
    with pytest.raises(UnknownNameError, match=r"Did you mean 'pick'"):
        make_env("toys+pik")


def test_plugins_report_lists_presets(declared, capsys):
    assert main(["plugins", "--json"]) == 0
    report = json.loads(capsys.readouterr().out)
    mine = next(p for p in report["plugins"] if p["distribution"] == "declaring-dist")
    assert "toys=pick+other" in mine["presets"]
    assert main(["plugins"]) == 0
    assert "preset:toys=pick+other" in capsys.readouterr().out


@pytest.mark.parametrize("spec", [3, "", None])
def test_a_preset_must_name_a_spec(spec):
    class Bad:
        @crystalgfn.hookimpl
        def register_presets(self, register):
            register("bad", spec)

    reset_plugins()
    try:
        with pytest.raises(PluginLoadError, match="register_presets"):
            get_plugins().register_module(Bad(), "bad-dist")
        assert "bad" not in get_plugins().presets
    finally:
        reset_plugins()


def test_declared_restrictions_become_flags(declared, capsys):
    with pytest.raises(SystemExit):
        main(["sample", "--help"])
    out = capsys.readouterr().out
    assert "--allowed A,B" in out and "only these values, e.g. 1,2 [pick]" in out
    assert "--width LOW:HIGH" in out
    args = build_parser().parse_args(
        ["sample", "--out", "x.csv", "--allowed", "1, 3", "--width=-1:2.5"]
    )
    given = restrictions_from_args(args)
    assert given == {"allowed": ["1", "3"], "width": (-1.0, 2.5)}
    assert make_env("pick").restrict(allowed=given["allowed"]).allowed == (1, 3)
    # the flag of the sample command itself wins over a clashing restriction
    assert build_parser().parse_args(["sample", "--out", "x", "--seed", "4"]).seed == 4
    assert "seed" not in restrictions_from_args(
        build_parser().parse_args(["sample", "--out", "x", "--seed", "4"])
    )


def test_a_declared_range_flag_gets_the_negative_value_hint(declared):
    message = detached_negative_range(["sample", "--width", "-1:5"])
    assert message is not None and "--width=-1:5" in message
    assert detached_negative_range(["sample", "--allowed", "-1"]) is None


def test_a_restriction_declaration_must_be_restrictions(toy_classes):
    pick = toy_classes[0]

    class Bad:
        @crystalgfn.hookimpl
        def register_envs(self, register):
            register(pick, restrictions=["allowed"])

    reset_plugins()
    try:
        with pytest.raises(PluginLoadError, match="Restriction"):
            get_plugins().register_module(Bad(), "bad-dist")
        assert "pick" not in get_plugins().envs
    finally:
        reset_plugins()


def test_restriction_fields_are_checked():
    with pytest.raises(ValueError, match="identifier"):
        Restriction("max-units")
    with pytest.raises(ValueError, match="kind"):
        Restriction("units", kind="bool")
    assert Restriction("max_units").flag == "--max-units"


def test_a_run_config_reads_declared_restrictions_like_the_flags(declared):
    from crystalgfn.config import RunConfig
    from crystalgfn.errors import ConfigError
    from crystalgfn.restrictions import from_config

    given = {"width": "-1:2", "allowed": "1, 3", "undeclared": "5", "other": [1, 2]}
    assert from_config(given) == {
        "width": (-1.0, 2.0), "allowed": ["1", "3"], "undeclared": "5", "other": [1, 2]
    }
    with pytest.raises(ConfigError, match=r"\[restrictions\] width expects LOW < HIGH"):
        from_config({"width": "2:1"})
    with pytest.raises(ConfigError, match=r"\[restrictions\] seed must be a number"):
        from_config({"seed": "many"})
    env = RunConfig(raw={"env": "pick", "restrictions": {"allowed": "1,3"}}).build_env()
    assert env.allowed == (1, 3)
