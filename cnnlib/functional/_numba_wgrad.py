"""numba kernel for the weight and bias gradients of convolution.

A tuned kernel; chapter 5's direct-convolution kernel shows the plain loops
it speeds up.

``dweight[f, t] = sum_n sum_k dout[n, f, k] * src[n, offset[t] + k]``: one
dot product per tap between the upstream gradient (laid out with the pitch
of the stride-phase planes, zeros in the spare columns, by each work item
in a buffer of its own) and the shifted input. ``prange`` runs over blocks of four filters, so each weight is
summed by one thread in a fixed order: no races, and the same result for
any number of threads. Per-tile sums run in the array's dtype (vector
lanes, with fastmath), the sum over tiles and images in float64.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file
from ._numba_conv import BLOCK, blocks_of_four, tile_size


@njit(fastmath=True, cache=True)
def _dots_block(total, d0, d1, d2, d3, base, offsets, k0, k1):  # pragma: no cover - compiled
    """total[q, t] += sum_k d_q[k] * base[offsets[t] + k] over k in [k0, k1), four filters q."""
    m = k1 - k0
    zero = d0[k0] - d0[k0]  # a zero of the array's dtype
    n_taps = offsets.shape[0]
    e0 = d0[k0:k1]
    e1 = d1[k0:k1]
    e2 = d2[k0:k1]
    e3 = d3[k0:k1]
    t = 0
    while t + 4 <= n_taps:
        x0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        x1 = base[offsets[t + 1] + k0 : offsets[t + 1] + k0 + m]
        x2 = base[offsets[t + 2] + k0 : offsets[t + 2] + k0 + m]
        x3 = base[offsets[t + 3] + k0 : offsets[t + 3] + k0 + m]
        a0 = a1 = a2 = a3 = zero
        b0 = b1 = b2 = b3 = zero
        c0 = c1 = c2 = c3 = zero
        f0 = f1 = f2 = f3 = zero
        for k in range(m):
            p0 = x0[k]
            p1 = x1[k]
            p2 = x2[k]
            p3 = x3[k]
            u = e0[k]
            a0 += u * p0
            a1 += u * p1
            a2 += u * p2
            a3 += u * p3
            u = e1[k]
            b0 += u * p0
            b1 += u * p1
            b2 += u * p2
            b3 += u * p3
            u = e2[k]
            c0 += u * p0
            c1 += u * p1
            c2 += u * p2
            c3 += u * p3
            u = e3[k]
            f0 += u * p0
            f1 += u * p1
            f2 += u * p2
            f3 += u * p3
        total[0, t] += a0
        total[0, t + 1] += a1
        total[0, t + 2] += a2
        total[0, t + 3] += a3
        total[1, t] += b0
        total[1, t + 1] += b1
        total[1, t + 2] += b2
        total[1, t + 3] += b3
        total[2, t] += c0
        total[2, t + 1] += c1
        total[2, t + 2] += c2
        total[2, t + 3] += c3
        total[3, t] += f0
        total[3, t + 1] += f1
        total[3, t + 2] += f2
        total[3, t + 3] += f3
        t += 4
    while t < n_taps:
        x0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        a0 = b0 = c0 = f0 = zero
        for k in range(m):
            p0 = x0[k]
            a0 += e0[k] * p0
            b0 += e1[k] * p0
            c0 += e2[k] * p0
            f0 += e3[k] * p0
        total[0, t] += a0
        total[1, t] += b0
        total[2, t] += c0
        total[3, t] += f0
        t += 1


@njit(fastmath=True, cache=True)
def _dots_plane(total, d0, base, offsets, k0, k1):  # pragma: no cover - compiled
    """total[t] += sum_k d0[k] * base[offsets[t] + k] over k in [k0, k1)."""
    m = k1 - k0
    zero = d0[k0] - d0[k0]
    e0 = d0[k0:k1]
    n_taps = offsets.shape[0]
    t = 0
    while t + 4 <= n_taps:
        x0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        x1 = base[offsets[t + 1] + k0 : offsets[t + 1] + k0 + m]
        x2 = base[offsets[t + 2] + k0 : offsets[t + 2] + k0 + m]
        x3 = base[offsets[t + 3] + k0 : offsets[t + 3] + k0 + m]
        a0 = a1 = a2 = a3 = zero
        for k in range(m):
            u = e0[k]
            a0 += u * x0[k]
            a1 += u * x1[k]
            a2 += u * x2[k]
            a3 += u * x3[k]
        total[t] += a0
        total[t + 1] += a1
        total[t + 2] += a2
        total[t + 3] += a3
        t += 4
    while t < n_taps:
        x0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        a0 = zero
        for k in range(m):
            a0 += e0[k] * x0[k]
        total[t] += a0
        t += 1


@njit(cache=True)
def _repitch(wide, plane, pitch):  # pragma: no cover - compiled
    """wide[i*pitch + j] = plane[i, j]; the other elements of `wide` are left as they are (zeros)."""
    rows, cols = plane.shape
    for i in range(rows):
        target = wide[i * pitch : i * pitch + cols]
        source = plane[i]
        for j in range(cols):
            target[j] = source[j]


@njit(parallel=True, fastmath=True, cache=True)
def weight_grad(dout, src, offsets, pitch, dweight, dbias):  # pragma: no cover - compiled
    """Weight and bias gradients of :func:`correlate_planes`.

    Parameters
    ----------
    dout : (N, F, OH, OW)
        Upstream gradient.
    src : (N, S)
        The forward pass's flattened source planes.
    offsets : (T,) int64
    pitch : int
        Row pitch of the source planes. Each work item copies its filters'
        planes of dout, one image at a time, into a small buffer with this
        pitch and zeros in the columns past the output width (the "wide"
        layout of the forward pass), which stays in the L1 cache: a copy of
        the whole dout in that layout went through memory (0.4 ms of
        SimpleConvNet's 1.1 ms weight gradient).
    dweight : (F, T), dbias : (F,)
        Written in full. Per-tile sums run in the array's dtype, the sum
        over tiles and images in float64.
    """
    n_images, n_filters, rows, cols = dout.shape
    length = (rows - 1) * pitch + cols
    n_taps = offsets.shape[0]
    tile = tile_size(length)
    n_blocks, n_singles = blocks_of_four(n_filters)
    last = n_filters - 1
    for item in prange(n_blocks + n_singles):
        f0 = BLOCK * item if item < n_blocks else BLOCK * n_blocks + (item - n_blocks)
        fs = (f0, min(f0 + 1, last), min(f0 + 2, last), min(f0 + 3, last))
        width = min(BLOCK, n_filters - f0) if item < n_blocks else 1  # filters stored
        total = np.zeros((BLOCK, n_taps), dtype=np.float64)
        bias_total = np.zeros(BLOCK, dtype=np.float64)
        wide = np.zeros((BLOCK, length), dtype=dout.dtype)
        for n in range(n_images):
            base = src[n]
            for q in range(BLOCK if item < n_blocks else 1):
                _repitch(wide[q], dout[n, fs[q]], pitch)
            for k0 in range(0, length, tile):
                k1 = min(length, k0 + tile)
                if item < n_blocks:
                    _dots_block(total, wide[0], wide[1], wide[2], wide[3], base, offsets, k0, k1)
                else:
                    _dots_plane(total[0], wide[0], base, offsets, k0, k1)
            for q in range(width):
                plane = wide[q]
                s = plane[0] - plane[0]
                for k in range(length):
                    s += plane[k]
                bias_total[q] += s
        for q in range(width):
            for t in range(n_taps):
                dweight[f0 + q, t] = total[q, t]
            dbias[f0 + q] = bias_total[q]
