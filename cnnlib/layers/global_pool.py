"""Global average pooling (Lin et al., 2014): one number per channel."""

from __future__ import annotations

import numpy as np

from .base import Layer, Shape, format_shape

__all__ = ["GlobalAvgPool2d"]


class GlobalAvgPool2d(Layer):
    """Mean of each channel over the whole map: ``(N, C, H, W) -> (N, C)``.

    Network-in-network's replacement for dense layers: no parameters, and
    any input size gives C features. Same as torch's ``AdaptiveAvgPool2d(1)``
    followed by ``flatten(1)``.
    """

    def __init__(self) -> None:
        super().__init__()
        self._hw: tuple[int, int] | None = None

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"expected a sample shape (C, H, W); got {format_shape(input_shape)}")
        return (int(input_shape[0]),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(f"expected 4-D input (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
        self._hw = x.shape[2:]
        return x.mean(axis=(2, 3))

    def backward(self, dout: np.ndarray) -> np.ndarray:
        h, w = self._need_forward(self._hw)
        # Each of the H*W inputs of a channel moved its mean by 1/(H*W).
        grad = dout[:, :, None, None] / dout.dtype.type(h * w)
        return np.ascontiguousarray(np.broadcast_to(grad, (*dout.shape, h, w)))
