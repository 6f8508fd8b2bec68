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
    unshuffled into dx. The input gradient of strided convolutions and of
    average pooling (a stride-1 convolution's input gradient is itself a
    convolution, and the backend runs it through ``correlate_planes``).

Why the loops look the way they do (each point was measured):

* The innermost loop always runs along a contiguous slice (a view, indexed by
  the loop variable alone) so that LLVM vectorises it; the kernel taps are an
  outer loop. A loop that runs over the kernel width instead is ~20x slower.
* The forward pass keeps its sums in registers: a block of four output
  planes x ``CHUNK`` outputs (16 vector registers with AVX-512, 8 with
  AVX2) is summed over every tap before anything is stored, so each tap
  costs CHUNK input loads and four weight loads for 4 * CHUNK
  multiply-adds. LLVM does this only if the block is a stack array indexed
  by constants (:func:`_register_block`, loops with the constant trip
  count ``CHUNK``). The earlier version added four taps at a time into
  accumulators in the L1 cache, a load and a store per four multiply-adds,
  and reached 68 GMAC/s where this one reaches ~105 (a 3x3 layer of 64
  channels on two AVX-512 cores).
* The scatter of ``input_grad`` cannot keep its sums in registers (every
  tap adds into a different place): four filters are fused per pass and
  four planes share each load, 16 multiply-adds per load/store of the
  accumulator, in tiles of ``TILE`` elements that stay in the L1 cache.
* Accumulators have the array's dtype (float32 stays float32: float64 halved
  the speed) and ``fastmath`` lets LLVM reassociate the sums into vector
  lanes. The order of every sum depends only on the shapes, never on the
  number of threads, so results are reproducible run to run.
* ``prange`` runs over independent outputs (image x block of planes): no
  two threads write the same element, so there are no races and no atomics.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import carray, prange, types
from numba.core import cgutils
from numba.extending import intrinsic

from ._kernel_cache import VECTOR_LANES, njit  # numba.njit, its disk cache keyed by every kernel file

# Elements of the wide output vector processed per tile: 4 accumulators of
# 1024 float32 (16 KiB) plus the four input streams fit in a 32-48 KiB L1.
TILE = 1024
BLOCK = 4  # output planes that share every load
# Outputs of one plane in a register block of the forward pass: four float32
# vectors with AVX-512 (4 planes x 4 = 16 of its 32 registers), two with
# AVX2 (8 of 16), leaving room for the inputs and weights of a tap. Fewer
# than 8 accumulators would leave the two multiply-add units waiting on
# their own results (4 cycles each). float64 blocks hold the same count of
# twice the bytes (twice the registers: slower, and used for checks only).
CHUNK = (4 if VECTOR_LANES >= 16 else 2) * VECTOR_LANES


