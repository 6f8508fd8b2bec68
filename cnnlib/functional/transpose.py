"""Transposed convolution: the input gradient of conv2d, used as a layer.

A convolution maps an (H', W') image to an (H, W) one; its input gradient
maps an (H, W) array back to (H', W'), scattering every input value, times
the kernel, into the bigger output. ``conv_transpose2d`` is exactly that
adjoint, so it is computed with :func:`conv2d_backward`'s ``dx`` (and the
gradient of the transposed convolution with :func:`conv2d`):

    conv_transpose2d(x, w) = d/dz <conv2d(z, w), x>

With stride S, padding P, dilation D and output padding A the output size is

    O = (H - 1) S - 2 P + D (K - 1) + A + 1,

the chapter-3 shape rule of conv2d solved for the input. Here the scatter
is done without padding, onto ``(H - 1) S + D (K - 1) + 1`` rows; padding P
then crops P rows at the top, and the output keeps ``O`` rows from there
(A extra rows at the bottom, zero where no input reaches them). The weight
has torch's layout ``(C_in, C_out / groups, K_H, K_W)``: it is the weight
of the convolution that maps C_out channels to C_in.
"""

from __future__ import annotations

import numpy as np

from .._validation import Pair, as_float_array, as_int, as_pair, common_dtype
from .conv import conv2d, conv2d_backward

__all__ = ["conv_transpose2d", "conv_transpose2d_backward", "conv_transpose_output_hw"]


def conv_transpose_output_hw(in_hw, kernel: Pair, stride: Pair, padding: Pair, output_padding: Pair,
                             dilation: Pair) -> Pair:
    """``O = (H - 1) S - 2 P + D (K - 1) + A + 1`` per axis (arguments already validated)."""
    return tuple((in_hw[i] - 1) * stride[i] - 2 * padding[i] + dilation[i] * (kernel[i] - 1)  # type: ignore[return-value]
                 + output_padding[i] + 1 for i in range(2))


def _full_hw(in_hw, kernel: Pair, stride: Pair, dilation: Pair) -> Pair:
    """Size of the scatter before padding crops it: ``(H - 1) S + D (K - 1) + 1``."""
    return tuple((in_hw[i] - 1) * stride[i] + dilation[i] * (kernel[i] - 1) + 1 for i in range(2))  # type: ignore[return-value]


def _check(x, weight, bias, stride, padding, output_padding, groups, dilation):
    x = as_float_array(x, "x", 4, "(N, C_in, H, W)")
    weight = as_float_array(weight, "weight", 4, "(in_channels, out_channels / groups, KH, KW)")
    if 0 in weight.shape:
        raise ValueError(f"weight has shape {weight.shape}: every dimension must be at least 1")
    groups = as_int(groups, "groups", 1)
    if weight.shape[0] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[1]} channels (shape {x.shape}) but a transposed convolution's "
            f"weight is (in_channels, out_channels / groups, KH, KW) and this one has {weight.shape[0]} "
            f"input channels (shape {weight.shape})"
        )
    if x.shape[1] % groups:
        raise ValueError(f"groups={groups}: the input has {x.shape[1]} channels, which is not divisible by groups")
    out_channels = weight.shape[1] * groups
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, "(out_channels,)")
        if bias.shape[0] != out_channels:
            raise ValueError(f"bias has shape {bias.shape} but the output has {out_channels} channels; "
                             f"expected ({out_channels},)")
    if isinstance(padding, str):
        raise ValueError(f"padding of a transposed convolution must be an int or a pair (as in torch); got {padding!r}")
    stride, padding = as_pair(stride, "stride", 1), as_pair(padding, "padding", 0)
    dilation, output_padding = as_pair(dilation, "dilation", 1), as_pair(output_padding, "output_padding", 0)
    for i, axis in enumerate(("height", "width")):
        # torch's rule: extra rows beyond one stride (or one dilation step)
        # would be rows no input position can map to.
        if output_padding[i] >= stride[i] and output_padding[i] >= dilation[i]:
            raise ValueError(
                f"output_padding {output_padding} must be smaller than either stride {stride} or dilation "
                f"{dilation} (along the {axis})"
            )
    kernel = (weight.shape[2], weight.shape[3])
    out_hw = conv_transpose_output_hw(x.shape[2:], kernel, stride, padding, output_padding, dilation)
    if min(out_hw) < 1:
        raise ValueError(f"padding {padding} is too large: the output would be {out_hw[0]}x{out_hw[1]} "
                         f"for input {x.shape[2]}x{x.shape[3]} and kernel {kernel[0]}x{kernel[1]}")
    dtype = common_dtype(x, weight, bias)
    x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
    bias = None if bias is None else bias.astype(dtype, copy=False)
    return x, weight, bias, stride, padding, output_padding, groups, dilation, out_hw


