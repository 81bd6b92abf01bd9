"""Listing plugins and asking for help stay fast: they import neither torch nor the heavy
libraries of the first-party plugins. (Timings are in bench/startup.py, not here.)"""

import subprocess
import sys

import pytest

from crystalgfn.plugins import get_plugins

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


@pytest.mark.parametrize("argv", [["plugins"], ["plugins", "--json"], ["--help"]])
def test_command_imports_nothing_heavy(argv):
    result = subprocess.run(
        [sys.executable, "-c", PROBE.format(argv=argv, heavy=HEAVY)],
        capture_output=True, text=True, timeout=120,
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
