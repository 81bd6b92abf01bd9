"""A disk cache for the tables environments compute at start-up (automata, feasibility).

Building the default crystal environment takes seconds of table computation; every command
used to repeat it. :func:`cached_arrays` stores those tables as ``.npz`` files (numpy arrays
only, read with ``allow_pickle=False``: nothing in the cache is executed) under a key that
covers everything the tables depend on:

* the inputs the caller passes in ``key`` (settings, arrays — hashed by value);
* the source code of the modules that compute them (``code``), so that editing the
  algorithm, or installing another version of the package, invalidates the entry;
* the versions of Python and numpy.

A damaged or unreadable entry is rebuilt; a cache folder that cannot be written is skipped.
Where it lives: ``$CRYSTALGFN_CACHE_DIR``, else ``$XDG_CACHE_HOME/crystalgfn``, else
``~/.cache/crystalgfn``. ``CRYSTALGFN_CACHE_DIR=off`` turns it off.
"""

from __future__ import annotations

import hashlib
import inspect
import os
import sys
import weakref
import zipfile
from collections.abc import Callable, Iterable, Mapping
from pathlib import Path
from types import ModuleType

import numpy as np

from crystalgfn.atomic import atomic_path

CACHE_DIR_VAR = "CRYSTALGFN_CACHE_DIR"
#: Bumped when the layout of cache entries changes.
FORMAT = 1


def cache_dir() -> Path | None:
    """The cache folder, or ``None`` when caching is turned off."""
    configured = os.environ.get(CACHE_DIR_VAR)
    if configured is not None:
        return None if configured.strip().lower() in ("", "off", "0", "false") else Path(configured)
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "crystalgfn"


def _feed(digest: hashlib._Hash, value: object) -> None:
    """Hash ``value`` by content: arrays by dtype, shape and bytes; containers recursively."""
    if isinstance(value, np.ndarray):
        array = np.ascontiguousarray(value)
        digest.update(f"ndarray{array.dtype.str}{array.shape}".encode())
        digest.update(array.tobytes())
    elif isinstance(value, Mapping):
        digest.update(b"{")
        for key in sorted(value, key=repr):
            _feed(digest, key)
            _feed(digest, value[key])
        digest.update(b"}")
    elif isinstance(value, (list, tuple)):
        digest.update(b"(" if isinstance(value, tuple) else b"[")
        for item in value:
            _feed(digest, item)
        digest.update(b")")
    elif value is None or isinstance(value, (bool, int, float, str, np.generic)):
        digest.update(f"{type(value).__name__}:{value!r}".encode())
    else:
        raise TypeError(f"cannot key the cache on {type(value).__name__} {value!r}")


def _code_digest(modules: Iterable[ModuleType]) -> str:
    digest = hashlib.sha256()
    for module in modules:
        digest.update(module.__name__.encode())
        digest.update(inspect.getsource(module).encode())
    return digest.hexdigest()


def cache_key(namespace: str, key: object, code: Iterable[ModuleType] = ()) -> str:
    """The file-name-safe digest of ``key`` and the sources of ``code``."""
    digest = hashlib.sha256()
    _feed(digest, (FORMAT, namespace, sys.version_info[:2], np.__version__))
    digest.update(_code_digest(code).encode())
    _feed(digest, key)
    return digest.hexdigest()[:32]


#: What reading a damaged or foreign entry may raise; the entry is then rebuilt.
_READ_ERRORS = (OSError, ValueError, KeyError, zipfile.BadZipFile, EOFError)
#: Arrays up to this size (uncompressed bytes) are read when the entry is opened; larger ones
#: on first access. Opening an ``.npz`` costs about 50 µs, which adds up over the thousands of
#: small entries a conditional run's restricted environments read.
_EAGER_BYTES = 1 << 20


