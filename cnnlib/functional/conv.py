"""Convolution: validated public functions that dispatch to a backend."""

from __future__ import annotations

import numpy as np

from .. import _backend
from .._geometry import effective_length, output_length
from .._validation import (as_bool, as_float_array, as_int, as_pair, common_dtype, conv_geometry, output_hw,
                           result_dtype)
from .grouped import check_groups, grouped_conv2d, grouped_conv2d_backward

__all__ = ["conv2d", "conv2d_backward", "conv1d", "conv3d", "correlate2d", "convolve2d"]


def _check_weight(weight: np.ndarray, axes: str) -> None:
    """A zero-size weight would give an output of bias values only (torch refuses it too)."""
    if 0 in weight.shape:
        raise ValueError(f"weight has shape {weight.shape}: every dimension ({axes}) must be at least 1")


def _check_conv_inputs(x, weight, bias, stride, padding, dilation, groups=1):
    x = as_float_array(x, "x", 4, "(N, C, H, W)")
    weight = as_float_array(weight, "weight", 4, "(out_channels, in_channels, KH, KW)")
    _check_weight(weight, "filters, channels, KH, KW")
    if check_groups(groups, x.shape[1], weight.shape) == 1 and weight.shape[1] != x.shape[1]:
        raise ValueError(
            f"channel mismatch: x has {x.shape[1]} channels (shape {x.shape}) but weight expects "
            f"{weight.shape[1]} (shape {weight.shape}); the kernel needs as many channels as the input"
        )
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, "(out_channels,)")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias has shape {bias.shape} but weight has {weight.shape[0]} filters; expected ({weight.shape[0]},)")
    dtype = common_dtype(x, weight, bias)
    x, weight = x.astype(dtype, copy=False), weight.astype(dtype, copy=False)
    bias = None if bias is None else bias.astype(dtype, copy=False)
    kernel = (weight.shape[2], weight.shape[3])
    stride, padding, dilation, extra = conv_geometry(x.shape[2:], kernel, stride, padding, dilation)
    if extra != (0, 0):
        # padding="same" with an even kernel: one more zero row/column at the
        # bottom/right, like torch; the backends only see symmetric padding.
        x = np.pad(x, [(0, 0), (0, 0), (0, extra[0]), (0, extra[1])])
    return x, weight, bias, stride, padding, dilation, extra


def conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1, groups=1, *, backend: str | None = None) -> np.ndarray:
    """2-D convolution (cross-correlation, as in every deep-learning library).

    ``y[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * xpad[n, c, i*S + p*D, j*S + q*D]``

    Parameters
    ----------
    x : (N, C, H, W) array
    weight : (F, C / groups, KH, KW) array
    bias : (F,) array, optional
    stride, dilation : int or (h, w)
    padding : int, (h, w), "valid" or "same"
        Zeros added on each side; "same" needs stride 1 and keeps H and W.
    groups : int
        C and F are split into `groups` independent convolutions
        (see :mod:`cnnlib.functional.grouped`); ``groups = C`` is depthwise.
    backend : {"numba", "im2col", "naive"}, optional
        Default: :func:`cnnlib.get_backend`.

    Returns
    -------
    y : (N, F, OH, OW) array
        float32 if every input is float32, float16 (computed in float32) if
        every input is float16, else float64 (see
        :func:`cnnlib._validation.result_dtype`); native byte order.
    """
    out = result_dtype(x, weight, bias)
    x, weight, bias, stride, padding, dilation, _ = _check_conv_inputs(x, weight, bias, stride, padding, dilation, groups)
    impl = _backend.resolve(backend)
    if groups != 1:
        return grouped_conv2d(impl, x, weight, bias, stride, padding, dilation, groups).astype(out, copy=False)
    return impl.conv2d(x, weight, bias, stride, padding, dilation).astype(out, copy=False)


