"""Settings for the whole test suite (every test folder is below this one)."""

import os
import tempfile

# The suite never reads or writes the user's table cache (~/.cache/crystalgfn): it gets a
# fresh one, shared by its tests and the commands they run, unless one is given explicitly.
if "CRYSTALGFN_CACHE_DIR" not in os.environ:
    os.environ["CRYSTALGFN_CACHE_DIR"] = tempfile.mkdtemp(prefix="crystalgfn-test-cache-")
