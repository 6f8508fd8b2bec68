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

Vector width
------------
LLVM's tuning for Intel CPUs with AVX-512 prefers 256-bit vectors (the
``prefer-256-bit`` tuning flag, from CPUs that slowed their clock for
512-bit code). The convolution kernels keep their accumulators in vector
registers and are bound by multiply-add throughput, which 512-bit vectors
double: on a 2-core AVX-512 Xeon the forward kernel ran a 3x3 convolution
of 64 channels at ~70 GMAC/s with 256-bit and ~105 GMAC/s with 512-bit
vectors. So on a host with
AVX-512, :func:`configure_vector_width` (run when this module is imported,
before any kernel is decorated) starts numba's code generator with the
host's features plus ``-prefer-256-bit``. It does so by putting
``NUMBA_CPU_FEATURES`` in the environment for the moment numba builds its
code generator, and removing it again. This applies to all numba code of
the process, a learner's own ``@njit`` functions included (their vector
loops may then use 512-bit registers too; their results can change only
where ``fastmath`` lets a sum be reordered). Nothing is done if numba has
compiled anything before cnnlib was imported, if ``NUMBA_CPU_NAME`` or
``NUMBA_CPU_FEATURES`` is set (the user's choice wins), or with
``CNNLIB_WIDE_VECTORS=off`` in the environment. :data:`VECTOR_LANES`, the
float32 lanes of the vectors LLVM will use (8 or 16), sizes the kernels'
register blocks; numba's cache keys its code by the code generator's
features, so a cache written with one width is never loaded with the other.
"""

from __future__ import annotations

import hashlib
import os
from functools import lru_cache
from pathlib import Path

import numba

__all__ = ["njit", "sources_hash", "kernel_files", "configure_vector_width", "VECTOR_LANES",
           "WIDE_VECTORS_VARIABLE"]

WIDE_VECTORS_VARIABLE = "CNNLIB_WIDE_VECTORS"
_NUMBA_CPU_VARIABLES = ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES")

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


def _codegen_started() -> bool:
    """True once numba has built its CPU code generator (any @njit decoration does)."""
    from numba.core.registry import cpu_target

    return "_toplevel_target_context" in vars(cpu_target)


def _codegen_features() -> str:
    """The feature string numba's code generator compiles with (building it if needed)."""
    from numba.core.registry import cpu_target

    return cpu_target.target_context.codegen()._tm_features


def configure_vector_width() -> str:
    """Let numba use 512-bit vectors on AVX-512 hosts (see the module docstring); returns what was done."""
    import llvmlite.binding as llvm
    from numba.core import config

    if os.environ.get(WIDE_VECTORS_VARIABLE, "").strip().lower() in {"off", "0", "no", "false", "none"}:
        return f"untouched ({WIDE_VECTORS_VARIABLE}=off)"
    if _codegen_started():
        return "untouched (numba compiled code before cnnlib was imported)"
    preset = [name for name in _NUMBA_CPU_VARIABLES if os.environ.get(name)]
    if preset:
        return "from the environment (" + ", ".join(preset) + ")"
    features = llvm.get_host_cpu_features().flatten()
    if "+avx512f" not in features.split(","):
        return "untouched (no AVX-512)"
    os.environ["NUMBA_CPU_FEATURES"] = features + ",-prefer-256-bit"
    try:
        config.reload_config()
        _codegen_features()  # builds the code generator with these features, once per process
    finally:
        del os.environ["NUMBA_CPU_FEATURES"]
        config.reload_config()
    return "512-bit vectors (host features, -prefer-256-bit)"


def _lanes(features: str) -> int:
    """float32 lanes of the vectors LLVM prefers under `features` (16 with AVX-512 unless 256-bit is preferred)."""
    flags = features.split(",")
    return 16 if "+avx512f" in flags and "-prefer-256-bit" in flags else 8


VECTOR_WIDTH_REPORT = configure_vector_width()
VECTOR_LANES = _lanes(_codegen_features())
