"""ConvTranspose2d: the layer form of :func:`cnnlib.functional.conv_transpose2d`."""

from __future__ import annotations

import numpy as np

from .._validation import as_int, as_pair
from ..functional.transpose import conv_transpose2d, conv_transpose2d_backward, conv_transpose_output_hw
from .base import Layer, Shape, as_rng, format_shape
from .init import init_weight

__all__ = ["ConvTranspose2d"]


class ConvTranspose2d(Layer):
    """Transposed convolution layer: ``(N, C_in, H, W) -> (N, C_out, O_H, O_W)``.

    ``O = (H - 1) S - 2 P + D (K - 1) + output_padding + 1``: a stride-S
    transposed convolution upsamples by S, the way a stride-S convolution
    downsamples.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, padding, output_padding, dilation : int or (h, w)
        As in ``torch.nn.ConvTranspose2d``.
    groups : int
    bias : bool
    init : {"he", "xavier"}
    rng : numpy Generator or int seed, optional
    dtype : float32 (default) or float64

    Attributes
    ----------
    params : ``{"weight": (C_in, C_out/groups, KH, KW), "bias": (C_out,)}``
        torch's layout, so weights copy across unchanged.
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, output_padding=0,
                 groups: int = 1, bias: bool = True, dilation=1, init: str = "he", rng=None,
                 dtype=np.float32) -> None:
        super().__init__()
        self.in_channels = as_int(in_channels, "in_channels", 1)
        self.out_channels = as_int(out_channels, "out_channels", 1)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        self.output_padding = as_pair(output_padding, "output_padding", 0)
        self.dilation = as_pair(dilation, "dilation", 1)
        self.groups = as_int(groups, "groups", 1)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must both be "
                             f"divisible by groups ({groups})")
        for i in range(2):
            if self.output_padding[i] >= self.stride[i] and self.output_padding[i] >= self.dilation[i]:
                raise ValueError(f"output_padding {self.output_padding} must be smaller than either stride "
                                 f"{self.stride} or dilation {self.dilation}")
        kh, kw = self.kernel_size
        shape = (self.in_channels, self.out_channels // self.groups, kh, kw)
        # Each output value sums over (C_in / groups) K_H K_W / (S_H S_W) inputs
        # on average; torch takes fan_in from weight.shape[1], and so do we.
        fan_in, fan_out = shape[1] * kh * kw, (self.in_channels // self.groups) * kh * kw
        self._add_param("weight", init_weight(shape, fan_in, fan_out, init, as_rng(rng), dtype))
        if bias:
            self._add_param("bias", np.zeros(self.out_channels, dtype=dtype))
        self._x: np.ndarray | None = None

    def describe(self) -> str:
        text = f"ConvTranspose2d {self.in_channels}->{self.out_channels}, {self.kernel_size[0]}x{self.kernel_size[1]}"
        for name, value, default in (("stride", self.stride, (1, 1)), ("pad", self.padding, (0, 0)),
                                     ("out pad", self.output_padding, (0, 0)), ("dilation", self.dilation, (1, 1))):
            if value != default:
                text += f", {name} {value[0] if value[0] == value[1] else f'{value[0]}x{value[1]}'}"
        if self.groups != 1:
            text += f", groups {self.groups}"
        return text

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        if len(shape) != 3 or shape[0] != self.in_channels:
            raise ValueError(f"expected a sample shape (C, H, W) with {self.in_channels} channels; "
                             f"got {format_shape(shape)}")
        out = conv_transpose_output_hw(shape[1:], self.kernel_size, self.stride, self.padding, self.output_padding,
                                       self.dilation)
        if min(out) < 1:
            raise ValueError(f"padding {self.padding} is too large for input {shape[1]}x{shape[2]}: "
                             f"the output would be {out[0]}x{out[1]}")
        return (self.out_channels, *out)

    def macs(self, input_shape: Shape) -> int:
        """Multiply-accumulates per sample: every input value times its C_out/groups x K_H x K_W taps."""
        return int(np.prod(input_shape)) * int(np.prod(self.params["weight"].shape[1:]))

    def _kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, output_padding=self.output_padding, groups=self.groups,
                    dilation=self.dilation)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(f"expected 4-D input (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
        self.output_shape(x.shape[1:])
        self._x = x
        return conv_transpose2d(x, self.params["weight"], self.params.get("bias"), **self._kwargs())

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._need_forward(self._x)
        weight = self.params["weight"]
        dx, dw, db = conv_transpose2d_backward(dout, self._x, weight, **self._kwargs())
        self.grads["weight"] = dw.astype(weight.dtype, copy=False)
        if "bias" in self.params:
            self.grads["bias"] = db.astype(weight.dtype, copy=False)
        return dx
