"""Small command-line defects: a closed pipe, misspelt or unknown elements, negative ranges."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from crystalgfn.cli import main
from crystalgfn.compose import make_env
from crystalgfn.errors import UnknownNameError

CONFIGS = Path(__file__).resolve().parents[1] / "configs"


def test_a_closed_pipe_ends_quietly(tmp_path):
    """``crystalgfn plugins | head``: the reader goes away before the output is written."""
    process = subprocess.Popen(
        [sys.executable, "-m", "crystalgfn", "plugins"], cwd=tmp_path,
        stdout=subprocess.PIPE, stderr=subprocess.PIPE,
    )
    process.stdout.close()  # before the command (which imports for seconds) prints anything
    error = process.stderr.read().decode()
    assert process.wait(timeout=120) == 141, error
    assert "Traceback" not in error and "BrokenPipeError" not in error, error


@pytest.fixture(scope="module")
def fe_li_o():
    return make_env("composition", elements=["Fe", "Li", "O"])


def test_an_element_in_the_wrong_case_gets_a_did_you_mean(fe_li_o):
    with pytest.raises(UnknownNameError, match=r"unknown element 'fe'\. Did you mean 'Fe'\?"):
        fe_li_o.restrict(elements=["fe", "O"])
    with pytest.raises(UnknownNameError, match=r"unknown element 'o'\. Did you mean 'O'\?"):
        make_env("composition", elements=["Fe", "o"])


def test_an_unknown_element_lists_the_allowed_ones_not_all_118(fe_li_o):
    with pytest.raises(UnknownNameError) as raised:
        fe_li_o.restrict(elements=["Xx"])
    message = str(raised.value)
    assert message.endswith("Allowed element names: Fe, Li, O."), message
    assert "Og" not in message and "He" not in message
    # A real element outside the allowed ones is named as such.
    with pytest.raises(Exception, match=r"\['Cu'\] are not among the allowed elements"):
        fe_li_o.restrict(elements=["Cu"])


@pytest.mark.parametrize("flag", ["--lengths", "--angles"])
def test_a_negative_range_suggests_the_attached_form(tmp_path, capsys, flag):
    with pytest.raises(SystemExit) as exited:
        main(["sample", "--out", str(tmp_path / "s.csv"), flag, "-1:5"])
    assert exited.value.code == 2
    error = capsys.readouterr().err
    assert f"argument {flag}: '-1:5' starts with '-'" in error and f"{flag}=-1:5" in error


@pytest.mark.parametrize(
    ("argv", "expected"),
    [
        (["sample", "--policy", "uniform", "-n", "3"], "cores"),  # large batches: every core
        (["--threads", "1", "sample", "--policy", "uniform", "-n", "3"], 1),
        (["report", "missing.csv"], 1),  # everything else: one thread unless told
    ],
)
def test_threads_default_to_every_core_for_sample_only(tmp_path, monkeypatch, argv, expected):
    import torch
    from crystalgfn import cli

    calls = []
    monkeypatch.setattr(torch, "set_num_threads", calls.append)
    monkeypatch.setattr(cli, "_usable_cores", lambda: 7)
    main([*argv, "--out", str(tmp_path / "out")])
    assert calls == [7 if expected == "cores" else expected]


@pytest.mark.parametrize("case", sorted(p.stem for p in CONFIGS.glob("restricted_*.toml")))
def test_a_configs_restrictions_as_flags_read_back_to_the_same_restrictions(case):
    """``as_flags`` is the inverse of the flags' parsing: the paper's cases A–D, given in a
    run config's ``[restrictions]``, reach ``restrict`` the same way as command-line flags."""
    import argparse

    import tomllib
    from crystalgfn.restrictions import (
        add_restriction_arguments,
        as_flags,
        from_config,
        restrictions_from_args,
    )

    table = tomllib.loads((CONFIGS / f"{case}.toml").read_text())["restrictions"]
    restrictions = from_config(table)
    parser = argparse.ArgumentParser()
    add_restriction_arguments(parser)
    argv = as_flags(restrictions)
    read_back = restrictions_from_args(parser.parse_args(argv))

    def lists(given):  # a TOML array and a parsed range (a tuple) are the same restriction
        return {k: list(v) if isinstance(v, (list, tuple)) else v for k, v in given.items()}

    assert lists(read_back) == lists(restrictions), argv


def test_as_flags_names_an_undeclared_restriction():
    from crystalgfn.errors import ConfigError
    from crystalgfn.restrictions import as_flags

    with pytest.raises(ConfigError, match=r"restriction 'colour' is not declared .*'elements'"):
        as_flags({"colour": "red"})
