"""Reusable timing tools: interleaved median timers and a report of the process settings.

Used by ``benchmarks/run.py`` (layers) and meant for other benchmarks too
(e.g. an epoch-time benchmark of the models): build a dict of
``name -> zero-argument callable`` and call :func:`race`.

Why interleaved: the machine is shared, so the load changes while a
benchmark runs. Timing contender A for ten seconds and then contender B
would turn a change of load into a change of ratio; running them in rounds
(A, B, C, A, B, C, ...) exposes every contender to the same conditions.
"""

from __future__ import annotations

import gc
import os
import platform
import statistics
import sys
import time
from dataclasses import dataclass, field
from typing import Callable

# The "tuned" environment: variables a learner's plain python does not have,
# which glibc, OpenBLAS and libgomp read only at start-up.
TUNED_ENV = {
    "OPENBLAS_THREAD_TIMEOUT": "4",
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),  # glibc's maximum
    "MALLOC_TRIM_THRESHOLD_": str(1024 * 1024 * 1024),
    "OMP_WAIT_POLICY": "passive",
}


def reexec_tuned(script: str) -> None:
    """Re-execute `script` with :data:`TUNED_ENV` set, unless it is set already."""
    missing = {k: v for k, v in TUNED_ENV.items() if k not in os.environ}
    if not missing:
        return
    os.environ.update(missing)
    os.execv(sys.executable, [sys.executable, os.path.abspath(script), *sys.argv[1:]])


# Settings that change timings on this machine; reported with every result.
ENV_VARS = ("OPENBLAS_THREAD_TIMEOUT", "OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "OMP_WAIT_POLICY",
            "GOMP_SPINCOUNT", "MALLOC_MMAP_THRESHOLD_", "MALLOC_TRIM_THRESHOLD_", "NUMBA_NUM_THREADS",
            "NUMBA_THREADING_LAYER", "NUMBA_CACHE_DIR", "NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES",
            "CNNLIB_THREAD_POLICY")
# The x86 vector extensions that decide which code numba and the BLAS libraries run.
VECTOR_FLAGS = ("sse4_2", "avx", "avx2", "fma", "avx512f", "avx512dq", "avx512bw", "avx512vl", "avx512_vnni",
                "avx512_bf16", "avx512_fp16", "amx_tile")


@dataclass
class Timing:
    """Wall-clock times of one contender, in milliseconds."""

    first_ms: float  # the first call: JIT compilation or cache loading included
    runs_ms: list[float] = field(default_factory=list)

    @property
    def median_ms(self) -> float:
        return statistics.median(self.runs_ms)

    @property
    def min_ms(self) -> float:
        return min(self.runs_ms)

    def as_dict(self) -> dict:
        return dict(median_ms=round(self.median_ms, 4), min_ms=round(self.min_ms, 4), runs=len(self.runs_ms),
                    first_call_ms=round(self.first_ms, 3))


