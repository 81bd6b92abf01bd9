"""Listing plugins and asking for help stay fast: they import neither torch nor the heavy
libraries of the first-party plugins. (Timings are in bench/startup.py, not here.)"""

import importlib.metadata
import os
import subprocess
import sys
from pathlib import Path

import pytest

try:
    import tomllib
except ModuleNotFoundError:  # Python 3.10
    import tomli as tomllib
from crystalgfn.plugins import BLOCK_ENV_VAR, ENTRY_POINT_GROUP, get_plugins

#: Where the first-party distributions live: each has a pyproject.toml there.
ROOT = Path(__file__).resolve().parents[1]

HEAVY = ("torch", "pymatgen", "pyxtal", "chgnet", "matplotlib")

PROBE = """
import sys
from crystalgfn.cli import main
try:
    status = main({argv!r})
except SystemExit as exit:  # --help exits from argparse
    status = exit.code
heavy = sorted(name for name in {heavy!r} if name in sys.modules)
print("HEAVY:" + ",".join(heavy))
sys.exit(status)
"""


def _first_party_distributions() -> set[str]:
    folders = [ROOT / "core", *ROOT.glob("plugins/*"), *ROOT.glob("proxies/*")]
    return {
        tomllib.loads((folder / "pyproject.toml").read_text())["project"]["name"]
        for folder in folders
        if (folder / "pyproject.toml").is_file()
    }


def _third_party_distributions() -> list[str]:
    ours = _first_party_distributions()
    found = {
        entry_point.dist.metadata["Name"]
        for entry_point in importlib.metadata.entry_points(group=ENTRY_POINT_GROUP)
        if entry_point.dist is not None
    }
    return sorted(found - ours)


@pytest.mark.parametrize("argv", [["plugins"], ["plugins", "--json"], ["--help"]])
def test_command_imports_nothing_heavy(argv):
    # Only the first-party plugins: a third-party one installed by another test (the docs'
    # example, which imports torch at module level) is its author's choice.
    env = {**os.environ, BLOCK_ENV_VAR: ",".join(_third_party_distributions())}
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True, text=True, timeout=120, env=env,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip().splitlines()[-1] == "HEAVY:", result.stdout


def test_every_registered_reference_resolves_to_an_object_of_that_name():
    """A registration by reference is only checked when used; check them all here."""
    for kind, registry in get_plugins().registries().items():
        for entry in registry:
            if kind == "constraint":
                assert callable(entry.factory), entry
                continue
            assert getattr(entry.factory, "name", entry.name) == entry.name, (kind, entry)


def test_plugins_check_imports_everything(capsys):
    from crystalgfn.cli import main

    assert main(["plugins", "--check"]) == 0
    assert "FAILED" not in capsys.readouterr().out
