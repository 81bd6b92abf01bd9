"""Install the worked example plugins of docs/examples for a test, as a user would: by pip,
found through their entry points.

Each install goes into a directory of its own, put first on ``sys.path`` (and on the
``PYTHONPATH`` of subprocesses, through :func:`subprocess_env`), never into the suite's
environment: other pytest-xdist workers and later runs of the suite do not see the examples,
even when a run is killed before its teardown.
"""

from __future__ import annotations

import contextlib
import importlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

from crystalgfn.plugins import reset_plugins

EXAMPLES = Path(__file__).resolve().parents[1] / "docs" / "examples"
PIP = [sys.executable, "-m", "pip", "--disable-pip-version-check", "--quiet"]


@contextlib.contextmanager
def installed_examples(work: Path, *names: str) -> Iterator[Path]:
    """Install the examples ``names`` (folders of docs/examples) under ``work`` and yield the
    directory they are installed in; remove them from this process on exit."""
    target = work / "site"
    for name in names:
        source = work / name
        ignore = shutil.ignore_patterns("*.egg-info", "build")
        shutil.copytree(EXAMPLES / name, source, ignore=ignore)
        subprocess.run(
            [*PIP, "install", "--no-deps", "--no-build-isolation", "--target", str(target),
             str(source)],
            check=True,
        )
    modules = {path.name.split(".")[0].removesuffix(".py") for path in target.iterdir()}
    sys.path.insert(0, str(target))
    importlib.invalidate_caches()
    reset_plugins()
    try:
        yield target
    finally:
        sys.path.remove(str(target))
        for module in [m for m in sys.modules if m.split(".")[0] in modules]:
            del sys.modules[module]
        importlib.invalidate_caches()
        reset_plugins()


def subprocess_env(target: Path) -> dict[str, str]:
    """This process's environment with ``target`` first on ``PYTHONPATH``."""
    paths = [str(target), *filter(None, os.environ.get("PYTHONPATH", "").split(os.pathsep))]
    return {**os.environ, "PYTHONPATH": os.pathsep.join(paths)}
