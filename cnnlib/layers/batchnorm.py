"""Batch normalization (Ioffe and Szegedy, 2015): BatchNorm1d and BatchNorm2d.

The layers hold the parameters (``weight`` gamma, ``bias`` beta), the
running statistics and the train/eval switch; the arithmetic, forward and
backward, is in :mod:`cnnlib.functional.norm` (its docstring derives the
formulas), which runs numba kernels with the ``"numba"`` backend and NumPy
with the others.

Running statistics, updated in training mode as torch does:

    running_mean = (1 - momentum) running_mean + momentum mu
    running_var  = (1 - momentum) running_var  + momentum var m / (m - 1)

with mu and var the batch's per-channel mean and biased variance over its
m values (m = N for ``(N, C)``, N L for ``(N, C, L)``, N H W for
``(N, C, H, W)``). The normalisation uses the biased ``var`` (the batch's
own spread), the running estimate the unbiased one (an estimate of the
population's). In evaluation mode the running statistics replace the
batch's, so the layer is a fixed per-channel affine map.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import as_int
from ..functional import norm
from .base import Layer, Shape, format_shape

__all__ = ["BatchNorm1d", "BatchNorm2d"]


class _BatchNorm(Layer):
    """Shared code: the subclasses only say which input ranks they take."""

    ranks: tuple[int, ...] = ()
    layout = ""

    def __init__(self, num_features: int, eps: float = 1e-5, momentum: float | None = 0.1, affine: bool = True,
                 dtype=np.float32) -> None:
        super().__init__()
        self.num_features = as_int(num_features, "num_features", 1)
        if isinstance(eps, bool) or not isinstance(eps, (int, float)) or not eps > 0:
            raise ValueError(f"eps must be a positive number; got {eps!r}")
        if momentum is not None and (isinstance(momentum, bool) or not isinstance(momentum, (int, float))
                                     or not 0 <= momentum <= 1):
            raise ValueError(f"momentum must be a number in [0, 1] or None (cumulative average); got {momentum!r}")
        self.eps = float(eps)
        self.momentum = None if momentum is None else float(momentum)
        self.affine = bool(affine)
        if self.affine:
            self._add_param("weight", np.ones(self.num_features, dtype=dtype))
            self._add_param("bias", np.zeros(self.num_features, dtype=dtype))
        self.buffers["running_mean"] = np.zeros(self.num_features, dtype=dtype)
        self.buffers["running_var"] = np.ones(self.num_features, dtype=dtype)
        # torch keeps the count too (momentum=None averages over it); an
        # integer buffer, so astype leaves it alone.
        self.buffers["num_batches_tracked"] = np.zeros((), dtype=np.int64)
        self._cache: tuple | None = None

    @property
    def running_mean(self) -> np.ndarray:
        return self.buffers["running_mean"]

    @property
    def running_var(self) -> np.ndarray:
        return self.buffers["running_var"]

    def describe(self) -> str:
        return f"{type(self).__name__} {self.num_features}"

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        if len(shape) + 1 not in self.ranks or shape[0] != self.num_features:
            raise ValueError(f"expected a sample shape {self.layout} with {self.num_features} channels; "
                             f"got {format_shape(shape)}")
        return shape

    def _check(self, x) -> tuple[int, ...]:
        if not isinstance(x, np.ndarray):
            raise TypeError(f"expected a NumPy array {self.layout}; got {type(x).__name__}")
        if x.ndim not in self.ranks or x.shape[1] != self.num_features:
            raise ValueError(f"expected input {self.layout} with {self.num_features} channels; got shape {x.shape}")
        return (0, *range(2, x.ndim))

    def _affine(self, dtype: np.dtype) -> tuple[np.ndarray | None, np.ndarray | None]:
        if not self.affine:
            return None, None
        return self.params["weight"].astype(dtype, copy=False), self.params["bias"].astype(dtype, copy=False)

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes = self._check(x)
        m = math.prod(x.shape[a] for a in axes)
        dtype = np.result_type(x.dtype, self.running_mean.dtype)
        x = x.astype(dtype, copy=False)
        weight, bias = self._affine(dtype)
        if self.training:
            if m <= 1:
                raise ValueError(f"{type(self).__name__} in training mode needs more than 1 value per channel; "
                                 f"got input of shape {x.shape} (use a bigger batch, or eval() mode)")
            y, mean, var = norm.batch_norm_train(x, weight, bias, self.eps)
            self._update_running(mean, var, m)
        else:
            # copies (float64): backward must see the statistics forward used
            mean, var = self.running_mean.astype(np.float64), self.running_var.astype(np.float64)
            y = norm.batch_norm_eval(x, mean, var, weight, bias, self.eps)
        # x itself, not xhat, is kept (as Conv2d keeps its input): backward
        # recomputes xhat from x, mean and var in the same pass that reads x.
        self._cache = (x, mean, var, self.training)
        return y

    def _update_running(self, mean: np.ndarray, var: np.ndarray, m: int) -> None:
        self.buffers["num_batches_tracked"] += 1
        # momentum=None: torch's cumulative moving average, factor 1/count.
        f = 1.0 / float(self.buffers["num_batches_tracked"]) if self.momentum is None else self.momentum
        unbiased = var * (m / (m - 1))
        rm, rv = self.buffers["running_mean"], self.buffers["running_var"]
        rm[...] = (1 - f) * rm + f * mean
        rv[...] = (1 - f) * rv + f * unbiased

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, mean, var, training = self._need_forward(self._cache)
        if dout.shape != x.shape:
            raise ValueError(f"dout has shape {dout.shape}; the forward output had shape {x.shape}")
        weight, _ = self._affine(x.dtype)
        dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, mean, var, self.eps, training)
        if self.affine:
            self.grads["weight"] = dweight.astype(self.params["weight"].dtype, copy=False)
            self.grads["bias"] = dbias.astype(self.params["weight"].dtype, copy=False)
        return dx


class BatchNorm1d(_BatchNorm):
    """Batch normalization of features ``(N, C)`` or sequences ``(N, C, L)``, per channel C.

    Parameters
    ----------
    num_features : int
        C.
    eps : float
        Added to the variance before the square root.
    momentum : float in [0, 1] or None
        Weight of the new batch in the running statistics (None: the
        cumulative average of all batches so far), as in torch.
    affine : bool
        Learnable ``weight`` (gamma, starts at 1) and ``bias`` (beta, 0).
    dtype : float32 (default) or float64

    Attributes
    ----------
    params : ``{"weight": (C,), "bias": (C,)}``
    buffers : ``{"running_mean": (C,), "running_var": (C,), "num_batches_tracked": ()}``
    """

    ranks = (2, 3)
    layout = "(N, C) or (N, C, L)"


class BatchNorm2d(_BatchNorm):
    """Batch normalization of images ``(N, C, H, W)``: statistics per channel over N, H and W.

    Parameters and attributes as :class:`BatchNorm1d`.
    """

    ranks = (4,)
    layout = "(N, C, H, W)"
