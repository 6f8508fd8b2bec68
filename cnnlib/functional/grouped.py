"""Grouped convolution (``groups > 1``) on any backend, by splitting channels.

With ``groups = G`` the C input channels and F filters are cut into G equal
slices; slice g of the filters sees only slice g of the channels:

    y[:, g*F/G : (g+1)*F/G] = conv2d(x[:, g*C/G : (g+1)*C/G], w[g*F/G : (g+1)*F/G])

so the weight is ``(F, C/G, K_H, K_W)`` and the layer has G times fewer
weights and multiply-accumulates than a dense one. ``G = C`` is a depthwise
convolution (one filter per channel, MobileNet). The functions here run the
backend's own ``conv2d`` / ``conv2d_backward`` once per group, so they are
correct on every backend without a kernel of their own. A backend may also
provide ``depthwise_conv2d`` and ``depthwise_conv2d_backward`` (same
arguments as ``conv2d``, weight ``(F, 1, K_H, K_W)``): when every filter sees
one channel (``groups = C``) they are used instead of C calls of one
channel each (the numba backend has such kernels).

Inputs reach these functions already validated by
:mod:`cnnlib.functional.conv`.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np

from .._validation import Pair, as_int

if TYPE_CHECKING:  # the annotation only: the backends are passed in, never imported here
    from .._backend import Backend

__all__ = ["check_groups", "grouped_conv2d", "grouped_conv2d_backward"]


def check_groups(groups, in_channels: int, weight_shape: tuple[int, ...], name: str = "weight") -> int:
    """Validate `groups` against the input channels and a conv2d weight ``(F, C/groups, K_H, K_W)``.

    Returns `groups` as an int; raises ``ValueError`` naming the sizes that
    do not divide.
    """
    groups = as_int(groups, "groups", 1)
    if groups == 1:
        return 1
    filters, per_group = weight_shape[0], weight_shape[1]
    if in_channels % groups:
        raise ValueError(f"groups={groups}: the input has {in_channels} channels, which is not divisible by groups")
    if filters % groups:
        raise ValueError(f"groups={groups}: {name} has {filters} filters (shape {tuple(weight_shape)}), "
                         "which is not divisible by groups")
    if per_group * groups != in_channels:
        raise ValueError(
            f"groups={groups}: {name} has shape {tuple(weight_shape)}, so each filter sees {per_group} channels, "
            f"but the input has {in_channels} channels; expected {name}.shape[1] == in_channels / groups "
            f"= {in_channels // groups}"
        )
    return groups


def _slices(groups: int, channels: int, filters: int) -> list[tuple[slice, slice]]:
    ci, co = channels // groups, filters // groups
    return [(slice(g * ci, (g + 1) * ci), slice(g * co, (g + 1) * co)) for g in range(groups)]


def grouped_conv2d(impl: Backend, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None,
                   stride: Pair, padding: Pair, dilation: Pair, groups: int) -> np.ndarray:
    """``conv2d`` with `groups` on backend module `impl`.

    x : (N, C, H, W); weight : (F, C/groups, K_H, K_W); bias : (F,) or None.
    Returns y : (N, F, O_H, O_W).
    """
    if weight.shape[1] == 1 and hasattr(impl, "depthwise_conv2d"):
        return impl.depthwise_conv2d(x, weight, bias, stride, padding, dilation)
    filters = weight.shape[0]
    y = None
    for cs, fs in _slices(groups, x.shape[1], filters):
        # Backends want C-contiguous arrays; a channel slice of x is not.
        part = impl.conv2d(np.ascontiguousarray(x[:, cs]), weight[fs], None if bias is None else bias[fs],
                           stride, padding, dilation)
        if y is None:
            y = np.empty((x.shape[0], filters, *part.shape[2:]), dtype=part.dtype)
        y[:, fs] = part
    return y


def grouped_conv2d_backward(impl: Backend, dout: np.ndarray, x: np.ndarray, weight: np.ndarray,
                            stride: Pair, padding: Pair, dilation: Pair, groups: int):
    """Gradients of :func:`grouped_conv2d`: ``(dx (N, C, H, W), dweight (F, C/groups, K_H, K_W), dbias (F,))``."""
    if weight.shape[1] == 1 and hasattr(impl, "depthwise_conv2d_backward"):
        return impl.depthwise_conv2d_backward(dout, x, weight, stride, padding, dilation)
    dx = np.empty(x.shape, dtype=x.dtype)
    dw = np.empty(weight.shape, dtype=x.dtype)
    db = np.empty(weight.shape[0], dtype=x.dtype)
    for cs, fs in _slices(groups, x.shape[1], weight.shape[0]):
        dx[:, cs], dw[fs], db[fs] = impl.conv2d_backward(np.ascontiguousarray(dout[:, fs]),
                                                         np.ascontiguousarray(x[:, cs]), weight[fs],
                                                         stride, padding, dilation)
    return dx, dw, db
