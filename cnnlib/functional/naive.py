"""The naive backend: loops that read like the formulas.

This module is also the *contract* every backend follows. Each function
receives validated input -- C-contiguous float32 or float64 arrays of one
dtype, and stride / padding / dilation as (h, w) pairs of ints with the
kernel known to fit the padded input -- and returns arrays of that dtype.

Slow (pure Python loops over every output pixel), so use it on small
inputs: it is the reference the fast backends are tested against.
"""

from __future__ import annotations

import numpy as np

from .._geometry import avg_pool_divisors
from .._validation import Pair, output_hw


def _pad(x: np.ndarray, padding: Pair, value: float = 0.0) -> np.ndarray:
    ph, pw = padding
    return np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)], constant_values=value)


def conv2d(x, weight, bias, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    n_images, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = output_hw((h, w), (kh, kw), stride, padding, dilation)
    xp = _pad(x, padding)
    y = np.zeros((n_images, n_filters, oh, ow), dtype=x.dtype)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    # The receptive field of output (i, j): every dilation-th
                    # pixel of a window starting at (i*S, j*S).
                    top, left = i * stride[0], j * stride[1]
                    window = xp[n, :, top : top + dilation[0] * (kh - 1) + 1 : dilation[0],
                                left : left + dilation[1] * (kw - 1) + 1 : dilation[1]]
                    y[n, f, i, j] = np.sum(window * weight[f])
            if bias is not None:
                y[n, f] += bias[f]
    return y


def conv2d_backward(dout, x, weight, stride: Pair, padding: Pair, dilation: Pair):
    n_images, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = dout.shape[2:]
    xp = _pad(x, padding)
    dxp = np.zeros_like(xp)
    dw = np.zeros_like(weight)
    for n in range(n_images):
        for f in range(n_filters):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * stride[0], j * stride[1]
                    rows = slice(top, top + dilation[0] * (kh - 1) + 1, dilation[0])
                    cols = slice(left, left + dilation[1] * (kw - 1) + 1, dilation[1])
                    # y[n,f,i,j] = sum(window * w[f]): each factor's gradient
                    # is the other factor times the upstream gradient.
                    dw[f] += dout[n, f, i, j] * xp[n, :, rows, cols]
                    dxp[n, :, rows, cols] += dout[n, f, i, j] * weight[f]
    db = dout.sum(axis=(0, 2, 3))
    dx = dxp[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w]
    return np.ascontiguousarray(dx), dw, db.astype(x.dtype)


def max_pool2d(x, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    n_images, channels, h, w = x.shape
    oh, ow = output_hw((h, w), kernel, stride, padding)
    xp = _pad(x, padding, value=-np.inf)
    y = np.empty((n_images, channels, oh, ow), dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * stride[0], j * stride[1]
                    y[n, c, i, j] = xp[n, c, top : top + kernel[0], left : left + kernel[1]].max()
    return y


def max_pool2d_backward(dout, x, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    n_images, channels, h, w = x.shape
    oh, ow = dout.shape[2:]
    xp = _pad(x, padding, value=-np.inf)
    dxp = np.zeros(xp.shape, dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * stride[0], j * stride[1]
                    window = xp[n, c, top : top + kernel[0], left : left + kernel[1]]
                    # argmax returns the first maximum in row-major order,
                    # the tie rule torch uses.
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dxp[n, c, top + p, left + q] += dout[n, c, i, j]
    return np.ascontiguousarray(dxp[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w])


def avg_pool2d(x, kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> np.ndarray:
    n_images, channels, h, w = x.shape
    sizes = avg_pool_divisors((h, w), kernel, stride, padding, count_include_pad, x.dtype)
    oh, ow = sizes.shape
    xp = _pad(x, padding)
    y = np.empty((n_images, channels, oh, ow), dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * stride[0], j * stride[1]
                    y[n, c, i, j] = xp[n, c, top : top + kernel[0], left : left + kernel[1]].sum() / sizes[i, j]
    return y


def avg_pool2d_backward(dout, x, kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> np.ndarray:
    n_images, channels, h, w = x.shape
    sizes = avg_pool_divisors((h, w), kernel, stride, padding, count_include_pad, x.dtype)
    oh, ow = sizes.shape
    dxp = np.zeros((n_images, channels, h + 2 * padding[0], w + 2 * padding[1]), dtype=x.dtype)
    for n in range(n_images):
        for c in range(channels):
            for i in range(oh):
                for j in range(ow):
                    top, left = i * stride[0], j * stride[1]
                    dxp[n, c, top : top + kernel[0], left : left + kernel[1]] += dout[n, c, i, j] / sizes[i, j]
    return np.ascontiguousarray(dxp[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w])


def im2col(x, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    n_images, channels, h, w = x.shape
    kh, kw = kernel
    oh, ow = output_hw((h, w), kernel, stride, padding, dilation)
    xp = _pad(x, padding)
    col = np.empty((n_images * oh * ow, channels * kh * kw), dtype=x.dtype)
    for n in range(n_images):
        for i in range(oh):
            for j in range(ow):
                top, left = i * stride[0], j * stride[1]
                patch = xp[n, :, top : top + dilation[0] * (kh - 1) + 1 : dilation[0],
                           left : left + dilation[1] * (kw - 1) + 1 : dilation[1]]
                col[(n * oh + i) * ow + j] = patch.reshape(-1)
    return col


def col2im(col, x_shape, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    n_images, channels, h, w = x_shape
    kh, kw = kernel
    oh, ow = output_hw((h, w), kernel, stride, padding, dilation)
    xp = np.zeros((n_images, channels, h + 2 * padding[0], w + 2 * padding[1]), dtype=col.dtype)
    for n in range(n_images):
        for i in range(oh):
            for j in range(ow):
                top, left = i * stride[0], j * stride[1]
                xp[n, :, top : top + dilation[0] * (kh - 1) + 1 : dilation[0],
                   left : left + dilation[1] * (kw - 1) + 1 : dilation[1]] += col[(n * oh + i) * ow + j].reshape(channels, kh, kw)
    return np.ascontiguousarray(xp[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w])