def conv2d_backward(dout, x, weight, stride=1, padding=0, dilation=1, groups=1, *, input_grad: bool = True,
                    backend: str | None = None):
    """Gradients of :func:`conv2d` with respect to its input, weight and bias.

    Parameters
    ----------
    dout : (N, F, OH, OW) array
        Upstream gradient dL/dy.
    x, weight, stride, padding, dilation, groups
        As given to :func:`conv2d`.
    input_grad : bool
        False: skip dx (returned as None), as torch does for a layer whose
        input needs no gradient -- the first layer of a network, whose input
        is the data. A backend with ``conv2d_backward_weight`` then computes
        only the weight and bias gradients (the numba backend: about a third
        of the work saved); the others compute dx and drop it.

    Returns
    -------
    dx : (N, C, H, W) array, or None if `input_grad` is False
    dweight : (F, C / groups, KH, KW) array
    dbias : (F,) array
        The sum of dout over the batch and both spatial axes.
    """
    out = result_dtype(x, weight)  # dout is cast to it, as in the forward pass
    h, w = np.shape(x)[2:4] if np.ndim(x) == 4 else (0, 0)
    x, weight, _, stride, padding, dilation, extra = _check_conv_inputs(x, weight, None, stride, padding, dilation, groups)
    expected = (x.shape[0], weight.shape[0], *output_hw(x.shape[2:], weight.shape[2:], stride, padding, dilation))
    dout = as_float_array(dout, "dout", 4, "(N, F, OH, OW)")
    if dout.shape != expected:
        raise ValueError(f"dout has shape {dout.shape}, but conv2d of x {tuple(np.shape(x))} with weight {weight.shape} gives {expected}")
    dout = dout.astype(x.dtype, copy=False)
    impl = _backend.resolve(backend)
    input_grad = as_bool(input_grad, "input_grad")
    if not input_grad and groups == 1 and hasattr(impl, "conv2d_backward_weight"):
        dw, db = impl.conv2d_backward_weight(dout, x, weight, stride, padding, dilation)
        return None, dw.astype(out, copy=False), db.astype(out, copy=False)
    if groups != 1:
        dx, dw, db = grouped_conv2d_backward(impl, dout, x, weight, stride, padding, dilation, groups)
    else:
        dx, dw, db = impl.conv2d_backward(dout, x, weight, stride, padding, dilation)
    if not input_grad:  # this backend has no weight-only path: dx was computed, and is dropped
        return None, dw.astype(out, copy=False), db.astype(out, copy=False)
    if extra != (0, 0):
        dx = np.ascontiguousarray(dx[:, :, :h, :w])
    return dx.astype(out, copy=False), dw.astype(out, copy=False), db.astype(out, copy=False)


def conv1d(x, weight, bias=None, stride=1, padding=0, dilation=1, *, backend: str | None = None) -> np.ndarray:
    """1-D convolution: ``x (N, C, L)``, ``weight (F, C, K)`` -> ``(N, F, OL)``.

    Computed as a 2-D convolution over images of height 1, so it shares
    every check and backend of :func:`conv2d`.
    """
    out = result_dtype(x, weight, bias)
    x = as_float_array(x, "x", 3, "(N, C, L)")
    weight = as_float_array(weight, "weight", 3, "(out_channels, in_channels, K)")
    pad = padding if isinstance(padding, str) else (0, _scalar(padding, "padding"))
    y = conv2d(
        x[:, :, None, :], weight[:, :, None, :], bias,
        stride=(1, _scalar(stride, "stride")), padding=pad, dilation=(1, _scalar(dilation, "dilation")), backend=backend,
    )
    return np.ascontiguousarray(y[:, :, 0, :]).astype(out, copy=False)


