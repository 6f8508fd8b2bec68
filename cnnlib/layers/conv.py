"""Convolution and pooling layers, on top of :mod:`cnnlib.functional`.

The arithmetic lives in ``cnnlib.functional`` (whichever backend is the
default); these classes add what a network needs around it: parameters,
the cache for backward, and shape checks that say which layer failed.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .. import functional as F
from .._validation import as_bool, as_int, as_pair, as_param_dtype, check_fits, conv_geometry, output_hw
from .base import Layer, Shape, as_rng, format_shape
from .init import init_weight

__all__ = ["Conv2d", "MaxPool2d", "AvgPool2d"]


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}x{pair[1]}"


def _check_image(x: np.ndarray, channels: int | None, what: str) -> None:
    """x must be (N, C, H, W), with C == channels when given."""
    if not isinstance(x, np.ndarray):
        raise TypeError(f"expected a NumPy array (N, C, H, W); got {type(x).__name__}")
    if x.ndim != 4:
        raise ValueError(f"expected 4-D input (N, C, H, W) for {what}; got shape {x.shape}")
    if channels is not None and x.shape[1] != channels:
        raise ValueError(f"expected input with {channels} channels, got {x.shape} ({x.shape[1]} channels)")


def _check_sample_shape(shape: Shape, channels: int | None) -> tuple[int, int, int]:
    shape = tuple(shape)
    if len(shape) != 3:
        raise ValueError(f"expected a sample shape (C, H, W); got {format_shape(shape)}")
    if channels is not None and shape[0] != channels:
        raise ValueError(f"expected input with {channels} channels, got sample shape {format_shape(shape)}")
    return shape  # type: ignore[return-value]


class Conv2d(Layer):
    """2-D convolution layer: ``(N, C, H, W) -> (N, F, OH, OW)``.

    Parameters
    ----------
    in_channels, out_channels : int
    kernel_size, stride, dilation : int or (h, w)
        As in ``torch.nn.Conv2d``.
    padding : int, (h, w), "valid" or "same"
        Zeros on each side; "same" (stride 1) keeps H and W, as in torch.
    groups : int
        Split the channels into `groups` independent convolutions (AlexNet's
        two GPUs are ``groups=2``): each filter sees ``in_channels / groups``
        input channels, so the weight is ``(F, C / groups, KH, KW)``.
    bias : bool
    init : {"he", "xavier"}
        Weight initialiser; biases start at zero.
    rng : numpy Generator or int seed, optional
    dtype : float32 (default) or float64

    Attributes
    ----------
    params : ``{"weight": (F, C/groups, KH, KW), "bias": (F,)}``
    """

    def __init__(self, in_channels: int, out_channels: int, kernel_size, stride=1, padding=0, groups: int = 1,
                 bias: bool = True, init: str = "he", rng=None, dtype=np.float32, dilation=1) -> None:
        super().__init__()
        self.in_channels = as_int(in_channels, "in_channels", 1)
        self.out_channels = as_int(out_channels, "out_channels", 1)
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = as_pair(stride, "stride", 1)
        self.dilation = as_pair(dilation, "dilation", 1)
        self.padding = padding if isinstance(padding, str) else as_pair(padding, "padding", 0)
        if isinstance(padding, str):
            # Same rules as the functional API (a name it knows, "same" only at stride 1), checked now.
            eff = [self.dilation[i] * (self.kernel_size[i] - 1) + 1 for i in range(2)]
            conv_geometry(eff, self.kernel_size, self.stride, padding, self.dilation)
        self.groups = as_int(groups, "groups", 1)
        bias = as_bool(bias, "bias")
        dtype = as_param_dtype(dtype)
        if self.in_channels % self.groups or self.out_channels % self.groups:
            raise ValueError(f"in_channels ({in_channels}) and out_channels ({out_channels}) must both be divisible by groups ({groups})")
        kh, kw = self.kernel_size
        per_group = self.in_channels // self.groups
        shape = (self.out_channels, per_group, kh, kw)
        fan_in, fan_out = per_group * kh * kw, (self.out_channels // self.groups) * kh * kw
        self._add_param("weight", init_weight(shape, fan_in, fan_out, init, as_rng(rng), dtype))
        if bias:
            self._add_param("bias", np.zeros(self.out_channels, dtype=dtype))
        self._x: np.ndarray | None = None

    def describe(self) -> str:
        text = f"Conv2d {self.in_channels}->{self.out_channels}, {self.kernel_size[0]}x{self.kernel_size[1]}"
        if self.stride != (1, 1):
            text += f", stride {_pair_text(self.stride)}"
        if isinstance(self.padding, str):
            text += f", pad {self.padding}"
        elif self.padding != (0, 0):
            text += f", pad {_pair_text(self.padding)}"
        if self.dilation != (1, 1):
            text += f", dilation {_pair_text(self.dilation)}"
        if self.groups != 1:
            text += f", groups {self.groups}"
        return text

    def output_shape(self, input_shape: Shape) -> Shape:
        _, h, w = _check_sample_shape(input_shape, self.in_channels)
        stride, padding, dilation, extra = conv_geometry((h, w), self.kernel_size, self.stride, self.padding,
                                                         self.dilation)
        return (self.out_channels, *output_hw((h + extra[0], w + extra[1]), self.kernel_size, stride, padding,
                                              dilation))

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_image(x, self.in_channels, "a convolution")
        self.output_shape(x.shape[1:])  # a clear error if the kernel does not fit
        weight, bias = self.params["weight"], self.params.get("bias")
        self._x = x
        return F.conv2d(x, weight, bias, **self._kwargs())

    def _kwargs(self) -> dict[str, Any]:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation, groups=self.groups)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        return self._backward(dout, input_grad=True)

    def backward_params(self, dout: np.ndarray) -> None:
        """The weight and bias gradients only, without dx (see :meth:`Layer.backward_params`)."""
        self._backward(dout, input_grad=False)

    def _backward(self, dout: np.ndarray, input_grad: bool):
        x, weight = self._need_forward(self._x), self.params["weight"]
        dx, dw, db = F.conv2d_backward(dout, x, weight, **self._kwargs(), input_grad=input_grad)
        self.grads["weight"] = dw.astype(weight.dtype, copy=False)
        if "bias" in self.params:
            self.grads["bias"] = db.astype(weight.dtype, copy=False)
        return dx


class _Pool2d(Layer):
    kind = ""

    def __init__(self, kernel_size, stride=None, padding=0) -> None:
        super().__init__()
        self.kernel_size = as_pair(kernel_size, "kernel_size", 1)
        self.stride = self.kernel_size if stride is None else as_pair(stride, "stride", 1)
        self.padding = as_pair(padding, "padding", 0)
        if self.padding[0] > self.kernel_size[0] // 2 or self.padding[1] > self.kernel_size[1] // 2:
            raise ValueError(f"padding {self.padding} must be at most half the pooling window {self.kernel_size}")
        self._x: np.ndarray | None = None

    def describe(self) -> str:
        text = f"{type(self).__name__} {self.kernel_size[0]}x{self.kernel_size[1]}"
        if self.stride != self.kernel_size:
            text += f", stride {_pair_text(self.stride)}"
        if self.padding != (0, 0):
            text += f", pad {_pair_text(self.padding)}"
        return text

    def output_shape(self, input_shape: Shape) -> Shape:
        c, h, w = _check_sample_shape(input_shape, None)
        check_fits((h, w), self.kernel_size, self.padding, (1, 1), what="pooling window")
        return (c, *output_hw((h, w), self.kernel_size, self.stride, self.padding))

    def _args(self):
        return dict(kernel_size=self.kernel_size, stride=self.stride, padding=self.padding)


class MaxPool2d(_Pool2d):
    """Max pooling: the largest value of each window, channel by channel. No parameters.

    `stride` defaults to `kernel_size`; `padding` (at most half the window)
    is implicit -inf, as in torch.
    """

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_image(x, None, "max pooling")
        self.output_shape(x.shape[1:])
        self._x = x
        return F.max_pool2d(x, **self._args())

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._need_forward(self._x)
        return F.max_pool2d_backward(dout, self._x, **self._args())


class AvgPool2d(_Pool2d):
    """Average pooling (LeNet's subsampling, GoogLeNet's head). No parameters.

    With ``count_include_pad=True`` (torch's default) padded zeros count in
    the mean; with False each window divides by its number of real pixels.
    """

    def __init__(self, kernel_size, stride=None, padding=0, count_include_pad: bool = True) -> None:
        super().__init__(kernel_size, stride, padding)
        self.count_include_pad = as_bool(count_include_pad, "count_include_pad")

    def describe(self) -> str:
        return super().describe() + ("" if self.count_include_pad else ", real pixels only")

    def forward(self, x: np.ndarray) -> np.ndarray:
        _check_image(x, None, "average pooling")
        self.output_shape(x.shape[1:])
        self._x = x
        return F.avg_pool2d(x, **self._args(), count_include_pad=self.count_include_pad)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._need_forward(self._x)
        return F.avg_pool2d_backward(dout, self._x, **self._args(), count_include_pad=self.count_include_pad)
