import types

import numpy as np
import pytest
from crystalgfn import cache


@pytest.fixture
def cache_dir(tmp_path, monkeypatch):
    monkeypatch.setenv(cache.CACHE_DIR_VAR, str(tmp_path))
    return tmp_path


def counting_builder(value):
    calls = []

    def build():
        calls.append(1)
        return {"table": np.arange(6).reshape(2, 3) * value, "flag": np.array(True)}

    return build, calls


def test_second_call_reads_the_entry(cache_dir):
    build, calls = counting_builder(2)
    first = cache.cached_arrays("t", (3, np.ones(4, dtype=bool)), build)
    second = cache.cached_arrays("t", (3, np.ones(4, dtype=bool)), build)
    assert len(calls) == 1
    assert np.array_equal(first["table"], second["table"]) and second["table"].dtype == np.int64
    assert bool(second["flag"]) is True


def test_key_covers_array_contents_and_code(cache_dir):
    build, calls = counting_builder(1)
    cache.cached_arrays("t", (np.zeros(3),), build)
    cache.cached_arrays("t", (np.array([0.0, 0.0, 1.0]),), build)  # another array value
    code_a = types.ModuleType("algo")
    code_b = types.ModuleType("algo")
    source = {code_a: "def f(): return 1\n", code_b: "def f(): return 2\n"}
    original = cache.inspect.getsource
    cache.inspect.getsource = lambda module: source[module]
    try:
        cache.cached_arrays("t", (np.zeros(3),), build, code=[code_a])
        cache.cached_arrays("t", (np.zeros(3),), build, code=[code_b])  # the algorithm changed
        cache.cached_arrays("t", (np.zeros(3),), build, code=[code_b])
    finally:
        cache.inspect.getsource = original
    assert len(calls) == 4


def test_damaged_entry_is_rebuilt(cache_dir):
    build, calls = counting_builder(1)
    cache.cached_arrays("t", (1,), build)
    [entry] = (cache_dir / "t").glob("*.npz")
    entry.write_bytes(b"not a zip file")
    again = cache.cached_arrays("t", (1,), build)
    assert len(calls) == 2 and again["table"].shape == (2, 3)
    assert cache.cached_arrays("t", (1,), build)["table"].shape == (2, 3) and len(calls) == 2


def test_pickled_entry_is_never_loaded(cache_dir):
    build, calls = counting_builder(1)
    cache.cached_arrays("t", (1,), build)
    [entry] = (cache_dir / "t").glob("*.npz")
    np.savez(entry, table=np.array([object()], dtype=object))  # needs pickle to read
    assert cache.cached_arrays("t", (1,), build)["table"].dtype == np.int64
    assert len(calls) == 2


def test_off_and_unwritable(tmp_path, monkeypatch):
    build, calls = counting_builder(1)
    monkeypatch.setenv(cache.CACHE_DIR_VAR, "off")
    assert cache.cache_dir() is None
    cache.cached_arrays("t", (1,), build)
    cache.cached_arrays("t", (1,), build)
    assert len(calls) == 2
    blocker = tmp_path / "file"
    blocker.write_text("a file where the cache folder would be")
    monkeypatch.setenv(cache.CACHE_DIR_VAR, str(blocker / "cache"))
    assert cache.cached_arrays("t", (1,), build)["table"].shape == (2, 3)


def test_unhashable_key_is_refused(cache_dir):
    with pytest.raises(TypeError, match="cannot key the cache on object"):
        cache.cached_arrays("t", (object(),), lambda: {})


def test_int_mapping_round_trip():
    mapping = {-1: 7, 3: -1, 12: 0}
    assert cache.unpack_int_mapping(cache.pack_int_mapping(mapping)) == mapping
    assert cache.unpack_int_mapping(cache.pack_int_mapping({})) == {}


def test_an_entry_is_read_one_array_at_a_time(cache_dir, monkeypatch):
    """Reading one array of an entry leaves the (large) others unread: a damaged array is
    noticed (and the entry rebuilt) only when it is asked for."""
    monkeypatch.setattr(cache, "_EAGER_BYTES", 4)  # "large": the 48-byte table, not the flag
    build, calls = counting_builder(1)
    cache.cached_arrays("t", (1,), build)
    [entry] = (cache_dir / "t").glob("*.npz")
    np.savez(entry, table=np.array([object()], dtype=object), flag=np.array(True))
    stored = cache.cached_arrays("t", (1,), build)
    assert sorted(stored) == ["flag", "table"] and len(stored) == 2
    assert bool(stored["flag"]) and len(calls) == 1  # the damaged table was not read
    assert stored["table"].shape == (2, 3) and len(calls) == 2  # now it is, and rebuilt
    assert cache.cached_arrays("t", (1,), build)["table"].dtype == np.int64 and len(calls) == 2
    with pytest.raises(KeyError):
        stored["missing"]
