"""Elementwise activations: ReLU, Sigmoid, Tanh. No parameters, any shape."""

from __future__ import annotations

import numpy as np

from ..functional import elementwise
from .base import Layer, Shape

__all__ = ["ReLU", "Sigmoid", "Tanh", "sigmoid"]


def sigmoid(x: np.ndarray) -> np.ndarray:
    """``1 / (1 + exp(-x))`` without overflow warnings for large ``|x|``."""
    # exp of a non-positive number never overflows: use exp(-|x|) on both sides.
    z = np.exp(-np.abs(x))
    return np.where(x >= 0, 1 / (1 + z), z / (1 + z)).astype(x.dtype, copy=False)


class _Elementwise(Layer):
    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def _check(self, x) -> None:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"expected a NumPy array; got {type(x).__name__}")


class ReLU(_Elementwise):
    """``max(0, x)``; the gradient passes where the input was positive.

    The output y is kept for the backward pass: ``y > 0`` exactly where
    ``x > 0``. With the numba backend both passes are one parallel loop
    (bit-identical to the NumPy expressions here).
    """

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        y = elementwise.relu(x) if elementwise.fused_applies(x) else np.maximum(x, 0)
        self._y = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._need_forward(self._y)
        if elementwise.fused_applies(dout, y):
            return elementwise.relu_backward(dout, y)
        with np.errstate(invalid="ignore"):  # an infinite dout where y = 0 gives NaN (inf * 0), silently
            return dout * (y > 0)


class Sigmoid(_Elementwise):
    """``y = 1 / (1 + exp(-x))``; ``dy/dx = y (1 - y)``, at most 1/4."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._y = sigmoid(x)
        return self._y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._need_forward(self._y)
        return dout * y * (1 - y)


class Tanh(_Elementwise):
    """``y = tanh(x)``; ``dy/dx = 1 - y^2``."""

    def __init__(self) -> None:
        super().__init__()
        self._y: np.ndarray | None = None

    def forward(self, x: np.ndarray) -> np.ndarray:
        self._check(x)
        self._y = np.tanh(x)
        return self._y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._need_forward(self._y)
        return dout * (1 - y ** 2)
