"""How cnnlib's kernels use threads: numba's pool, and BLAS around the Linear layers.

A learner runs cnnlib in a plain ``python`` or a notebook kernel, with no
tuning variable set. Two thread pools then fight over the cores:

* numba's parallel kernels run on OpenMP threads that, by OpenMP's default
  policy, keep spinning for a while after each kernel, burning the core
  that NumPy's code, the BLAS threads or the next kernel needs;
* after a NumPy matrix product, OpenBLAS's threads spin too (for about
  0.1 s), so every Linear layer slowed the convolution that followed it.

What cnnlib does about it (:func:`configure_numba` runs when this module
is imported, i.e. with the numba backend or ``cnnlib.layers``, before any
kernel; :func:`blas_threads` wraps the Linear layers' matrix products):

1. numba's OpenMP runtime is started with ``GOMP_SPINCOUNT=10000``
   (:data:`SPIN_COUNT`): an idle numba thread spins that many times (well
   under a millisecond; libgomp's default is 300,000, milliseconds on CPUs
   whose ``pause`` instruction is slow) and then sleeps. The short spin
   keeps the threads awake between the back-to-back parallel loops of one
   layer (LeNet-5's C3 ran 15% faster than with no spinning at all, which
   an earlier version used: ``OMP_WAIT_POLICY=passive``), and the sleep
   frees the core for NumPy's code and other processes. The variable is
   put in the environment only for the moment numba loads its OpenMP
   library (which reads it once, then), and removed again, so torch's
   OpenMP, a subprocess or anything else started later sees the
   environment as it was. Nothing is done if numba's threads were already
   started, or if ``OMP_WAIT_POLICY`` or ``GOMP_SPINCOUNT`` is set (the
   user's choice wins).
2. The matrix products of :class:`cnnlib.layers.Linear` that run in BLAS
   (the small ones with the numba backend, which computes the large ones in
   its own kernels on numba's threads, see :mod:`._products`; all of them
   with the NumPy backends) run with one BLAS thread (threadpoolctl,
   restored right after each product): OpenBLAS's worker threads are never
   woken, so none is left spinning, and the product no longer depends on
   the BLAS thread count.

3. Small work runs on one thread (:func:`serial_when_small`): a parallel
   loop over fewer than :data:`SERIAL_ELEMENTS` values (or a convolution of
   fewer than :data:`SERIAL_MACS` multiply-accumulates) gains little from a
   second thread and pays a hand-over at the start and a barrier at the end.
   When another program keeps a core busy, or when torch was imported first
   and numba's loops then run on torch's OpenMP runtime, whose idle threads
   spin for milliseconds, each such barrier can cost a scheduler time slice:
   chapter 11's narrow residual network (torch imported first, 8 channels
   of 14x14) took 171 ms per step instead of 18 with one core busy, and
   29 ms, busy or not, once its small loops ran on one thread (the price:
   29 instead of 18 ms on a quiet machine; with only the convolutions left
   parallel it was 22 quiet and 127 busy). The kernels give the same result
   for any number of threads (tested), so this changes no number, only
   where it is computed.

Opting out: ``CNNLIB_THREAD_POLICY=off`` in the environment before cnnlib
is imported turns both off; :func:`set_linear_blas_threads` (``None``: leave
BLAS alone) changes (2) at run time. :func:`thread_policy` reports what was
done.
"""

from __future__ import annotations

import os
import threading
from contextlib import contextmanager
from typing import Iterator

import numpy as np

__all__ = ["configure_numba", "blas_threads", "matmul", "serial_when_small", "set_linear_blas_threads",
           "thread_policy", "OPT_OUT_VARIABLE", "SERIAL_ELEMENTS", "SERIAL_MACS"]

OPT_OUT_VARIABLE = "CNNLIB_THREAD_POLICY"
_WAIT_VARIABLES = ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")
SPIN_COUNT = 10_000  # spins of an idle numba thread before it sleeps (see the module docstring)
SERIAL_ELEMENTS = 1 << 17  # elementwise and normalisation loops over fewer values run on one thread
SERIAL_MACS = 1 << 23  # convolutions with fewer multiply-accumulates (8.4 million) run on one thread

