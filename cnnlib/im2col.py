"""im2col and col2im: convolution as one matrix product.

``im2col`` copies every receptive field (patch) of the input into one row of
a matrix, so that a convolution becomes ``col @ weight.reshape(F, -1).T``.
The row order is (n, oh, ow) and the column order (c, kh, kw), as in
Saito's *Deep Learning from Scratch*: ``x`` of shape (1, 3, 7, 7) with a 5x5 kernel gives ``col`` of
shape (9, 75).

``col2im`` is the exact adjoint (transpose) of ``im2col``: it scatters each
row back to the pixels it came from and *adds* where patches overlap, so
that ``<im2col(x), c> == <x, col2im(c)>`` for every ``x`` and ``c``. That
is exactly what the backward pass of a convolution needs.
"""

from __future__ import annotations

import numpy as np

from . import _backend
from ._validation import Pair, as_float_array, as_int, as_pair, conv_geometry, output_hw, result_dtype

__all__ = ["im2col", "col2im"]


def _im2col_numpy(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    """im2col on validated input; loops over the KH*KW kernel taps only."""
    n, c, h, w = x.shape
    kh, kw = kernel
    oh, ow = output_hw((h, w), kernel, stride, padding, dilation)
    img = np.pad(x, [(0, 0), (0, 0), (padding[0], padding[0]), (padding[1], padding[1])])
    col = np.empty((n, c, kh, kw, oh, ow), dtype=x.dtype)
    for i in range(kh):
        top = i * dilation[0]
        for j in range(kw):
            left = j * dilation[1]
            col[:, :, i, j] = img[:, :, top : top + stride[0] * oh : stride[0], left : left + stride[1] * ow : stride[1]]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * oh * ow, c * kh * kw)


def _col2im_numpy(
    col: np.ndarray, x_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair
) -> np.ndarray:
    """Adjoint of `_im2col_numpy`: overlapping patches add up."""
    n, c, h, w = x_shape
    kh, kw = kernel
    oh, ow = output_hw((h, w), kernel, stride, padding, dilation)
    col6 = col.reshape(n, oh, ow, c, kh, kw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * padding[0], w + 2 * padding[1]), dtype=col.dtype)
    for i in range(kh):
        top = i * dilation[0]
        for j in range(kw):
            left = j * dilation[1]
            img[:, :, top : top + stride[0] * oh : stride[0], left : left + stride[1] * ow : stride[1]] += col6[:, :, i, j]
    return np.ascontiguousarray(img[:, :, padding[0] : padding[0] + h, padding[1] : padding[1] + w])


def im2col(x, kernel_size, stride=1, padding=0, dilation=1, *, backend: str | None = None) -> np.ndarray:
    """Unroll every patch of `x` into a row.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size : int or (KH, KW)
    stride, padding, dilation : int or pair
        As in :func:`cnnlib.functional.conv2d`; padding is zeros on each side.
    backend : {"numba", "im2col", "naive"}, optional
        Which implementation runs; all give the same result.

    Returns
    -------
    col : (N*OH*OW, C*KH*KW) array
        Row ``(n*OH + oh)*OW + ow`` holds the patch under output pixel
        (oh, ow) of image n, flattened in (c, kh, kw) order.
    """
    out = result_dtype(x)
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride, padding, dilation, _ = conv_geometry(x.shape[2:], kernel, stride, _no_same(padding), dilation)
    impl = _backend.resolve(backend)
    return impl.im2col(x, kernel, stride, padding, dilation).astype(out, copy=False)


def col2im(col, x_shape, kernel_size, stride=1, padding=0, dilation=1, *, backend: str | None = None) -> np.ndarray:
    """Fold rows back into an image, adding where patches overlap.

    Parameters
    ----------
    col : (N*OH*OW, C*KH*KW) array
    x_shape : (N, C, H, W)
        Shape of the image that `col` was unrolled from.
    kernel_size, stride, padding, dilation
        As given to :func:`im2col`.

    Returns
    -------
    x : (N, C, H, W) array
        ``col2im(im2col(x))`` multiplies each pixel by the number of
        patches that contain it; ``col2im`` is the adjoint, not the inverse.
    """
    if len(x_shape) != 4:
        raise ValueError(f"x_shape must be (N, C, H, W); got {tuple(x_shape)!r}")
    x_shape = tuple(as_int(s, f"x_shape[{i}]", 1) for i, s in enumerate(x_shape))
    out = result_dtype(col)
    col = as_float_array(col, "col", 2, "(N*OH*OW, C*KH*KW)")
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride, padding, dilation, _ = conv_geometry(x_shape[2:], kernel, stride, _no_same(padding), dilation)
    oh, ow = output_hw(x_shape[2:], kernel, stride, padding, dilation)
    expected = (x_shape[0] * oh * ow, x_shape[1] * kernel[0] * kernel[1])
    if col.shape != expected:
        raise ValueError(
            f"col has shape {col.shape}, but x_shape {x_shape} with kernel {kernel}, stride {stride}, "
            f"padding {padding}, dilation {dilation} needs (N*OH*OW, C*KH*KW) = {expected}"
        )
    impl = _backend.resolve(backend)
    return impl.col2im(col, x_shape, kernel, stride, padding, dilation).astype(out, copy=False)


def _no_same(padding):
    if isinstance(padding, str):
        raise ValueError(f"im2col takes padding as an int or a pair; got {padding!r}")
    return padding
