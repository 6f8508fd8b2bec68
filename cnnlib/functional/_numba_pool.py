"""numba kernels for max pooling, im2col and col2im.

Tuned kernels, in the style of the convolution kernels; chapter 5's
direct-convolution kernel is the plain ``numba.njit`` starting point.

Max pooling splits each plane into the stride-phase planes of
:mod:`._numba_layout` (padding filled with -inf) in a small scratch buffer,
where every window position is a contiguous run at a fixed offset, so the
maximum over a window becomes an elementwise maximum of a few long vectors.
One parallel loop per call: on a busy machine every extra parallel region
can wait a scheduler tick for its second thread. Average pooling needs no kernel of its own: it is a
convolution with weights of one (:mod:`._numba_conv`).

``prange`` runs over (image, channel) planes: a thread owns its plane of the
output and of the input gradient, so overlapping windows accumulate without
races, in a fixed order. These kernels are compiled *without* fastmath:
fastmath lets LLVM assume that no value is infinite (the padding is) and
reorder comparisons, while the tie rule -- the gradient goes to the first
maximum in row-major order, as in torch -- depends on the exact strict
comparison ``v > best``.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file
from ._numba_conv import _copy_out
from ._numba_layout import split_phases


# Planes per parallel task: a plane of a pooling layer is little work, so
# planes go in chunks, each with its scratch buffers allocated once. Planes
# are independent: the grouping never changes a result.
CHUNKS = 64


@njit(cache=True)
def _chunks(n_planes):  # pragma: no cover - compiled
    """(number of chunks, planes per chunk)."""
    n_chunks = max(1, min(n_planes, CHUNKS))
    return n_chunks, (n_planes + n_chunks - 1) // n_chunks


@njit(cache=True)
def _window_max(base, offsets, wide, where):  # pragma: no cover - compiled
    """wide[k] = max_t base[offsets[t] + k]; where[k] = first t reaching it (row-major taps)."""
    length = wide.shape[0]
    first = base[offsets[0] : offsets[0] + length]
    for k in range(length):
        wide[k] = first[k]
        where[k] = 0
    for t in range(1, offsets.shape[0]):
        run = base[offsets[t] : offsets[t] + length]
        for k in range(length):
            v = run[k]
            best = wide[k]
            take = v > best  # strict: a tie keeps the earlier tap
            wide[k] = v if take else best
            where[k] = t if take else where[k]


@njit(parallel=True, cache=True)
def max_pool(x, out, offsets, sh, sw, rows, pitch, ph, pw):  # pragma: no cover - compiled
    """out[m, i, j] = maximum of window (i, j) of plane x[m]; x (M, H, W), out (M, OH, OW).

    Each plane is split into its -inf-padded phase planes (``sh x sw`` planes
    of ``rows x pitch``) in a scratch buffer that stays in cache; window
    tap t then starts at ``offsets[t]`` of the flattened phases.
    """
    n_planes, out_rows, out_cols = out.shape
    length = (out_rows - 1) * pitch + out_cols
    n_chunks, chunk = _chunks(n_planes)
    for part in prange(n_chunks):
        # scratch allocated once per chunk of planes, not once per (small) plane
        phases = np.empty((sh, sw, rows, pitch), dtype=x.dtype)
        base = phases.reshape(sh * sw * rows * pitch)
        wide = np.empty(length, dtype=out.dtype)
        for m in range(part * chunk, min(n_planes, (part + 1) * chunk)):
            split_phases(x[m], phases, ph, pw, -np.inf)
            first = base[offsets[0] : offsets[0] + length]
            for k in range(length):
                wide[k] = first[k]
            for t in range(1, offsets.shape[0]):
                run = base[offsets[t] : offsets[t] + length]
                for k in range(length):
                    v = run[k]
                    best = wide[k]
                    wide[k] = v if v > best else best
            _copy_out(out[m], wide, pitch)


@njit(parallel=True, cache=True)
def max_pool_backward(dout, x, dx, offsets, kw, sh, sw, rows, pitch, ph, pw):  # pragma: no cover - compiled
    """dx[m] (zeroed here) receives dout[m, i, j] at the first maximum of window (i, j).

    Arguments as in :func:`max_pool`; tap t is kernel position
    ``(t // kw, t % kw)``. Window (i, j) tap (p, q) is input pixel
    ``(i*sh + p - ph, j*sw + q - pw)``; never padding, since every window
    holds a real pixel and -inf never wins.
    """
    n_planes, out_rows, out_cols = dout.shape
    height, width = dx.shape[1], dx.shape[2]
    length = (out_rows - 1) * pitch + out_cols
    n_taps = offsets.shape[0]
    # Flat index of tap t relative to the window's corner: no division per pixel.
    tap_offset = np.empty(n_taps, dtype=np.int64)
    for t in range(n_taps):
        tap_offset[t] = (t // kw - ph) * width + (t % kw - pw)
    size = height * width
    n_chunks, chunk = _chunks(n_planes)
    for part in prange(n_chunks):
        phases = np.empty((sh, sw, rows, pitch), dtype=x.dtype)
        wide = np.empty(length, dtype=dx.dtype)
        where = np.empty(length, dtype=np.int32)  # int32 lanes line up with float32
        for m in range(part * chunk, min(n_planes, (part + 1) * chunk)):
            split_phases(x[m], phases, ph, pw, -np.inf)
            _window_max(phases.reshape(sh * sw * rows * pitch), offsets, wide, where)
            grad = dx[m].reshape(size)
            grad[:] = 0
            upstream = dout[m]
            for i in range(out_rows):
                chosen = where[i * pitch : i * pitch + out_cols]
                gradients = upstream[i]
                corner = i * sh * width
                for j in range(out_cols):
                    grad[corner + j * sw + tap_offset[chosen[j]]] += gradients[j]


# 2x2 windows with stride 2 and no padding, the pooling of most of the
# course's networks, have kernels of their own: the windows tile the plane,
# so the maximum is read straight from two input rows, and the gradient is
# written once per pixel (no zeroing pass, no scatter). Same taps in the
# same order, with the same strict comparisons, as the kernels above: the
# same values bit for bit. 0.15 instead of 0.68 ms forward and 0.34 instead
# of ~1.2 ms backward on SimpleConvNet's (100, 30, 24, 24) float32 maps.


@njit(parallel=True, cache=True)
def max_pool_2x2(x, out):  # pragma: no cover - compiled
    """out[m, i, j] = max of x[m, 2i : 2i+2, 2j : 2j+2]; x (M, H, W), out (M, H // 2, W // 2)."""
    n_planes, out_rows, out_cols = out.shape
    n_chunks, chunk = _chunks(n_planes)
    for part in prange(n_chunks):
        for m in range(part * chunk, min(n_planes, (part + 1) * chunk)):
            plane = x[m]
            target = out[m]
            for i in range(out_rows):
                top = plane[2 * i]
                bottom = plane[2 * i + 1]
                row = target[i]
                for j in range(out_cols):
                    best = top[2 * j]
                    v = top[2 * j + 1]
                    best = v if v > best else best
                    v = bottom[2 * j]
                    best = v if v > best else best
                    v = bottom[2 * j + 1]
                    row[j] = v if v > best else best


@njit(parallel=True, cache=True)
def max_pool_2x2_backward(dout, x, dx):  # pragma: no cover - compiled
    """dx[m] (written in full) holds dout[m, i, j] at the first maximum of window (i, j), zero elsewhere.

    Two passes per output row, so that each loop touches three arrays and
    LLVM vectorises it: the winning tap of every window (0-3, row-major)
    into a small buffer, then the two rows of dx.
    """
    n_planes, out_rows, out_cols = dout.shape
    height, width = dx.shape[1], dx.shape[2]
    n_chunks, chunk = _chunks(n_planes)
    for part in prange(n_chunks):
        where = np.empty(out_cols, dtype=np.int32)
        zero = np.zeros(1, dtype=dx.dtype)[0]
        for m in range(part * chunk, min(n_planes, (part + 1) * chunk)):
            plane = x[m]
            grad = dx[m]
            upstream = dout[m]
            for i in range(out_rows):
                top = plane[2 * i]
                bottom = plane[2 * i + 1]
                for j in range(out_cols):
                    best = top[2 * j]
                    tap = 0
                    v = top[2 * j + 1]
                    take = v > best  # strict: a tie keeps the earlier tap
                    best = v if take else best
                    tap = 1 if take else tap
                    v = bottom[2 * j]
                    take = v > best
                    best = v if take else best
                    tap = 2 if take else tap
                    v = bottom[2 * j + 1]
                    where[j] = 3 if v > best else tap
                gradients = upstream[i]
                for p in range(2):
                    row = grad[2 * i + p]
                    for j in range(out_cols):
                        g = zero + gradients[j]  # as the scatter adds into zeros (and torch): -0.0 gives 0.0
                        tap = where[j] - 2 * p
                        row[2 * j] = g if tap == 0 else 0
                        row[2 * j + 1] = g if tap == 1 else 0
                    for j in range(2 * out_cols, width):  # an odd last column is in no window
                        row[j] = 0
            for r in range(2 * out_rows, height):  # an odd last row is in no window
                last = grad[r]
                for j in range(width):
                    last[j] = 0


@njit(parallel=True, cache=True)
def im2col(x, col, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):  # pragma: no cover - compiled
    """col[(n*OH + i)*OW + j, (c*KH + p)*KW + q] = xpad[n, c, i*sh + p*dh, j*sw + q*dw]."""
    n_images, channels, height, width = x.shape
    for image_row in prange(n_images * oh):
        n = image_row // oh
        i = image_row - n * oh
        for j in range(ow):
            patch = col[image_row * ow + j]
            for c in range(channels):
                for p in range(kh):
                    r = i * sh + p * dh - ph
                    base = (c * kh + p) * kw
                    if r < 0 or r >= height:
                        patch[base : base + kw] = 0
                        continue
                    row = x[n, c, r]
                    for q in range(kw):
                        s = j * sw + q * dw - pw
                        patch[base + q] = row[s] if 0 <= s < width else 0


@njit(parallel=True, cache=True)
def col2im(col, dx, kh, kw, sh, sw, ph, pw, dh, dw, oh, ow):  # pragma: no cover - compiled
    """Adjoint of :func:`im2col`; dx (N, C, H, W) is zeroed here.

    Taps are the outer loops, as in the NumPy version, so every pixel adds
    its contributions in the same order and the result is bit-identical.
    """
    n_images, channels, height, width = dx.shape
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane - n * channels
        grad = dx[n, c]
        grad[:, :] = 0
        for p in range(kh):
            for q in range(kw):
                column = (c * kh + p) * kw + q
                for i in range(oh):
                    r = i * sh + p * dh - ph
                    if r < 0 or r >= height:
                        continue
                    row = grad[r]
                    first = (n * oh + i) * ow
                    for j in range(ow):
                        s = j * sw + q * dw - pw
                        if 0 <= s < width:
                            row[s] += col[first + j, column]