def _time_once(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return (time.perf_counter() - start) * 1e3


# OpenBLAS's worker threads busy-wait about 0.1 s after each matrix product
# before they sleep (libgomp's and numba's threads far less): a contender timed
# right after the NumPy baseline loses a core to them. Measured on AlexNet
# conv1: cnnlib 65 ms right after the baseline, 35 ms after a 0.12 s pause.
# A pause alone costs the next call its warm caches (a depthwise layer went
# from 4 to 8 ms), hence the untimed call after it.
SETTLE_SECONDS = 0.12


def race(contenders: dict[str, Callable[[], object]], *, rounds: int = 15, warmup: int = 2,
         min_seconds: float = 0.0, max_rounds: int = 200, settle: float = SETTLE_SECONDS) -> dict[str, Timing]:
    """Median wall time of each zero-argument callable, timed in interleaved rounds.

    Parameters
    ----------
    contenders : dict of name -> callable
        Each call must do the full piece of work (e.g. forward and backward).
    rounds : int
        Timed calls per contender (at least).
    warmup : int
        Untimed calls per contender after the first call; the first call
        (compilation or cache loading) is reported separately as ``first_ms``.
    min_seconds : float
        Keep adding rounds, up to `max_rounds`, until this much time has
        been spent timing: short kernels get more samples.
    settle : float
        Before every timed call, an untimed pause of this many seconds and
        one untimed call: each timed call then starts with the other
        libraries' worker threads asleep and its own data and clock warm, as
        in a process that runs only one library (see ``SETTLE_SECONDS``).
        Not counted in `min_seconds`; 0 turns both off.

    Garbage collection is off while timing, as in :mod:`timeit`.
    """
    timings = {name: Timing(first_ms=_time_once(fn)) for name, fn in contenders.items()}
    for fn in contenders.values():
        for _ in range(warmup):
            fn()
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        timed = 0.0
        done = 0
        while done < rounds or (timed < min_seconds and done < max_rounds):
            for name, fn in contenders.items():
                if settle:
                    time.sleep(settle)
                    fn()  # untimed: caches and clock back up after the pause
                ms = _time_once(fn)
                timings[name].runs_ms.append(ms)
                timed += ms / 1000
            done += 1
    finally:
        if was_enabled:
            gc.enable()
    return timings


def machine_report() -> dict:
    """Versions, thread counts, load and the environment settings that affect timings."""
    import numpy as np

    report: dict = {
        "python": platform.python_version(),
        "platform": platform.platform(),
        "cpu": _cpu_model(),
        "cpu_vector_extensions": _vector_extensions(),
        "cpu_count": os.cpu_count(),
        "cpus_usable": len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count(),
        "numpy": np.__version__,
        "loadavg_1_5_15": [round(v, 2) for v in os.getloadavg()],
        "env": {k: os.environ.get(k) for k in ENV_VARS},
    }
    try:
        import numba

        report["numba"] = numba.__version__
        report["numba_threads"] = numba.get_num_threads()
        report["numba_threading_layer"] = _numba_layer()
        # the CPU numba compiles for: the host's, unless NUMBA_CPU_NAME says otherwise (e.g. haswell = AVX2)
        report["numba_target_cpu"] = numba.config.CPU_NAME or _host_cpu_name()
    except ImportError:  # pragma: no cover - numba is a dependency of cnnlib
        pass
    if "cnnlib.functional.numba_backend" in sys.modules:
        report["cnnlib_thread_policy"] = sys.modules["cnnlib.functional.numba_backend"].thread_policy()
        cache = sys.modules["cnnlib.functional._kernel_cache"]
        report["cnnlib_vector_width"] = {"report": cache.VECTOR_WIDTH_REPORT, "float32_lanes": cache.VECTOR_LANES}
    try:
        from threadpoolctl import threadpool_info

        report["threadpools"] = [{k: lib.get(k) for k in ("user_api", "internal_api", "num_threads", "version",
                                                          "architecture", "prefix")} for lib in threadpool_info()]
    except ImportError:
        pass
    try:
        import torch

        report["torch"] = torch.__version__
        report["torch_threads"] = torch.get_num_threads()
    except ImportError:
        report["torch"] = None
    try:
        blas = np.show_config(mode="dicts")["Build Dependencies"]["blas"]
        report["numpy_blas"] = f"{blas.get('name')} {blas.get('version')}"
    except Exception:  # show_config's layout is not a stable API
        report["numpy_blas"] = None
    return report


def reference_matmul(threads: int, size: int = 2048, rounds: int = 7) -> dict:
    """How fast this host multiplies matrices: a float32 ``size``-cubed product, GMAC/s.

    The machines of one class differ by 2x from session to session (same CPU
    model, different neighbours), so absolute times of two runs say little.
    This figure, measured in the same run, puts them side by side: a kernel's
    GMAC/s over it is a share of what the host's BLAS reaches. Both torch's
    (oneDNN/MKL) and NumPy's BLAS, medians and best of `rounds`.
    """
    import numpy as np

    rng = np.random.default_rng(0)
    a = rng.standard_normal((size, size), dtype=np.float32)
    b = rng.standard_normal((size, size), dtype=np.float32)
    contenders: dict[str, Callable[[], object]] = {"numpy": lambda: a @ b}
    try:
        import torch

        torch.set_num_threads(threads)
        ta, tb = torch.from_numpy(a), torch.from_numpy(b)
        contenders["torch"] = lambda: ta @ tb
    except ImportError:  # pragma: no cover - torch is the rival of every benchmark
        pass
    result: dict = {"size": size, "threads": threads}
    for name, fn in contenders.items():
        fn()  # warm-up: thread pools, page faults
        times = [_time_once(fn) for _ in range(rounds)]
        macs = float(size) ** 3
        result[name] = {"median_gmacs": round(macs / statistics.median(times) / 1e6, 1),
                        "best_gmacs": round(macs / min(times) / 1e6, 1)}
    return result


def format_reference(ref: dict) -> str:
    """One line: the host's float32 matrix-product rate per library."""
    rates = ", ".join(f"{name} {ref[name]['median_gmacs']:.1f} (best {ref[name]['best_gmacs']:.1f})"
                      for name in ("torch", "numpy") if name in ref)
    return f"host reference, float32 {ref['size']}^3 matrix product on {ref['threads']} threads, GMAC/s: {rates}"


def _numba_layer() -> str | None:
    import numba

    try:
        return numba.threading_layer()
    except ValueError:  # no parallel kernel has run yet
        return None


def _host_cpu_name() -> str | None:
    try:
        import llvmlite.binding as ll

        return ll.get_host_cpu_name()
    except Exception:  # llvmlite's API is numba's business
        return None


def _vector_extensions() -> list[str]:
    """The flags of VECTOR_FLAGS that /proc/cpuinfo lists for the first CPU."""
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("flags"):
                    flags = set(line.split(":", 1)[1].split())
                    return [f for f in VECTOR_FLAGS if f in flags]
    except OSError:
        pass
    return []


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as fh:
            for line in fh:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()
