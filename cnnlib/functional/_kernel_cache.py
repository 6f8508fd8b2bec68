"""numba's on-disk cache for cnnlib's kernels, keyed by every kernel source file.

numba's ``cache=True`` decides whether cached machine code is fresh by
hashing one file: the one that defines the function. A kernel that calls a
helper from another module (``max_pool`` calls ``split_phases`` from
``_numba_layout``) or reads a constant from one (``TILE`` from
``_numba_conv``) has that code compiled *into* it, so an edit to the helper
would leave the old machine code in use until the cache was deleted by hand.

:func:`njit` here is ``numba.njit(cache=True, ...)`` whose freshness stamp is
replaced by a hash of *all* ``_numba_*.py`` files of this package: editing
any of them makes every kernel's cache stale, and numba recompiles and
overwrites it on the next call. A process still running older code writes
the older hash, which the newer code rejects in turn: stale machine code is
never loaded, whichever process wrote last.

Rule that keeps this sound: a kernel module (``_numba_*.py``) imports
nothing of cnnlib except other ``_numba_*`` modules and this one (a test
checks it).

The stamp is numba's ``IndexDataCacheFile._source_stamp`` (an internal
attribute, present from numba 0.49 to 0.68 at least). If a future numba
moves it, :func:`njit` turns the disk cache off for cnnlib's kernels instead:
slower first calls (about 30 s of compiling), never stale code.
"""

from __future__ import annotations

import hashlib
from functools import lru_cache
from pathlib import Path

import numba

__all__ = ["njit", "sources_hash", "kernel_files"]

_HERE = Path(__file__).resolve().parent


def kernel_files() -> list[Path]:
    """Every file whose code can end up inside a kernel, sorted.

    The kernel modules ``_numba_*.py`` of this package, and this module,
    whose :func:`njit` sets their compile options.
    """
    return sorted([*_HERE.glob("_numba_*.py"), Path(__file__).resolve()])


@lru_cache(maxsize=1)
def sources_hash() -> bytes:
    """SHA-256 over the names and contents of :func:`kernel_files` (computed once per process)."""
    digest = hashlib.sha256(b"cnnlib kernel sources v1\0")
    for path in kernel_files():
        digest.update(path.name.encode() + b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.digest()


def _key_by_all_sources(dispatcher) -> bool:
    """Make `dispatcher`'s cache stamp the hash of every kernel file; False if numba has no such stamp."""
    cache_file = getattr(getattr(dispatcher, "_cache", None), "_cache_file", None)
    if cache_file is None or not hasattr(cache_file, "_source_stamp"):
        return False
    cache_file._source_stamp = ("cnnlib", sources_hash())
    return True


def njit(*args, **options):
    """``numba.njit`` with ``cache=True``, the cache keyed by every kernel source file.

    Used like ``numba.njit``: ``@njit(parallel=True, fastmath=True)``.
    """
    options.setdefault("cache", True)

    def decorate(function):
        dispatcher = numba.njit(**options)(function)
        if options["cache"] and not _key_by_all_sources(dispatcher):
            _null_cache(dispatcher)
        return dispatcher

    if args and callable(args[0]):  # bare @njit
        return decorate(args[0])
    return decorate


def _null_cache(dispatcher) -> None:
    from numba.core.caching import NullCache

    dispatcher._cache = NullCache()