_lock = threading.Lock()
_numba_report: dict[str, object] | None = None
_linear_blas_threads: int | None = None
_controller = None


def _opted_out() -> bool:
    return os.environ.get(OPT_OUT_VARIABLE, "").strip().lower() in {"off", "0", "no", "false", "none"}


def _numba_started() -> bool:
    import numba

    try:
        numba.threading_layer()
    except ValueError:  # raised until numba starts its threading layer
        return False
    return True


def configure_numba() -> dict[str, object]:
    """Start numba's thread pool with a short spin before sleeping (once per process); returns the report.

    See the module docstring for what is set and when nothing is done.
    """
    global _numba_report
    with _lock:
        if _numba_report is not None:
            return _numba_report
        import numba

        preset = [name for name in _WAIT_VARIABLES if name in os.environ]
        if _opted_out():
            wait = f"untouched ({OPT_OUT_VARIABLE}=off)"
        elif _numba_started():
            wait = "untouched (numba's threads were started before cnnlib)"
        elif preset:
            wait = "from the environment (" + ", ".join(f"{v}={os.environ[v]}" for v in preset) + ")"
        else:
            os.environ["GOMP_SPINCOUNT"] = str(SPIN_COUNT)
            try:
                numba.get_num_threads()  # starts the threading layer: its OpenMP runtime reads the variable now
                wait = f"spin {SPIN_COUNT}, then sleep"
            except ValueError:  # no threading layer could be loaded (reported below)
                wait = "not applied (no numba threading layer)"
            finally:
                del os.environ["GOMP_SPINCOUNT"]
        try:
            _numba_report = {"numba_wait_policy": wait, "numba_threads": numba.get_num_threads(),
                             "numba_threading_layer": numba.threading_layer()}
        except ValueError as error:  # no threading layer loads: parallel kernels will say so when called
            _numba_report = {"numba_wait_policy": wait, "numba_threading_layer": None, "error": str(error)}
        return _numba_report


def set_linear_blas_threads(count: int | None) -> None:
    """BLAS threads for the Linear layers' matrix products: an int >= 1, or None to leave BLAS alone."""
    global _linear_blas_threads
    if count is not None and (isinstance(count, bool) or not isinstance(count, (int, np.integer)) or count < 1):
        raise ValueError(f"count must be a positive int or None; got {count!r}")
    _linear_blas_threads = None if count is None else int(count)


def _blas_controller():
    """One threadpoolctl controller, made on first use (it scans the loaded libraries: ~ms)."""
    global _controller
    if _controller is None:
        from threadpoolctl import ThreadpoolController

        _controller = ThreadpoolController().select(user_api="blas")
    return _controller


@contextmanager
def blas_threads() -> Iterator[None]:
    """Run a block with the Linear layers' BLAS thread count (restored on exit)."""
    count = _linear_blas_threads
    if count is None:
        yield
        return
    with _blas_controller().limit(limits=count):
        yield


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` under :func:`blas_threads`. a : (M, K), b : (K, N) -> (M, N)."""
    with blas_threads():
        return a @ b


@contextmanager
def serial_when_small(work: int, limit: int = SERIAL_ELEMENTS) -> Iterator[None]:
    """Run the numba kernels of a block on one thread if `work` < `limit` (see the module docstring)."""
    if work >= limit or _opted_out():
        yield
        return
    import numba

    before = numba.get_num_threads()
    if before == 1:
        yield
        return
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(before)


def thread_policy() -> dict[str, object]:
    """What cnnlib set: numba's wait policy, layer and threads, and the Linear layers' BLAS threads."""
    report: dict[str, object] = dict(_numba_report or {"numba_wait_policy": "not started yet"})
    report["linear_blas_threads"] = _linear_blas_threads
    report["opted_out"] = _opted_out()
    return report


if not _opted_out():
    _linear_blas_threads = 1
# Now, before any kernel (or a learner's own parallel numba code) starts numba's threads.
configure_numba()