def _window(full_hw: Pair, padding: Pair, out_hw: Pair) -> tuple[int, int]:
    """Rows and columns of the output that the unpadded scatter covers (the rest are zero)."""
    return (min(out_hw[0], full_hw[0] - padding[0]), min(out_hw[1], full_hw[1] - padding[1]))


def conv_transpose2d(x, weight, bias=None, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1, *,
                     backend: str | None = None) -> np.ndarray:
    """2-D transposed convolution ("deconvolution"), as ``torch.nn.functional.conv_transpose2d``.

    Parameters
    ----------
    x : (N, C_in, H, W) array
    weight : (C_in, C_out / groups, KH, KW) array
    bias : (C_out,) array, optional
    stride, padding, dilation : int or (h, w)
        Those of the convolution this one is the transpose of; padding
        removes P rows and columns on each side of the output.
    output_padding : int or (h, w)
        Extra rows/columns at the bottom/right, to pick one of the S input
        sizes that a stride-S convolution maps to the same output size;
        must be smaller than the stride or the dilation.
    groups : int
    backend : {"numba", "im2col", "naive"}, optional

    Returns
    -------
    y : (N, C_out, O_H, O_W) array
        ``O = (H - 1) S - 2 P + D (K - 1) + output_padding + 1``.
    """
    x, weight, bias, stride, padding, output_padding, groups, dilation, out_hw = _check(
        x, weight, bias, stride, padding, output_padding, groups, dilation)
    kernel = weight.shape[2:]
    full = _full_hw(x.shape[2:], kernel, stride, dilation)
    out_channels = weight.shape[1] * groups
    # dx of conv2d ignores the values of the input it was taken at (only
    # its shape matters): zeros stand in for it.
    ghost = np.zeros((x.shape[0], out_channels, *full), dtype=x.dtype)
    scattered, _, _ = conv2d_backward(x, ghost, weight, stride, 0, dilation, groups, backend=backend)
    y = np.zeros((x.shape[0], out_channels, *out_hw), dtype=x.dtype)
    rows, cols = _window(full, padding, out_hw)
    y[:, :, :rows, :cols] = scattered[:, :, padding[0]:padding[0] + rows, padding[1]:padding[1] + cols]
    if bias is not None:
        y += bias[None, :, None, None]
    return y


def conv_transpose2d_backward(dout, x, weight, stride=1, padding=0, output_padding=0, groups: int = 1, dilation=1, *,
                              backend: str | None = None):
    """Gradients of :func:`conv_transpose2d` with respect to its input, weight and bias.

    Parameters
    ----------
    dout : (N, C_out, O_H, O_W) array
        Upstream gradient dL/dy.
    x, weight, stride, padding, output_padding, groups, dilation
        As given to :func:`conv_transpose2d`.

    Returns
    -------
    dx : (N, C_in, H, W) array
        A plain convolution of dout with the same weight.
    dweight : (C_in, C_out / groups, KH, KW) array
    dbias : (C_out,) array
    """
    x, weight, _, stride, padding, output_padding, groups, dilation, out_hw = _check(
        x, weight, None, stride, padding, output_padding, groups, dilation)
    out_channels = weight.shape[1] * groups
    dout = as_float_array(dout, "dout", 4, "(N, C_out, O_H, O_W)")
    expected = (x.shape[0], out_channels, *out_hw)
    if dout.shape != expected:
        raise ValueError(f"dout has shape {dout.shape}, but conv_transpose2d of x {x.shape} with weight "
                         f"{weight.shape} gives {expected}")
    dout = dout.astype(x.dtype, copy=False)
    full = _full_hw(x.shape[2:], weight.shape[2:], stride, dilation)
    rows, cols = _window(full, padding, out_hw)
    # Undo the crop: dout sits where the output was cut from the scatter.
    dfull = np.zeros((x.shape[0], out_channels, *full), dtype=x.dtype)
    dfull[:, :, padding[0]:padding[0] + rows, padding[1]:padding[1] + cols] = dout[:, :, :rows, :cols]
    dx = conv2d(dfull, weight, None, stride, 0, dilation, groups, backend=backend)
    # The scatter is linear in the weight with x in the role of conv2d's
    # upstream gradient: its weight gradient is conv2d's, roles swapped.
    _, dweight, _ = conv2d_backward(x, dfull, weight, stride, 0, dilation, groups, backend=backend)
    dbias = dout.sum(axis=(0, 2, 3))
    return dx, dweight, dbias
