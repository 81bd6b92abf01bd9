"""Run config values are checked up front, by type and range, naming the key, the value and
what is accepted (they used to be tracebacks deep in training)."""

from __future__ import annotations

import math

import pytest
from crystalgfn.config import RunConfig
from crystalgfn.errors import ConfigError

BASE = {"proxy": "density", "reward": {"kind": "identity"}}


@pytest.mark.parametrize(
    "key, value, message",
    [
        ("steps", "many", r"steps must be an integer >= 1, got 'many' \(a string\)"),
        ("steps", 0, r"steps must be an integer >= 1, got 0"),
        ("steps", 2.5, r"steps must be an integer >= 1, got 2\.5 \(a number\)"),
        ("steps", True, r"steps must be an integer >= 1, got True \(a boolean\)"),
        ("lr", "fast", r"lr must be a number > 0, got 'fast' \(a string\)"),
        ("lr", math.nan, r"lr must be a number > 0, got nan"),
        ("lr", -1e-3, r"lr must be a number > 0, got -0\.001"),
        ("batch_size", [64], r"batch_size must be an integer >= 1, got \[64\] \(an array\)"),
        ("epsilon", 1.5, r"epsilon must be a number in \[0, 1\], got 1\.5"),
        ("replay_fraction", 1, r"replay_fraction must be a number in \[0, 1\), got 1"),
        ("temperature", 0, r"temperature must be a number > 0, got 0"),
        ("learn_backward", "yes", r"learn_backward must be true or false, got 'yes' \(a string\)"),
        ("seed", -1, r"seed must be an integer in \[0, \d+\], got -1"),
        ("device", "gpu", r"device must be one of \['cpu', 'cuda'\], got 'gpu'"),
        ("threads", "2", r"threads must be an integer >= 1, got '2' \(a string\)"),
        ("checkpoint_every", 0, r"checkpoint_every must be an integer >= 1, got 0"),
        ("replay_capacity", -3, r"replay_capacity must be an integer >= 0, got -3"),
        ("on_nan", "ignore", r"on_nan must be one of \['error', 'floor'\], got 'ignore'"),
        ("loss", 3, r"loss must be a string, got 3 \(an integer\)"),
        ("env", ["crystal"], r"env must be a string, got \['crystal'\] \(an array\)"),
        ("env_kwargs", "composition", r"\[env_kwargs\] must be a table of keyword arguments"),
        ("restrictions", 5, r"\[restrictions\] must be a table of keyword arguments, got 5"),
    ],
)
def test_a_wrong_setting_names_the_key_the_value_and_what_is_accepted(key, value, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict({**BASE, key: value})


@pytest.mark.parametrize(
    "reward, message",
    [
        ({"kind": "power", "exponent": "one"}, r"reward\.exponent must be a finite .*got 'one'"),
        ({"kind": "exponential", "beta": True}, r"reward\.beta must be a finite number .*got True"),
        ({"kind": "rbf", "target": 1.0, "sigma": 0}, r"reward\.sigma must be > 0, got 0"),
        ({"kind": 3}, r"unknown reward kind 3; accepted: \['exponential', 'identity'"),
        ({"kind": "identity", "min_reward": "tiny"}, r"min_reward must be > 0 .*, got 'tiny'"),
    ],
)
def test_a_wrong_reward_value_is_named(reward, message):
    with pytest.raises(ConfigError, match=message):
        RunConfig.from_dict({"proxy": "density", "reward": reward})


def test_objectives_are_checked_entry_by_entry():
    good = {"proxy": "density", "reward": {"kind": "identity"}}
    with pytest.raises(ConfigError, match=r"objectives\[2\]\.weight must be a number, got 'x'"):
        RunConfig.from_dict({"objectives": [good, {**good, "weight": "x"}]})
    with pytest.raises(ConfigError, match=r"objectives\[1\]\.reward\.beta must be a finite number"):
        RunConfig.from_dict({"objectives": [{"proxy": "density", "reward": {"beta": "-8"}}]})
    with pytest.raises(ConfigError, match=r"objective 1 needs a proxy"):
        RunConfig.from_dict({"objectives": [{"weight": 1.0}]})
    with pytest.raises(ConfigError, match=r"\[\[objectives\]\] must be a non-empty array"):
        RunConfig.from_dict({"objectives": ["density"]})


def test_data_fraction_is_checked_with_data():
    fraction = r"data_fraction must be in \(0, 1\) when data is given, got 0\.0"
    with pytest.raises(ConfigError, match=fraction):
        RunConfig.from_dict({**BASE, "data": "crystals.csv"})
    with pytest.raises(ConfigError, match=r"data must be a string, got 3"):
        RunConfig.from_dict({**BASE, "data": 3, "data_fraction": 0.5})


def test_a_config_file_error_names_the_file(tmp_path):
    path = tmp_path / "run.toml"
    path.write_text('proxy = "density"\nsteps = "many"\n')
    with pytest.raises(ConfigError, match=r"run\.toml: steps must be an integer >= 1, got 'many'"):
        RunConfig.from_file(path)


def test_accepted_values_pass():
    config = RunConfig.from_dict(
        {**BASE, "steps": 5, "lr": 1, "epsilon": 0.0, "learn_backward": True, "device": "cpu",
         "reward": {"kind": "power", "exponent": 2}}
    )
    assert config.settings().lr == 1 and config.settings().steps == 5
