"""numba matrix products, for the Linear layers and for convolutions whose output planes are tiny.

Tuned kernels; chapter 5's direct-convolution kernel shows the plain
``numba.njit`` loops first. :func:`matmul_transposed` computes ``a @ b.T``
as dot products of rows (see its docstring); :func:`matmul` computes
``out[i, j] = start[j] + sum_k a[i, k] * b[k, j]``. The product is cut into
register blocks of ``ROWS`` rows x ``COLS`` columns of ``out`` (6 x 2
vectors: 12 vector registers), each summed over the whole of k before it is
stored, as the forward convolution does (:mod:`._numba_conv`): per k, two
vector loads of b's row and six broadcasts of a feed twelve multiply-adds.
The block is a stack array indexed only by constants, which LLVM keeps in
registers (the loops over its columns have the constant trip count COLS).
The last column block is moved back to end at the last column (it
recomputes, bit for bit, columns of the block before it), and rows past the
last are the last row again; a product narrower than one block keeps its
rows in memory (:func:`_rows_block`).

Where they run: the Linear layers' products (:mod:`._products`), and
convolutions whose output planes have only a handful of pixels (LeNet-5's
C5 maps a 5x5 input to 1x1): there the wide vectors of :mod:`._numba_conv`
are a few elements long, and the convolution is better done the im2col way
-- unroll the patches, multiply by the filters.

Every output element sums its products in a fixed order (k ascending), so
the result does not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import carray, prange

from ._kernel_cache import VECTOR_LANES, njit  # numba.njit, its disk cache keyed by every kernel file
from ._numba_conv import BLOCK, stack_block, tile_size
from ._numba_wgrad import _dots_block, _dots_plane

ROWS = 6  # rows of a register block: six broadcasts per k
COLS = 2 * VECTOR_LANES  # columns of a register block: two float32 vectors (12 accumulators in all)
_product_block = stack_block(ROWS * COLS, "_product_block")


@njit(fastmath=True, inline="always")
def _products_of_block(acc, flat_b, a0, a1, a2, a3, a4, a5, start, n_cols, j0):  # pragma: no cover - compiled
    """acc[q*COLS + k] = start[j0 + k] + sum_t a_q[t] * b[t, j0 + k] for k < COLS, six rows q.

    The convolution's block (:func:`._numba_conv._sums_of_block`: four
    rows x 64 columns) ran these products at 47-67 GMAC/s, this one of six
    rows x 32 columns at 87-95 (SimpleConvNet's Linear layer): six rows
    share each load of b, and a row of b (4320 x 100 in the forward pass)
    is too narrow for chunks of 64.
    """
    for k in range(COLS):
        s = start[j0 + k]
        acc[k] = s
        acc[COLS + k] = s
        acc[2 * COLS + k] = s
        acc[3 * COLS + k] = s
        acc[4 * COLS + k] = s
        acc[5 * COLS + k] = s
    for t in range(a0.shape[0]):
        run = flat_b[t * n_cols + j0 : t * n_cols + j0 + COLS]
        p0 = a0[t]
        p1 = a1[t]
        p2 = a2[t]
        p3 = a3[t]
        p4 = a4[t]
        p5 = a5[t]
        for k in range(COLS):
            x = run[k]
            acc[k] += p0 * x
            acc[COLS + k] += p1 * x
            acc[2 * COLS + k] += p2 * x
            acc[3 * COLS + k] += p3 * x
            acc[4 * COLS + k] += p4 * x
            acc[5 * COLS + k] += p5 * x


@njit(inline="always")
def _store_rows(out, i0, last, acc, j0):  # pragma: no cover - compiled
    """out[min(i0 + q, last), j0 + k] = acc[q*COLS + k]: constant trip counts, as in _numba_conv."""
    for q in range(ROWS):
        row = out[min(i0 + q, last)]
        for k in range(COLS):
            row[j0 + k] = acc[q * COLS + k]


@njit(fastmath=True, cache=True)
def _rows_block(a, b, out, i0):  # pragma: no cover - compiled
    """out[i0:i0+4] += a[i0:i0+4] @ b: four rows share every load of b (products narrower than COLS)."""
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
    """``out[i] = start + a[i] @ b`` for ``a`` (M, K), ``b`` (K, N), ``start`` (N,), ``out`` (M, N).

    All C-contiguous, of one dtype; M, N >= 1.
    """
    n_rows, depth = a.shape
    n_cols = b.shape[1]
    last = n_rows - 1
    if n_cols >= COLS:
        flat_b = b.reshape(depth * n_cols)
        n_chunks = (n_cols + COLS - 1) // COLS
        n_blocks = (n_rows + ROWS - 1) // ROWS
        # items of one column block are consecutive: a thread's share of b stays in its cache
        for item in prange(n_chunks * n_blocks):
            c = item // n_blocks
            i0 = ROWS * (item - c * n_blocks)
            j0 = min(c * COLS, n_cols - COLS)
            acc = carray(_product_block(a), ROWS * COLS)
            _products_of_block(acc, flat_b, a[i0], a[min(i0 + 1, last)], a[min(i0 + 2, last)],
                               a[min(i0 + 3, last)], a[min(i0 + 4, last)], a[min(i0 + 5, last)], start, n_cols, j0)
            _store_rows(out, i0, last, acc, j0)
        return
    n_blocks = n_rows // 4
    for item in prange(n_blocks + n_rows % 4):
        if item < n_blocks:
            for q in range(4):
                row = out[4 * item + q]
                for j in range(n_cols):
                    row[j] = start[j]
            _rows_block(a, b, out, 4 * item)
        else:
            i = 4 * n_blocks + (item - n_blocks)
            row = out[i]
            for j in range(n_cols):
                row[j] = start[j]
            _row(a, b, out, i)


@njit(parallel=True, fastmath=True, cache=True)
def matmul_transposed(a, b, out):  # pragma: no cover - compiled
    """``out[i, j] = sum_k a[i, k] * b[j, k]`` (``a @ b.T``) for ``a`` (M, K), ``b`` (N, K), ``out`` (M, N).

    Both operands run along k, so each output is a dot product: blocks of
    four rows of `a` against four rows of `b` at a time, the weight
    gradient's kernel (:func:`._numba_wgrad._dots_block`), over tiles of k
    that stay in the L1 cache; per-tile sums in the arrays' dtype, their
    sum in float64. A Linear layer's forward pass, ``x @ W.T``, needs no
    transposed copy of W this way (0.59 ms for SimpleConvNet's, against
    0.7 ms plus a 0.15 ms transpose for :func:`matmul`).
    """
    n_rows, depth = a.shape
    n_cols = b.shape[0]
    flat_b = b.reshape(n_cols * depth)
    offsets = np.arange(n_cols) * depth
    tile = tile_size(depth)
    n_blocks = n_rows // BLOCK
    for item in prange(n_blocks + n_rows % BLOCK):
        total = np.zeros((BLOCK, n_cols), dtype=np.float64)
        i0 = BLOCK * item if item < n_blocks else BLOCK * n_blocks + (item - n_blocks)
        for k0 in range(0, depth, tile):
            k1 = min(depth, k0 + tile)
            if item < n_blocks:
                _dots_block(total, a[i0], a[i0 + 1], a[i0 + 2], a[i0 + 3], flat_b, offsets, k0, k1)
            else:
                _dots_plane(total[0], a[i0], flat_b, offsets, k0, k1)
        for q in range(BLOCK if item < n_blocks else 1):
            row = out[i0 + q]
            for j in range(n_cols):
                row[j] = total[q, j]
