"""The im2col backend: NumPy, one matrix product per convolution.

Same contract as :mod:`cnnlib.functional.naive`. Convolution unrolls the
input with :func:`cnnlib.im2col.im2col` and multiplies by the flattened
filters; its backward pass is the two transposed products plus col2im.
Pooling unrolls each channel separately, since pooling never mixes channels.
"""

from __future__ import annotations

import numpy as np

from .._geometry import avg_pool_divisors
from .._validation import Pair, output_hw
from ..im2col import _col2im_numpy as col2im
from ..im2col import _im2col_numpy as im2col

__all__ = ["conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward",
           "avg_pool2d", "avg_pool2d_backward", "im2col", "col2im"]


def conv2d(x, weight, bias, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    n, _, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    oh, ow = output_hw((h, w), (kh, kw), stride, padding, dilation)
    col = im2col(x, (kh, kw), stride, padding, dilation)
    y = col @ weight.reshape(n_filters, -1).T  # (N*OH*OW, F)
    if bias is not None:
        y += bias
    return np.ascontiguousarray(y.reshape(n, oh, ow, n_filters).transpose(0, 3, 1, 2))


def conv2d_backward(dout, x, weight, stride: Pair, padding: Pair, dilation: Pair):
    n_filters, _, kh, kw = weight.shape
    dout_rows = dout.transpose(0, 2, 3, 1).reshape(-1, n_filters)  # (N*OH*OW, F)
    col = im2col(x, (kh, kw), stride, padding, dilation)
    dw = (dout_rows.T @ col).reshape(weight.shape)
    dcol = dout_rows @ weight.reshape(n_filters, -1)
    dx = col2im(dcol, x.shape, (kh, kw), stride, padding, dilation)
    db = dout_rows.sum(axis=0)
    return np.ascontiguousarray(dx), dw, db


def _pool_columns(x, kernel: Pair, stride: Pair, padding: Pair, fill: float) -> np.ndarray:
    """(N*C*OH*OW, KH*KW): one row per window, channels kept apart."""
    n, c, h, w = x.shape
    if fill != 0.0:
        x = np.pad(x, [(0, 0), (0, 0), (padding[0],) * 2, (padding[1],) * 2], constant_values=fill)
        padding = (0, 0)
    oh, ow = output_hw(x.shape[2:], kernel, stride, padding)
    col = im2col(x.reshape(n * c, 1, *x.shape[2:]), kernel, stride, padding, (1, 1))
    return col.reshape(n, c, oh, ow, kernel[0] * kernel[1])


def max_pool2d(x, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    return np.ascontiguousarray(_pool_columns(x, kernel, stride, padding, -np.inf).max(axis=-1))


def max_pool2d_backward(dout, x, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    n, c, h, w = x.shape
    col = _pool_columns(x, kernel, stride, padding, -np.inf)
    argmax = col.argmax(axis=-1)  # first maximum in row-major order
    dcol = np.zeros(col.shape, dtype=x.dtype)
    np.put_along_axis(dcol, argmax[..., None], dout[..., None], axis=-1)
    oh, ow = dout.shape[2:]
    dcol = dcol.reshape(n * c * oh * ow, kernel[0] * kernel[1])
    dx = col2im(dcol, (n * c, 1, h, w), kernel, stride, padding, (1, 1))
    return np.ascontiguousarray(dx.reshape(x.shape))


def avg_pool2d(x, kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> np.ndarray:
    sums = _pool_columns(x, kernel, stride, padding, 0.0).sum(axis=-1)
    return np.ascontiguousarray(sums / avg_pool_divisors(x.shape[2:], kernel, stride, padding, count_include_pad, x.dtype))


def avg_pool2d_backward(dout, x, kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> np.ndarray:
    n, c, h, w = x.shape
    share = dout / avg_pool_divisors((h, w), kernel, stride, padding, count_include_pad, x.dtype)
    dcol = np.repeat(share.reshape(-1, 1), kernel[0] * kernel[1], axis=1)
    dx = col2im(dcol, (n * c, 1, h, w), kernel, stride, padding, (1, 1))
    return np.ascontiguousarray(dx.reshape(x.shape))
