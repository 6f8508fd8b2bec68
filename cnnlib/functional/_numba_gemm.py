"""A small numba matrix product, for convolutions whose output planes are tiny.

A tuned kernel; chapter 5's direct-convolution kernel shows the plain
``numba.njit`` loops first.

When an output plane has only a handful of pixels (LeNet-5's C5 maps a
5x5 input to 1x1), the wide vectors of :mod:`._numba_conv` are a few
elements long and the loop overhead dominates. Such a convolution is better
done the im2col way -- unroll the patches, multiply by the filters -- with
the product vectorised along its longest axis instead.

Rows of the result run in parallel; each row sums its products in a fixed
order, so the result does not depend on the number
of threads.
"""

from __future__ import annotations

from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file


@njit(fastmath=True, cache=True)
def _rows_block(a, b, out, i0):  # pragma: no cover - compiled
    """out[i0:i0+4] += a[i0:i0+4] @ b: four rows share every load of b."""
    depth = a.shape[1]
    o0, o1, o2, o3 = out[i0], out[i0 + 1], out[i0 + 2], out[i0 + 3]
    a0, a1, a2, a3 = a[i0], a[i0 + 1], a[i0 + 2], a[i0 + 3]
    for k in range(0, depth - 1, 2):
        b0, b1 = b[k], b[k + 1]
        p0, p1, q0, q1 = a0[k], a0[k + 1], a1[k], a1[k + 1]
        r0, r1, z0, z1 = a2[k], a2[k + 1], a3[k], a3[k + 1]
        for j in range(b0.shape[0]):
            x0 = b0[j]
            x1 = b1[j]
            o0[j] += p0 * x0 + p1 * x1
            o1[j] += q0 * x0 + q1 * x1
            o2[j] += r0 * x0 + r1 * x1
            o3[j] += z0 * x0 + z1 * x1
    if depth % 2:
        k = depth - 1
        b0 = b[k]
        p0, q0, r0, z0 = a0[k], a1[k], a2[k], a3[k]
        for j in range(b0.shape[0]):
            x0 = b0[j]
            o0[j] += p0 * x0
            o1[j] += q0 * x0
            o2[j] += r0 * x0
            o3[j] += z0 * x0


@njit(fastmath=True, cache=True)
def _row(a, b, out, i):  # pragma: no cover - compiled
    """out[i] += a[i] @ b."""
    row = out[i]
    coefficients = a[i]
    for k in range(a.shape[1]):
        c0 = coefficients[k]
        b0 = b[k]
        for j in range(row.shape[0]):
            row[j] += c0 * b0[j]


@njit(parallel=True, fastmath=True, cache=True)
def matmul(a, b, start, out):  # pragma: no cover - compiled
    """``out[i] = start + a[i] @ b`` for ``a`` (M, K), ``b`` (K, N), ``start`` (N,), ``out`` (M, N)."""
    n_rows = a.shape[0]
    n_blocks = n_rows // 4
    for item in prange(n_blocks + n_rows % 4):
        if item < n_blocks:
            for q in range(4):
                out[4 * item + q, :] = start
            _rows_block(a, b, out, 4 * item)
        else:
            i = 4 * n_blocks + (item - n_blocks)
            out[i, :] = start
            _row(a, b, out, i)
