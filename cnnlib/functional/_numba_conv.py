"""numba kernels for convolution: the forward pass, and helpers the other kernel files share.

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
The input gradient of strided convolutions, its transpose, is the scatter
of :mod:`._numba_scatter` (a stride-1 convolution's input gradient is
itself a convolution, and the backend runs it through ``correlate_planes``).

Why the loops look the way they do (each point was measured):

* The innermost loop always runs along a contiguous slice (a view, indexed by
  the loop variable alone) so that LLVM vectorises it; the kernel taps are an
  outer loop. A loop that runs over the kernel width instead is ~20x slower.
* The forward pass keeps its sums in registers: a block of ``PLANES``
  output planes x ``CHUNK`` outputs (6 x 64 in 24 vector registers with
  AVX-512, 4 x 16 in 8 with AVX2) is summed over every tap before anything
  is stored, so each tap costs CHUNK input loads and PLANES weight loads
  for PLANES * CHUNK multiply-adds. LLVM does this only if the block is a
  stack array indexed by constants (:func:`_register_block`, loops with
  the constant trip count ``CHUNK``). The earlier version added four taps
  at a time into accumulators in the L1 cache, a load and a store per four
  multiply-adds, and reached 68 GMAC/s where a block of four planes
  reached ~105 and one of six ~125 (a 3x3 layer of 64 channels on two
  AVX-512 cores).
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
# vectors with AVX-512, two with AVX2, leaving room for the inputs and
# weights of a tap (see PLANES). Fewer than 8 accumulators would leave the
# two multiply-add units waiting on their own results (4 cycles each).
# float64 blocks hold the same count of twice the bytes (twice the
# registers: slower, and used for checks only).
CHUNK = (4 if VECTOR_LANES >= 16 else 2) * VECTOR_LANES
# Output planes in a register block of the forward pass: six with AVX-512
# (6 x 4 = 24 of its 32 vector registers; 1.1-1.45x faster than four on the
# course's layers), four with AVX2 (8 of 16 registers: six planes would
# need 12 and spill, 0.6x).
PLANES = 6 if VECTOR_LANES >= 16 else 4


@njit(cache=True)
def tile_size(length):  # pragma: no cover - compiled
    """Elements per tile to cut a wide vector of `length` into near-equal tiles of at most TILE.

    A multiple of 64 (of any vector's lanes), so that only the last tile
    ends in a remainder the vector loops finish one element at a time.
    """
    n_tiles = (length + TILE - 1) // TILE
    return ((length + n_tiles - 1) // n_tiles + 63) // 64 * 64


@njit(cache=True)
def blocks_of(count, size):  # pragma: no cover - compiled
    """(blocks of `size`, single leftovers) to cover `count` planes.

    A leftover of 2 or more planes rides in one more block, padded by
    repeating its last plane (computed, never stored): no slower than as
    many single passes, which load every input once per plane.
    """
    full = count // size
    rest = count - size * full
    if rest >= 2:
        return full + 1, 0
    return full, rest


@njit(cache=True)
def blocks_of_four(count):  # pragma: no cover - compiled
    """:func:`blocks_of` blocks of BLOCK (four) planes."""
    return blocks_of(count, BLOCK)


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


_register_block = stack_block(PLANES * CHUNK, "_register_block")  # PLANES output planes x CHUNK outputs


@njit(fastmath=True, inline="always")
def _sums_of_block(acc, src, w0, w1, w2, w3, b, offsets, k0):  # pragma: no cover - compiled
    """acc[q*CHUNK + k] = b[q] + sum_t w_q[t] * src[offsets[t] + k0 + k] for k < CHUNK, four planes q (AVX2).

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
def _sums_of_six(acc, src, w0, w1, w2, w3, w4, w5, b, offsets, k0):  # pragma: no cover - compiled
    """:func:`_sums_of_block` for six planes (the block of AVX-512: see PLANES)."""
    for k in range(CHUNK):
        acc[k] = b[0]
        acc[CHUNK + k] = b[1]
        acc[2 * CHUNK + k] = b[2]
        acc[3 * CHUNK + k] = b[3]
        acc[4 * CHUNK + k] = b[4]
        acc[5 * CHUNK + k] = b[5]
    for t in range(offsets.shape[0]):
        s = src[offsets[t] + k0 : offsets[t] + k0 + CHUNK]
        p0 = w0[t]
        p1 = w1[t]
        p2 = w2[t]
        p3 = w3[t]
        p4 = w4[t]
        p5 = w5[t]
        for k in range(CHUNK):
            x = s[k]
            acc[k] += p0 * x
            acc[CHUNK + k] += p1 * x
            acc[2 * CHUNK + k] += p2 * x
            acc[3 * CHUNK + k] += p3 * x
            acc[4 * CHUNK + k] += p4 * x
            acc[5 * CHUNK + k] += p5 * x


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
    """wide[q, k0 + k] = acc[q*CHUNK + k] for the PLANES rows q of `wide`, k < CHUNK.

    Element by element with constant trip counts: a slice copy, or a loop
    over ``wide.shape[0]`` (read at run time), would index `acc` by a
    value LLVM does not know, and it could no longer keep it in registers.
    """
    for q in range(PLANES):
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
    n_blocks, n_singles = blocks_of(n_out, PLANES)
    items_per_image = n_blocks + n_singles
    last = n_out - 1
    for item in prange(n_images * items_per_image):
        n = item // items_per_image
        k = item - n * items_per_image
        base = src[n]
        acc = carray(_register_block(src), PLANES * CHUNK)
        if k < n_blocks:
            g0 = PLANES * k
            g1, g2, g3 = min(g0 + 1, last), min(g0 + 2, last), min(g0 + 3, last)
            g4, g5 = min(g0 + 4, last), min(g0 + 5, last)  # planes of a six-block (PLANES == 6)
            wide = np.empty((PLANES, length), dtype=out.dtype)
            for c in range(n_chunks):
                k0 = min(c * CHUNK, length - CHUNK)
                if PLANES == 6:  # a constant: LLVM keeps one branch
                    _sums_of_six(acc, base, weight[g0], weight[g1], weight[g2], weight[g3], weight[g4], weight[g5],
                                 (bias[g0], bias[g1], bias[g2], bias[g3], bias[g4], bias[g5]), offsets, k0)
                else:
                    _sums_of_block(acc, base, weight[g0], weight[g1], weight[g2], weight[g3],
                                   (bias[g0], bias[g1], bias[g2], bias[g3]), offsets, k0)
                _store_block(wide, acc, k0)
            if length < CHUNK:
                for q in range(PLANES):
                    g = min(g0 + q, last)
                    wide[q, :] = bias[g]
                    _taps_into_plane(wide[q], base, weight[g], offsets, 0, length)
            for q in range(min(PLANES, n_out - g0)):
                _copy_out(out[n, g0 + q], wide[q], pitch)
        else:
            g = PLANES * n_blocks + (k - n_blocks)
            wide = np.empty(length, dtype=out.dtype)
            for c in range(n_chunks):
                k0 = min(c * CHUNK, length - CHUNK)
                _sums_of_plane(acc, base, weight[g], bias[g], offsets, k0)
                _store_plane(wide, acc, k0)
            if length < CHUNK:
                wide[:] = bias[g]
                _taps_into_plane(wide, base, weight[g], offsets, 0, length)
            _copy_out(out[n, g], wide, pitch)
