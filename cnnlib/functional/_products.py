"""The Linear layers' matrix products: numba's register-blocked kernel, or NumPy's BLAS on one thread.

:class:`cnnlib.layers.Linear` writes its three products as NumPy
expressions (``x @ W.T``, ``dout.T @ x``, ``dout @ W``) and computes them
with :func:`matmul`. With the numba backend (the default), a product large
enough to share between threads runs in a kernel of :mod:`._numba_gemm` on
numba's threads, which sleep after a short spin (:mod:`._threads`):
``x @ W.T`` as dot products of rows (:func:`._numba_gemm.matmul_transposed`,
no transposed copy of W), the others as register-blocked products
(:func:`._numba_gemm.matmul`). Otherwise NumPy's BLAS runs it on one
thread, so that none of its threads is left spinning after it.
SimpleConvNet's first Linear layer, (100 x 4320) by (4320 x 100), on two
AVX-512 cores: forward 0.90 -> 0.56 ms, weight gradient 0.83 -> 0.54 ms,
input gradient 0.80 -> 0.54 ms (BLAS on one thread -> the kernels). The
kernels round their float32 sums in another order than BLAS: results agree
to float32 rounding, not bit for bit (both are independent of the thread
count).

Nothing here imports numba until the kernel is first used.
"""

from __future__ import annotations

import numpy as np

from .._backend import get_backend
from ._threads import matmul as blas_matmul

__all__ = ["matmul", "KERNEL_MIN_MACS"]

# Products with fewer multiply-adds stay in BLAS: a parallel kernel's start
# and end cost more than they save (SimpleConvNet's second Linear layer,
# 100 x 100 x 10, is 0.1 million).
KERNEL_MIN_MACS = 1 << 20


def _kernels():
    from . import _numba_gemm  # compiled on first call

    return _numba_gemm


def _kernel_applies(a: np.ndarray, b: np.ndarray) -> bool:
    """Whether the kernels take this product; shapes that do not align go to NumPy, which says so."""
    if get_backend() != "numba" or a.ndim != 2 or b.ndim != 2 or a.dtype != b.dtype or a.shape[1] != b.shape[0]:
        return False
    if a.dtype not in (np.float32, np.float64) or type(a) is not np.ndarray or type(b) is not np.ndarray:
        return False
    rows, depth = a.shape
    cols = b.shape[1]
    return rows * depth * cols >= KERNEL_MIN_MACS and cols >= _kernels().COLS


def matmul(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``a @ b`` for a (M, K), b (K, N) -> (M, N); see the module docstring for where it runs."""
    if not _kernel_applies(a, b):
        return blas_matmul(a, b)
    out = np.empty((a.shape[0], b.shape[1]), dtype=a.dtype)
    if a.flags.c_contiguous and b.T.flags.c_contiguous:  # x @ W.T: dot products along rows of both
        _kernels().matmul_transposed(a, b.T, out)
        return out
    a, b = np.ascontiguousarray(a), np.ascontiguousarray(b)
    _kernels().matmul(a, b, np.zeros(b.shape[1], dtype=a.dtype), out)
    return out
