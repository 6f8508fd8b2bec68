"""numba kernels for depthwise convolution (``groups == C``: each filter sees one channel).

A tuned kernel; chapter 5's direct-convolution kernel shows the plain
``numba.njit`` loops first.

A depthwise layer (MobileNet) has one small filter per channel, so run as
``groups`` separate convolutions it makes C backend calls of one channel
each: call overhead and short loops dominate. These kernels do the whole
layer in one parallel loop over (image, plane), on the same stride-phase
planes as :mod:`._numba_conv` (every tap a contiguous run at a fixed offset
within its channel's planes). With a channel multiplier M (F = C M
filters) filter f reads channel ``f // M``.

``depthwise_forward``
    Per (image, filter): ``out = bias[f] + sum_t weight[f, t] * run_t``, the
    single-plane pass of :func:`._numba_conv.correlate_planes`.
``depthwise_backward``
    Per (image, channel), both gradients from one read of the planes: the M
    filters of the channel scatter ``dout``, times each tap's weight, into
    the channel's phase planes, which are then unshuffled into dx (as
    :func:`._numba_scatter.input_grad`); and one dot product per tap (as
    :func:`._numba_wgrad.weight_grad`), kept per image in float64 and summed
    over the images by the caller.

Every output element is written by one thread in an order fixed by the
shapes, so results do not depend on the number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file
from ._numba_conv import _copy_out, _taps_into_plane, tile_size
from ._numba_scatter import unshuffle_phases
from ._numba_wgrad import _dots_plane


@njit(parallel=True, fastmath=True, cache=True)
def depthwise_forward(src, weight, bias, offsets, out, pitch, multiplier):  # pragma: no cover - compiled
    """Depthwise forward convolution.

    Parameters
    ----------
    src : (N, C, S)
        Per image and channel, the flattened phase planes.
    weight : (F, T)
        Tap weights of each filter, F = C * multiplier.
    bias : (F,)
    offsets : (T,) int64
        Where tap t starts reading within one channel's planes.
    out : (N, F, OH, OW)
        ``out[n, f, i, j] = bias[f] + sum_t weight[f, t] * src[n, f // multiplier, offsets[t] + i*pitch + j]``.
    """
    n_images, n_filters, rows, cols = out.shape
    length = (rows - 1) * pitch + cols
    tile = tile_size(length)
    for item in prange(n_images * n_filters):
        n = item // n_filters
        f = item - n * n_filters
        base = src[n, f // multiplier]
        wide = np.empty(length, dtype=out.dtype)
        wide[:] = bias[f]
        for k0 in range(0, length, tile):
            _taps_into_plane(wide, base, weight[f], offsets, k0, min(length, k0 + tile))
        _copy_out(out[n, f], wide, pitch)


@njit(parallel=True, fastmath=True, cache=True)
def depthwise_backward(dout, src, weight, offsets, length, dx, partial, rows, pitch, sh, sw, ph, pw,
                       multiplier):  # pragma: no cover - compiled
    """All gradients of :func:`depthwise_forward` in one pass over (image, channel).

    Each item reads its dout and input planes once, while they are in the
    cache, for both gradients: the scatter into dx and the per-image dot
    products of the weight gradient.

    Parameters
    ----------
    dout : (N, F, D)
        Upstream gradient with row pitch `pitch`, zeros past the output width.
    src : (N, C, S)
        The forward pass's phase planes.
    weight : (F, T)
    offsets : (T,) int64
        Start of tap t within one channel's phase planes (``sh * sw`` planes of ``rows x pitch``).
    length : int
        ``(OH - 1) * pitch + OW``.
    dx : (N, C, H, W)
        Written in full.
    partial : (N, F, T + 1) float64
        Written in full: per image, the weight gradient's dot products and
        (last) the bias gradient's sum. The caller sums over images.
    """
    n_images, channels = dx.shape[0], dx.shape[1]
    plane = sh * sw * rows * pitch
    n_taps = offsets.shape[0]
    tile = tile_size(length)
    for item in prange(n_images * channels):
        n = item // channels
        c = item - n * channels
        base = src[n, c]
        acc = np.zeros(plane, dtype=dx.dtype)
        for f in range(c * multiplier, (c + 1) * multiplier):
            d = dout[n, f, :length]
            w = weight[f]
            total = partial[n, f]
            total[:] = 0.0
            for k0 in range(0, length, tile):
                _dots_plane(total, d, base, offsets, k0, min(length, k0 + tile))
            s = d[0] - d[0]
            for k in range(length):
                s += d[k]
            total[n_taps] = s
            for t in range(n_taps):
                a = acc[offsets[t] : offsets[t] + length]
                p = w[t]
                for k in range(length):
                    a[k] += p * d[k]
        unshuffle_phases(acc, dx[n, c], rows, pitch, sh, sw, ph, pw)
