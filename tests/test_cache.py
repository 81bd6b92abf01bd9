"""The disk cache of environment tables (crystalgfn.cache)."""

import gc

import numpy as np
from crystalgfn import cache


def test_a_large_array_is_read_once_per_process_while_it_is_held(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_VAR, str(tmp_path))
    large = np.arange(cache._EAGER_BYTES // 8 + 1, dtype=np.float64)  # read on first access
    builds = []

    def build():
        builds.append(1)
        return {"large": large, "small": np.arange(3)}

    cache.cached_arrays("test-shared", "key", build)  # built and stored
    reads = []
    monkeypatch.setattr(cache.np, "load", _counting(np.load, reads))
    first = cache.cached_arrays("test-shared", "key", build)["large"]
    second = cache.cached_arrays("test-shared", "key", build)["large"]
    assert second is first and np.array_equal(first, large)
    assert builds == [1]
    # Two opens of the entry (its small arrays, eagerly) and one read of the large array.
    assert len(reads) == 3
    del first, second
    gc.collect()  # nothing holds it: the next access reads the file again
    assert np.array_equal(cache.cached_arrays("test-shared", "key", build)["large"], large)
    assert len(reads) == 5


def _counting(load, calls):
    def counted(*args, **kwargs):
        calls.append(args[0])
        return load(*args, **kwargs)

    return counted