def conv3d(x, weight, bias=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    """3-D convolution, reference implementation in NumPy.

    ``x (N, C, D, H, W)``, ``weight (F, C, KD, KH, KW)`` -> ``(N, F, OD, OH, OW)``;
    `stride`, `padding`, `dilation` are ints or triples. One ``tensordot`` per
    kernel tap: clear rather than fast (chapter 2 uses it on small volumes).
    """
    out_dtype = result_dtype(x, weight, bias)
    x = as_float_array(x, "x", 5, "(N, C, D, H, W)")
    weight = as_float_array(weight, "weight", 5, "(out_channels, in_channels, KD, KH, KW)")
    _check_weight(weight, "filters, channels, KD, KH, KW")
    if weight.shape[1] != x.shape[1]:
        raise ValueError(f"channel mismatch: x has {x.shape[1]} channels (shape {x.shape}) but weight expects {weight.shape[1]} (shape {weight.shape})")
    if bias is not None:
        bias = as_float_array(bias, "bias", 1, "(out_channels,)")
        if bias.shape[0] != weight.shape[0]:
            raise ValueError(f"bias has shape {bias.shape}; expected ({weight.shape[0]},)")
    dtype = common_dtype(x, weight)
    s, p, d = (_triple(v, name, lo) for v, name, lo in ((stride, "stride", 1), (padding, "padding", 0), (dilation, "dilation", 1)))
    k = weight.shape[2:]
    eff = [effective_length(k[i], d[i]) for i in range(3)]
    size = [x.shape[2 + i] + 2 * p[i] for i in range(3)]
    if any(eff[i] > size[i] for i in range(3)):
        raise ValueError(f"kernel {tuple(k)} (effective {tuple(eff)}) is larger than the padded input {tuple(size)}")
    out = [output_length(x.shape[2 + i], k[i], s[i], p[i], d[i]) for i in range(3)]
    xp = np.pad(x.astype(dtype), [(0, 0), (0, 0)] + [(p[i], p[i]) for i in range(3)])
    y = np.zeros((x.shape[0], weight.shape[0], *out), dtype=dtype)
    for a in range(k[0]):
        for b in range(k[1]):
            for c in range(k[2]):
                patch = xp[:, :,
                           a * d[0]: a * d[0] + s[0] * out[0]: s[0],
                           b * d[1]: b * d[1] + s[1] * out[1]: s[1],
                           c * d[2]: c * d[2] + s[2] * out[2]: s[2]]
                y += np.einsum("ncdhw,fc->nfdhw", patch, weight[:, :, a, b, c].astype(dtype))
    if bias is not None:
        y += bias.astype(dtype)[None, :, None, None, None]
    return y.astype(out_dtype, copy=False)


def correlate2d(image, kernel, mode: str = "valid") -> np.ndarray:
    """Cross-correlation of one 2-D image with one 2-D kernel.

    ``out[i, j] = sum_{p, q} kernel[p, q] * image[i + p, j + q]`` -- what deep
    learning calls convolution. ``mode="full"`` first pads K-1 zeros on every
    side, so that every overlap of kernel and image is an output.
    """
    out = result_dtype(image, kernel)
    image = as_float_array(image, "image", 2, "(H, W)")
    kernel = as_float_array(kernel, "kernel", 2, "(KH, KW)")
    if mode not in ("valid", "full"):
        raise ValueError(f"mode must be 'valid' or 'full'; got {mode!r}")
    pad = (kernel.shape[0] - 1, kernel.shape[1] - 1) if mode == "full" else (0, 0)
    y = conv2d(image[None, None], kernel[None, None], padding=pad, backend="im2col")
    return y[0, 0].astype(out, copy=False)


def convolve2d(image, kernel, mode: str = "valid") -> np.ndarray:
    """True convolution: cross-correlation with the kernel rotated by pi.

    ``out[i, j] = sum_{p, q} kernel[p, q] * image[i - p, j - q]`` (indices
    shifted so that the first output is the first full overlap).
    """
    out = result_dtype(image, kernel)
    kernel = as_float_array(kernel, "kernel", 2, "(KH, KW)")
    return correlate2d(image, kernel[::-1, ::-1], mode=mode).astype(out, copy=False)


def _scalar(value, name: str) -> int:
    h, w = as_pair(value, name, 0)
    if h != w:
        raise ValueError(f"{name} of a 1-D convolution must be a single int; got {value!r}")
    return w


def _triple(value, name: str, minimum: int) -> tuple[int, int, int]:
    if isinstance(value, (tuple, list)):
        if len(value) != 3:
            raise ValueError(f"{name} must be an int or a triple (d, h, w); got {value!r}")
        return tuple(as_int(v, f"{name}[{i}]", minimum) for i, v in enumerate(value))  # type: ignore[return-value]
    v = as_int(value, name, minimum)
    return (v, v, v)
