"""numba kernel for the input gradient of strided convolutions: a scatter into phase planes.

A tuned kernel; chapter 5's direct-convolution kernel shows the plain loops
first. ``input_grad`` is the transpose of :func:`._numba_conv.correlate_planes`:
each element of dout, times the tap weight, is added into per-channel phase
planes at the tap's offset, then the planes are unshuffled into dx. The
input gradient of strided convolutions and of average pooling (the backend
runs a stride-1 convolution's input gradient through the forward kernel:
it is itself a convolution).

The scatter cannot keep its sums in registers (every tap adds into a
different place): four filters are fused per pass and four planes share
each load, 16 multiply-adds per load/store of the accumulator, in tiles of
``TILE`` elements that stay in the L1 cache. Accumulators have the array's
dtype, with fastmath; ``prange`` runs over (image, block of channels), so no
two threads write the same element, and the order of every sum depends only
on the shapes.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file
from ._numba_conv import BLOCK, blocks_of_four, tile_size


@njit(fastmath=True, cache=True)
def _scatter_block(acc, d0, d1, d2, d3, weight, f, cs, n_planes, offsets, k0, k1):  # pragma: no cover - compiled
    """acc[q, offsets[t] + k] += sum_{i<4} weight[t, cs[q], f+i] * d_i[k], k in [k0, k1), every tap t.

    Four filters share each accumulator update; `n_planes` (1, 3 or 4) input
    channels ``cs[q]`` share each load of dout.
    """
    c0, c1, c2, c3 = cs
    m = k1 - k0
    e0 = d0[k0:k1]
    e1 = d1[k0:k1]
    e2 = d2[k0:k1]
    e3 = d3[k0:k1]
    for t in range(offsets.shape[0]):
        o = offsets[t] + k0
        if n_planes == BLOCK:
            a0 = acc[0, o : o + m]
            a1 = acc[1, o : o + m]
            a2 = acc[2, o : o + m]
            a3 = acc[3, o : o + m]
            w = weight[t]
            p0, p1, p2, p3 = w[c0, f], w[c0, f + 1], w[c0, f + 2], w[c0, f + 3]
            q0, q1, q2, q3 = w[c1, f], w[c1, f + 1], w[c1, f + 2], w[c1, f + 3]
            r0, r1, r2, r3 = w[c2, f], w[c2, f + 1], w[c2, f + 2], w[c2, f + 3]
            z0, z1, z2, z3 = w[c3, f], w[c3, f + 1], w[c3, f + 2], w[c3, f + 3]
            for k in range(m):
                x0 = e0[k]
                x1 = e1[k]
                x2 = e2[k]
                x3 = e3[k]
                a0[k] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3
                a1[k] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
                a2[k] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3
                a3[k] += z0 * x0 + z1 * x1 + z2 * x2 + z3 * x3
        elif n_planes == 3:  # RGB inputs: first layers of AlexNet, VGG, ResNet
            a0 = acc[0, o : o + m]
            a1 = acc[1, o : o + m]
            a2 = acc[2, o : o + m]
            w = weight[t]
            p0, p1, p2, p3 = w[c0, f], w[c0, f + 1], w[c0, f + 2], w[c0, f + 3]
            q0, q1, q2, q3 = w[c1, f], w[c1, f + 1], w[c1, f + 2], w[c1, f + 3]
            r0, r1, r2, r3 = w[c2, f], w[c2, f + 1], w[c2, f + 2], w[c2, f + 3]
            for k in range(m):
                x0 = e0[k]
                x1 = e1[k]
                x2 = e2[k]
                x3 = e3[k]
                a0[k] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3
                a1[k] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
                a2[k] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3
        else:
            a0 = acc[0, o : o + m]
            w = weight[t]
            p0, p1, p2, p3 = w[c0, f], w[c0, f + 1], w[c0, f + 2], w[c0, f + 3]
            for k in range(m):
                a0[k] += p0 * e0[k] + p1 * e1[k] + p2 * e2[k] + p3 * e3[k]


@njit(fastmath=True, cache=True)
def _scatter_one(acc, d0, weight, f, cs, n_planes, offsets, k0, k1):  # pragma: no cover - compiled
    """Like :func:`_scatter_block` for a single filter f."""
    m = k1 - k0
    e0 = d0[k0:k1]
    for t in range(offsets.shape[0]):
        o = offsets[t] + k0
        w = weight[t]
        for q in range(n_planes):
            a = acc[q, o : o + m]
            p = w[cs[q], f]
            for k in range(m):
                a[k] += p * e0[k]


@njit(parallel=True, fastmath=True, cache=True)
def input_grad(dout, weight, offsets, length, dx, rows, pitch, sh, sw, ph, pw):  # pragma: no cover - compiled
    """Input gradient of :func:`correlate_planes`, as a scatter into per-channel phase planes.

    Parameters
    ----------
    dout : (N, F, D)
        Upstream gradient, each plane laid out with row pitch `pitch` and
        zeros in the columns past the output width.
    weight : (T, C, F)
        ``weight[t, c, f]`` is the weight of tap t (within one channel)
        from input channel c to filter f.
    offsets : (T,) int64
        Start of tap t within one channel's phase planes
        (``sh * sw`` planes of ``rows x pitch``).
    length : int
        Length of the wide output vector, ``(OH - 1) * pitch + OW``.
    dx : (N, C, H, W)
        Written in full: ``dx[n, c, y, x]`` is element ``((y + ph) // sh, (x + pw) // sw)``
        of phase plane ``((y + ph) % sh, (x + pw) % sw)``, or zero where that lies
        outside the planes (pixels no window reaches).
    """
    n_images, n_filters = dout.shape[0], dout.shape[1]
    channels = dx.shape[1]
    plane = sh * sw * rows * pitch
    tile = tile_size(length)
    n_blocks, n_singles = blocks_of_four(channels)
    items_per_image = n_blocks + n_singles
    for item in prange(n_images * items_per_image):
        n = item // items_per_image
        k = item - n * items_per_image
        c0 = BLOCK * k if k < n_blocks else BLOCK * n_blocks + (k - n_blocks)
        # a block of 2 or 3 real planes is computed as 3 (one repeated if 2)
        n_planes = (BLOCK if channels - c0 >= BLOCK else 3) if k < n_blocks else 1
        last = channels - 1
        cs = (c0, min(c0 + 1, last), min(c0 + 2, last), min(c0 + 3, last))
        acc = np.zeros((n_planes, plane), dtype=dx.dtype)
        for k0 in range(0, length, tile):
            k1 = min(length, k0 + tile)
            f = 0
            while f + 4 <= n_filters:
                _scatter_block(acc, dout[n, f], dout[n, f + 1], dout[n, f + 2], dout[n, f + 3], weight, f, cs,
                               n_planes, offsets, k0, k1)
                f += 4
            while f < n_filters:
                _scatter_one(acc, dout[n, f], weight, f, cs, n_planes, offsets, k0, k1)
                f += 1
        for q in range(min(n_planes, channels - c0)):
            unshuffle_phases(acc[q], dx[n, c0 + q], rows, pitch, sh, sw, ph, pw)


@njit(cache=True)
def unshuffle_phases(phases, target, rows, pitch, sh, sw, ph, pw):  # pragma: no cover - compiled
    """Write one channel's phase planes back as an image plane.

    phases : (sh * sw * rows * pitch,)
        Phase plane (a, b) holds padded rows ``a, a+sh, ...`` and columns
        ``b, b+sw, ...``, each ``rows x pitch``.
    target : (H, W)
        Written in full: ``target[y, x]`` is element ``((y + ph) // sh, (x + pw) // sw)``
        of phase plane ``((y + ph) % sh, (x + pw) % sw)``, or zero where that lies
        outside the planes (pixels no window reaches).
    """
    height, width = target.shape
    for y in range(height):
        a = (y + ph) % sh
        u = (y + ph) // sh
        row = target[y]
        if u >= rows:  # below the last window: no gradient
            row[:] = 0
            continue
        for b in range(sw):
            # columns x = v*sw + b - pw of this row live in phase plane (a, b)
            v_lo = (pw - b + sw - 1) // sw if pw > b else 0
            start = ((a * sw + b) * rows + u) * pitch
            for v in range(v_lo, (width - 1 + pw - b) // sw + 1):
                row[v * sw + b - pw] = phases[start + v] if v < pitch else 0
