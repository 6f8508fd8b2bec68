"""Pooling: validated public functions that dispatch to a backend."""

from __future__ import annotations

import numpy as np

from .. import _backend
from .._validation import as_bool, as_float_array, as_pair, check_fits, output_hw, result_dtype

__all__ = ["max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward"]


def _pool_geometry(x, kernel_size, stride, padding):
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    kernel = as_pair(kernel_size, "kernel_size", 1)
    stride = kernel if stride is None else as_pair(stride, "stride", 1)
    padding = as_pair(padding, "padding", 0)
    if padding[0] > kernel[0] // 2 or padding[1] > kernel[1] // 2:
        # A window made only of padding would have no real pixel to take
        # the maximum of; torch forbids it for the same reason.
        raise ValueError(f"padding {padding} must be at most half the pooling window {kernel} on each axis")
    check_fits(x.shape[2:], kernel, padding, (1, 1), what="pooling window")
    return x, kernel, stride, padding


def _checked_dout(dout, x, kernel, stride, padding):
    expected = (*x.shape[:2], *output_hw(x.shape[2:], kernel, stride, padding))
    dout = as_float_array(dout, "dout", 4, "(N, C, OH, OW)")
    if dout.shape != expected:
        raise ValueError(f"dout has shape {dout.shape}, but pooling x {x.shape} with window {kernel}, stride {stride}, padding {padding} gives {expected}")
    return dout.astype(x.dtype, copy=False)


def max_pool2d(x, kernel_size, stride=None, padding=0, *, backend: str | None = None) -> np.ndarray:
    """Maximum over each window, channel by channel.

    Parameters
    ----------
    x : (N, C, H, W) array
    kernel_size : int or (h, w)
    stride : int or (h, w), optional
        Defaults to `kernel_size` (non-overlapping windows).
    padding : int or (h, w)
        Implicit -inf on each side, at most half the window.

    Returns
    -------
    y : (N, C, OH, OW) array
        The dtype of `x` (float16 computed in float32; integers give float64).
    """
    out = result_dtype(x)
    x, kernel, stride, padding = _pool_geometry(x, kernel_size, stride, padding)
    return _backend.resolve(backend).max_pool2d(x, kernel, stride, padding).astype(out, copy=False)


def max_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`max_pool2d`: each window's gradient goes to its maximum.

    Ties go to the first maximum in row-major order (as torch does), and
    where windows overlap the gradients of a pixel add up.

    Returns
    -------
    dx : (N, C, H, W) array
    """
    out = result_dtype(x)  # the gradient has the dtype of what it is the gradient of
    x, kernel, stride, padding = _pool_geometry(x, kernel_size, stride, padding)
    dout = _checked_dout(dout, x, kernel, stride, padding)
    return _backend.resolve(backend).max_pool2d_backward(dout, x, kernel, stride, padding).astype(out, copy=False)


def avg_pool2d(x, kernel_size, stride=None, padding=0, count_include_pad: bool = True, *, backend: str | None = None) -> np.ndarray:
    """Mean over each window, channel by channel.

    With ``count_include_pad=True`` (torch's default) padded zeros count in
    the divisor, which is always KH*KW; with False the divisor is the number
    of real pixels in the window.
    """
    out = result_dtype(x)
    include = as_bool(count_include_pad, "count_include_pad")
    x, kernel, stride, padding = _pool_geometry(x, kernel_size, stride, padding)
    return _backend.resolve(backend).avg_pool2d(x, kernel, stride, padding, include).astype(out, copy=False)


def avg_pool2d_backward(dout, x, kernel_size, stride=None, padding=0, count_include_pad: bool = True, *, backend: str | None = None) -> np.ndarray:
    """Gradient of :func:`avg_pool2d`: each window's gradient spread evenly over it.

    Returns
    -------
    dx : (N, C, H, W) array
    """
    out = result_dtype(x)  # the gradient has the dtype of what it is the gradient of
    include = as_bool(count_include_pad, "count_include_pad")
    x, kernel, stride, padding = _pool_geometry(x, kernel_size, stride, padding)
    dout = _checked_dout(dout, x, kernel, stride, padding)
    return _backend.resolve(backend).avg_pool2d_backward(dout, x, kernel, stride, padding, include).astype(out, copy=False)