@njit(cache=True)
def tile_size(length):  # pragma: no cover - compiled
    """Elements per tile to cut a wide vector of `length` into near-equal tiles of at most TILE.

    A multiple of 64 (of any vector's lanes), so that only the last tile
    ends in a remainder the vector loops finish one element at a time.
    """
    n_tiles = (length + TILE - 1) // TILE
    return ((length + n_tiles - 1) // n_tiles + 63) // 64 * 64


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


@njit(inline="always")
def _copy_out(out_plane, wide, pitch):  # pragma: no cover - compiled
    """out_plane[i, j] = wide[i*pitch + j]: drop the garbage columns of a wide vector.

    An explicit loop over two views: the slice assignment
    ``out_plane[i, :] = wide[...]`` checks shapes and overlap per row, and
    on rows as short as a digit's (24 values) that took 60% of
    SimpleConvNet's convolution (1.7 instead of 0.85 ms).
    """
    rows, cols = out_plane.shape
    for i in range(rows):
        target = out_plane[i]
        source = wide[i * pitch : i * pitch + cols]
        for j in range(cols):
            target[j] = source[j]


def stack_block(size: int, name: str):
    """An intrinsic ``name(like)``: a pointer to a (size,) array on the stack, of `like`'s dtype.

    Wrap it with ``numba.carray(pointer, size)``. Its elements are indexed
    by constants once the fixed-length loops over a block are unrolled, so
    LLVM keeps it in vector registers.
    """
    def block(typingctx, like):
        def codegen(context, builder, signature, args):
            element = context.get_data_type(like.dtype)
            array = cgutils.alloca_once(builder, ir.ArrayType(element, size))
            return builder.bitcast(array, element.as_pointer())

        return types.CPointer(like.dtype)(like), codegen

    block.__name__ = block.__qualname__ = name
    return intrinsic(block)


_register_block = stack_block(BLOCK * CHUNK, "_register_block")  # four output planes x CHUNK outputs


@njit(fastmath=True, inline="always")
def _sums_of_block(acc, src, w0, w1, w2, w3, b, offsets, k0):  # pragma: no cover - compiled
    """acc[q*CHUNK + k] = b[q] + sum_t w_q[t] * src[offsets[t] + k0 + k] for k < CHUNK, four planes q.

    The loops over k have the constant trip count CHUNK (a global: passed
    as an argument it would not be a constant to LLVM in time), so they
    unroll and `acc` lives in registers: each tap loads CHUNK inputs and
    four weights for 4 * CHUNK multiply-adds, and nothing is stored until
    every tap is summed.
    """
    for k in range(CHUNK):
        acc[k] = b[0]
        acc[CHUNK + k] = b[1]
        acc[2 * CHUNK + k] = b[2]
        acc[3 * CHUNK + k] = b[3]
    for t in range(offsets.shape[0]):
        s = src[offsets[t] + k0 : offsets[t] + k0 + CHUNK]
        p0 = w0[t]
        p1 = w1[t]
        p2 = w2[t]
        p3 = w3[t]
        for k in range(CHUNK):
            x = s[k]
            acc[k] += p0 * x
            acc[CHUNK + k] += p1 * x
            acc[2 * CHUNK + k] += p2 * x
            acc[3 * CHUNK + k] += p3 * x


@njit(fastmath=True, inline="always")
def _sums_of_plane(acc, src, w0, b0, offsets, k0):  # pragma: no cover - compiled
    """acc[k] = b0 + sum_t w0[t] * src[offsets[t] + k0 + k] for k < CHUNK, one plane."""
    for k in range(CHUNK):
        acc[k] = b0
    for t in range(offsets.shape[0]):
        s = src[offsets[t] + k0 : offsets[t] + k0 + CHUNK]
        p0 = w0[t]
        for k in range(CHUNK):
            acc[k] += p0 * s[k]


@njit(inline="always")
def _store_block(wide, acc, k0):  # pragma: no cover - compiled
    """wide[q, k0 + k] = acc[q*CHUNK + k] for the BLOCK rows q of `wide`, k < CHUNK.

    Element by element with constant trip counts: a slice copy, or a loop
    over ``wide.shape[0]`` (read at run time), would index `acc` by a
    value LLVM does not know, and it could no longer keep it in registers.
    """
    for q in range(BLOCK):
        row = wide[q]
        for k in range(CHUNK):
            row[k0 + k] = acc[q * CHUNK + k]


@njit(inline="always")
def _store_plane(wide, acc, k0):  # pragma: no cover - compiled
    """wide[k0 + k] = acc[k] for k < CHUNK (see :func:`_store_block`)."""
    for k in range(CHUNK):
        wide[k0 + k] = acc[k]


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
        Row pitch of the source planes (and of the wide output vector).

    The wide vector is computed in chunks of CHUNK outputs, each summed
    over all taps in registers. The last chunk is moved back to end at the
    vector's end (it recomputes, bit for bit, outputs of the chunk before
    it), so no tap reads past its run; a vector shorter than one chunk is
    summed tap by tap in memory (:func:`_taps_into_plane`).
    """
    n_images, n_out, rows, cols = out.shape
    length = (rows - 1) * pitch + cols
    n_chunks = (length + CHUNK - 1) // CHUNK if length >= CHUNK else 0
    n_blocks, n_singles = blocks_of_four(n_out)
    items_per_image = n_blocks + n_singles
    for item in prange(n_images * items_per_image):
        n = item // items_per_image
        k = item - n * items_per_image
        base = src[n]
        acc = carray(_register_block(src), BLOCK * CHUNK)
        if k < n_blocks:
            g0 = BLOCK * k
            gs = (g0, min(g0 + 1, n_out - 1), min(g0 + 2, n_out - 1), min(g0 + 3, n_out - 1))
            biases = (bias[gs[0]], bias[gs[1]], bias[gs[2]], bias[gs[3]])
            wide = np.empty((BLOCK, length), dtype=out.dtype)
            for c in range(n_chunks):
                k0 = min(c * CHUNK, length - CHUNK)
                _sums_of_block(acc, base, weight[gs[0]], weight[gs[1]], weight[gs[2]], weight[gs[3]], biases,
                               offsets, k0)
                _store_block(wide, acc, k0)
            if length < CHUNK:
                for q in range(BLOCK):
                    wide[q, :] = bias[gs[q]]
                    _taps_into_plane(wide[q], base, weight[gs[q]], offsets, 0, length)
            for q in range(min(BLOCK, n_out - g0)):
                _copy_out(out[n, g0 + q], wide[q], pitch)
        else:
            g = BLOCK * n_blocks + (k - n_blocks)
            wide = np.empty(length, dtype=out.dtype)
            for c in range(n_chunks):
                k0 = min(c * CHUNK, length - CHUNK)
                _sums_of_plane(acc, base, weight[g], bias[g], offsets, k0)
                _store_plane(wide, acc, k0)
            if length < CHUNK:
                wide[:] = bias[g]
                _taps_into_plane(wide, base, weight[g], offsets, 0, length)
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
