"""Settings for the whole test suite (every test folder is below this one)."""

import os
import shutil
import tempfile

# The suite never reads or writes the user's table cache (~/.cache/crystalgfn): it gets a
# fresh one, shared by its tests, the commands they run and its pytest-xdist workers (they
# inherit the variable), unless one is given explicitly. Writes to it are atomic, so the
# workers may fill it together.
_CREATED_CACHE = None
if "CRYSTALGFN_CACHE_DIR" not in os.environ:
    _CREATED_CACHE = tempfile.mkdtemp(prefix="crystalgfn-test-cache-")
    os.environ["CRYSTALGFN_CACHE_DIR"] = _CREATED_CACHE


def pytest_unconfigure(config):
    """Remove the cache this process created (about 25 MB of tables), so that runs of the
    suite do not pile up in the temporary directory. Workers inherit the variable and
    create none; the process that created it removes it, after they have finished."""
    if _CREATED_CACHE is not None:
        shutil.rmtree(_CREATED_CACHE, ignore_errors=True)
