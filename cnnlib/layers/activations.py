"""Elementwise activations: ReLU, Sigmoid, Tanh. No parameters, any shape."""

from __future__ import annotations

import numpy as np

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


def _fused(*arrays: np.ndarray) -> bool:
    """Whether the one-pass numba kernels apply: numba backend, C-contiguous float arrays of one dtype and shape."""
    from .._backend import get_backend

    first = arrays[0]
    return (get_backend() == "numba" and first.dtype in (np.float32, np.float64) and first.size > 0
            and all(a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays))


def _elementwise():
    from ..functional import _numba_elementwise  # compiled on first call

    return _numba_elementwise


def _serial_when_small(size: int):
    from ..functional._threads import serial_when_small  # small loops on one thread: see there

    return serial_when_small(size)


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
        if _fused(x):
            y = np.empty_like(x)
            with _serial_when_small(x.size):
                _elementwise().relu_forward(x.reshape(-1), y.reshape(-1))
        else:
            y = np.maximum(x, 0)
        self._y = y
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        y = self._need_forward(self._y)
        if _fused(dout, y):
            dx = np.empty_like(dout)
            with _serial_when_small(dout.size):
                _elementwise().relu_backward(dout.reshape(-1), y.reshape(-1), dx.reshape(-1))
            return dx
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
