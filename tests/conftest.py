import importlib
import shutil
import subprocess
import sys
from pathlib import Path

import crystalgfn
import pytest
from crystalgfn.plugins import reset_plugins


@pytest.fixture(scope="session")
def crystal_env():
    """The paper's default crystal stack: 230 groups, 22 elements, <= 16 atoms, 5 elements."""
    return crystalgfn.make_env("crystal")


EXAMPLE = Path(__file__).resolve().parents[1] / "docs" / "examples" / "crystalgfn-volume-per-atom"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]


@pytest.fixture(scope="session")
def installed_example(tmp_path_factory):
    source = tmp_path_factory.mktemp("example") / EXAMPLE.name
    shutil.copytree(EXAMPLE, source)
    subprocess.run([*PIP, "install", "--no-deps", "--no-build-isolation", str(source)], check=True)
    importlib.invalidate_caches()
    reset_plugins()
    yield
    subprocess.run([*PIP, "uninstall", "--yes", "crystalgfn-volume-per-atom"], check=True)
    importlib.invalidate_caches()
    reset_plugins()


