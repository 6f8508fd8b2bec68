"""Fully connected ("affine", "dense") layers and Flatten."""

from __future__ import annotations

import math

import numpy as np

from .._validation import as_bool, as_int, as_param_dtype
from ..functional._products import matmul
from .base import Layer, Shape, as_rng, format_shape
from .init import init_weight

__all__ = ["Linear", "Flatten"]


class Linear(Layer):
    """``y = x W^T + b``: ``(N, in_features) -> (N, out_features)``.

    The weight is ``(out_features, in_features)``, one row per output unit,
    as in ``torch.nn.Linear`` (so weights copy across unchanged). Saito's *Deep
    Learning from Scratch* calls this layer "Affine".

    Parameters
    ----------
    in_features, out_features : int
    bias : bool
    init : {"he", "xavier"}
    rng : numpy Generator or int seed, optional
    dtype : float32 (default) or float64
    """

    def __init__(self, in_features: int, out_features: int, bias: bool = True, init: str = "he", rng=None,
                 dtype=np.float32) -> None:
        super().__init__()
        self.in_features = as_int(in_features, "in_features", 1)
        self.out_features = as_int(out_features, "out_features", 1)
        bias, dtype = as_bool(bias, "bias"), as_param_dtype(dtype)
        shape = (self.out_features, self.in_features)
        self._add_param("weight", init_weight(shape, self.in_features, self.out_features, init, as_rng(rng), dtype))
        if bias:
            self._add_param("bias", np.zeros(self.out_features, dtype=dtype))
        self._x: np.ndarray | None = None

    def describe(self) -> str:
        return f"Linear {self.in_features}->{self.out_features}"

    def output_shape(self, input_shape: Shape) -> Shape:
        if tuple(input_shape) != (self.in_features,):
            raise ValueError(
                f"expected input with {self.in_features} features, got sample shape {format_shape(input_shape)}"
                + (" (add a Flatten layer before it)" if len(input_shape) > 1 else "")
            )
        return (self.out_features,)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"expected a NumPy array (N, {self.in_features}); got {type(x).__name__}")
        if x.ndim != 2 or x.shape[1] != self.in_features:
            hint = " (add a Flatten layer before it)" if x.ndim > 2 else ""
            raise ValueError(f"expected input with {self.in_features} features, got {x.shape}{hint}")
        self._x = x
        y = matmul(x, self.params["weight"].T)  # numba's kernel or one BLAS thread (functional._products)
        if "bias" in self.params:
            y += self.params["bias"]
        return y

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x = self._need_forward(self._x)
        weight = self.params["weight"]
        self.grads["weight"] = matmul(dout.T, x).astype(weight.dtype, copy=False)
        if "bias" in self.params:
            self.grads["bias"] = dout.sum(axis=0).astype(weight.dtype, copy=False)
        return matmul(dout, weight)


class Flatten(Layer):
    """``(N, C, H, W) -> (N, C*H*W)``, in C order (channel, row, column), like torch."""

    def __init__(self) -> None:
        super().__init__()
        self._shape: tuple[int, ...] | None = None

    def output_shape(self, input_shape: Shape) -> Shape:
        return (math.prod(input_shape),)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"expected a batch (N, ...) with at least 2 axes; got {getattr(x, 'shape', type(x).__name__)}")
        self._shape = x.shape
        return x.reshape(x.shape[0], -1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._need_forward(self._shape)
        return dout.reshape(self._shape)