def cached_arrays(
    namespace: str,
    key: object,
    build: Callable[[], Mapping[str, np.ndarray]],
    code: Iterable[ModuleType] = (),
) -> Mapping[str, np.ndarray]:
    """``build()``'s arrays, from the disk cache when an entry for ``key`` exists.

    ``build`` must return a mapping of names to numpy arrays (object arrays are refused) and
    depend on nothing but ``key`` and the modules in ``code``. From an entry on disk, arrays
    over ``_EAGER_BYTES`` are read on first access, so that a caller that needs one small
    array of an entry (say a summary beside a 100 MB table) does not pay for decompressing
    the rest.
    """
    folder = cache_dir()
    path = None if folder is None else folder / namespace / f"{cache_key(namespace, key, code)}.npz"

    def rebuild() -> dict[str, np.ndarray]:
        arrays = {name: np.asarray(value) for name, value in build().items()}
        if path is not None:
            _store(path, arrays)
        return arrays

    if path is not None and path.is_file():
        try:
            with np.load(path, allow_pickle=False) as stored:
                names = tuple(stored.files)
                small = {
                    name: stored[name]
                    for name in names
                    if stored.zip.getinfo(f"{name}.npy").file_size <= _EAGER_BYTES
                }
            return _StoredArrays(path, names, rebuild, small)
        except _READ_ERRORS:
            pass  # damaged or from an incompatible writer: rebuilt and replaced below
    return rebuild()


#: Large arrays already read from an entry by this process, while anything still holds them:
#: restricting an environment can ask for the same 100 MB table twice (two environments built
#: from the same inputs), and decompressing it costs about 0.4 s each time. The entry's path
#: names its content (its key hashes the inputs and the code), so a path read once is the
#: same array every time; callers treat the tables as read-only.
_READ_IN_THIS_PROCESS: weakref.WeakValueDictionary = weakref.WeakValueDictionary()


class _StoredArrays(Mapping):
    """The arrays of one cache entry: ``loaded`` ones, and the others read from its ``.npz``
    file on first access.

    An array that cannot be read (a damaged member, an object array, which would need
    pickle) makes the whole entry be rebuilt with ``rebuild`` and replaced on disk."""

    def __init__(
        self, path: Path, names: tuple[str, ...], rebuild, loaded: dict[str, np.ndarray]
    ) -> None:
        self._path = path
        self._names = names
        self._rebuild = rebuild
        self._loaded = loaded

    def __getitem__(self, name: str) -> np.ndarray:
        if name not in self._loaded:
            if name not in self._names:
                raise KeyError(name)
            shared = _READ_IN_THIS_PROCESS.get((self._path, name))
            if shared is not None:
                self._loaded[name] = shared
                return shared
            try:
                with np.load(self._path, allow_pickle=False) as stored:
                    self._loaded[name] = stored[name]
                _READ_IN_THIS_PROCESS[(self._path, name)] = self._loaded[name]
            except _READ_ERRORS:
                self._loaded = self._rebuild()
        return self._loaded[name]

    def __iter__(self):
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)


def _store(path: Path, arrays: Mapping[str, np.ndarray]) -> None:
    try:
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as handle:
                np.savez_compressed(handle, **arrays)  # bool tables shrink ~60x
    except OSError:
        return  # a read-only or full disk costs speed, never the command


def pack_int_mapping(mapping: Mapping[int, int]) -> np.ndarray:
    """``{int: int}`` as an int64 ``(n, 2)`` array, for :func:`cached_arrays`."""
    return np.array(sorted(mapping.items()), dtype=np.int64).reshape(-1, 2)


def unpack_int_mapping(array: np.ndarray) -> dict[int, int]:
    """The inverse of :func:`pack_int_mapping`."""
    return {int(k): int(v) for k, v in array.tolist()}


__all__ = [
    "CACHE_DIR_VAR",
    "cache_dir",
    "cache_key",
    "cached_arrays",
    "pack_int_mapping",
    "unpack_int_mapping",
]
