"""numba kernels for convolution: the forward pass and the input gradient.

These are the tuned kernels; read chapter 5's direct-convolution kernel
first, a plain ``numba.njit`` loop over the same formula.

Both work on the stride-phase planes of :mod:`._numba_layout`, where every
kernel tap reads a contiguous run starting at a fixed offset:

``correlate_planes``
    ``out[g] = bias[g] + sum_t weight[g, t] * src[offset[t] + k]`` for a
    contiguous range of k. It computes a whole output plane at once as one
    "wide" vector whose row pitch is the pitch of the source planes; the
    columns past the output width are garbage and are never copied out.
    The forward convolution, and (with weights of one) the sum of average
    pooling.
``input_grad``
    The transpose: each element of dout, times the tap weight, is added into
    per-channel phase planes at the tap's offset, then the planes are
    unshuffled into dx. The input gradient of convolution and of average
    pooling.

Why the loops look the way they do (each point was measured):

* The innermost loop always runs along a contiguous slice (a view, indexed by
  the loop variable alone) so that LLVM vectorises it; the kernel taps are an
  outer loop. A loop that runs over the kernel width instead is ~20x slower.
* Four taps (or four filters) are fused per pass and four output planes
  share each load, so a pass does 16 multiply-adds per load/store of the
  accumulator.
* The wide vector is cut into tiles of ``TILE`` elements so that the
  accumulators of four planes stay in the L1 cache.
* Accumulators have the array's dtype (float32 stays float32: float64 halved
  the speed) and ``fastmath`` lets LLVM reassociate the sums into vector
  lanes. The order of every sum depends only on the shapes, never on the
  number of threads, so results are reproducible run to run.
* ``prange`` runs over independent outputs (image x block of planes): no
  two threads write the same element, so there are no races and no atomics.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file

# Elements of the wide output vector processed per tile: 4 accumulators of
# 1024 float32 (16 KiB) plus the four input streams fit in a 32-48 KiB L1.
TILE = 1024
BLOCK = 4  # output planes that share every load


@njit(cache=True)
def tile_size(length):  # pragma: no cover - compiled
    """Elements per tile to cut a wide vector of `length` into equal tiles of at most TILE."""
    n_tiles = (length + TILE - 1) // TILE
    return (length + n_tiles - 1) // n_tiles


@njit(cache=True)
def blocks_of_four(count):  # pragma: no cover - compiled
    """(blocks, single leftovers) to cover `count` planes.

    A leftover of 2 or 3 planes rides in one more block, padded by repeating
    its last plane (computed, never stored): cheaper than 2 or 3 single
    passes, which load every input once per plane.
    """
    full = count // BLOCK
    rest = count - BLOCK * full
    if rest >= 2:
        return full + 1, 0
    return full, rest


@njit(fastmath=True, cache=True)
def _taps_into_block(acc, base, w0, w1, w2, w3, offsets, k0, k1):  # pragma: no cover - compiled
    """acc[q, k0:k1] += sum_t w_q[t] * base[offsets[t] + k] for four planes q."""
    m = k1 - k0
    a0 = acc[0, k0:k1]
    a1 = acc[1, k0:k1]
    a2 = acc[2, k0:k1]
    a3 = acc[3, k0:k1]
    n_taps = offsets.shape[0]
    t = 0
    while t + 4 <= n_taps:
        s0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        s1 = base[offsets[t + 1] + k0 : offsets[t + 1] + k0 + m]
        s2 = base[offsets[t + 2] + k0 : offsets[t + 2] + k0 + m]
        s3 = base[offsets[t + 3] + k0 : offsets[t + 3] + k0 + m]
        p0, p1, p2, p3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        q0, q1, q2, q3 = w1[t], w1[t + 1], w1[t + 2], w1[t + 3]
        r0, r1, r2, r3 = w2[t], w2[t + 1], w2[t + 2], w2[t + 3]
        z0, z1, z2, z3 = w3[t], w3[t + 1], w3[t + 2], w3[t + 3]
        for k in range(m):
            x0 = s0[k]
            x1 = s1[k]
            x2 = s2[k]
            x3 = s3[k]
            a0[k] += p0 * x0 + p1 * x1 + p2 * x2 + p3 * x3
            a1[k] += q0 * x0 + q1 * x1 + q2 * x2 + q3 * x3
            a2[k] += r0 * x0 + r1 * x1 + r2 * x2 + r3 * x3
            a3[k] += z0 * x0 + z1 * x1 + z2 * x2 + z3 * x3
        t += 4
    while t < n_taps:
        s0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        p0, q0, r0, z0 = w0[t], w1[t], w2[t], w3[t]
        for k in range(m):
            x0 = s0[k]
            a0[k] += p0 * x0
            a1[k] += q0 * x0
            a2[k] += r0 * x0
            a3[k] += z0 * x0
        t += 1


@njit(fastmath=True, cache=True)
def _taps_into_plane(acc, base, w0, offsets, k0, k1):  # pragma: no cover - compiled
    """acc[k0:k1] += sum_t w0[t] * base[offsets[t] + k] for one plane."""
    m = k1 - k0
    a0 = acc[k0:k1]
    n_taps = offsets.shape[0]
    t = 0
    while t + 4 <= n_taps:
        s0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        s1 = base[offsets[t + 1] + k0 : offsets[t + 1] + k0 + m]
        s2 = base[offsets[t + 2] + k0 : offsets[t + 2] + k0 + m]
        s3 = base[offsets[t + 3] + k0 : offsets[t + 3] + k0 + m]
        p0, p1, p2, p3 = w0[t], w0[t + 1], w0[t + 2], w0[t + 3]
        for k in range(m):
            a0[k] += p0 * s0[k] + p1 * s1[k] + p2 * s2[k] + p3 * s3[k]
        t += 4
    while t < n_taps:
        s0 = base[offsets[t] + k0 : offsets[t] + k0 + m]
        p0 = w0[t]
        for k in range(m):
            a0[k] += p0 * s0[k]
        t += 1


@njit(cache=True)
def _copy_out(out_plane, wide, pitch):  # pragma: no cover - compiled
    """out_plane[i, j] = wide[i*pitch + j]: drop the garbage columns of a wide vector."""
    rows, cols = out_plane.shape
    for i in range(rows):
        out_plane[i, :] = wide[i * pitch : i * pitch + cols]


@njit(parallel=True, fastmath=True, cache=True)
def correlate_planes(src, weight, bias, offsets, out, pitch):  # pragma: no cover - compiled
    """Forward convolution as a wide correlation of flat source planes.

    Parameters
    ----------
    src : (N, S)
        Per image, the planes made by :func:`to_phase_planes`, flattened.
    weight : (F, T)
        One row of tap weights per output plane.
    bias : (F,)
    offsets : (T,) int64
        Where tap t starts reading in ``src[n]``.
    out : (N, F, OH, OW)
        ``out[n, f, i, j] = bias[f] + sum_t weight[f, t] * src[n, offsets[t] + i*pitch + j]``.
    pitch : int
        Row pitch of the source planes (and of the wide accumulator).
    """
    n_images, n_out, rows, cols = out.shape
    length = (rows - 1) * pitch + cols
    tile = tile_size(length)
    n_blocks, n_singles = blocks_of_four(n_out)
    items_per_image = n_blocks + n_singles
    for item in prange(n_images * items_per_image):
        n = item // items_per_image
        k = item - n * items_per_image
        base = src[n]
        if k < n_blocks:
            g0 = BLOCK * k
            g1, g2, g3 = min(g0 + 1, n_out - 1), min(g0 + 2, n_out - 1), min(g0 + 3, n_out - 1)
            acc = np.empty((BLOCK, length), dtype=out.dtype)
            acc[0, :] = bias[g0]
            acc[1, :] = bias[g1]
            acc[2, :] = bias[g2]
            acc[3, :] = bias[g3]
            for k0 in range(0, length, tile):
                _taps_into_block(acc, base, weight[g0], weight[g1], weight[g2], weight[g3],
                                 offsets, k0, min(length, k0 + tile))
            for q in range(min(BLOCK, n_out - g0)):
                _copy_out(out[n, g0 + q], acc[q], pitch)
        else:
            g = BLOCK * n_blocks + (k - n_blocks)
            wide = np.empty(length, dtype=out.dtype)
            wide[:] = bias[g]
            for k0 in range(0, length, tile):
                _taps_into_plane(wide, base, weight[g], offsets, k0, min(length, k0 + tile))
            _copy_out(out[n, g], wide, pitch)


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
