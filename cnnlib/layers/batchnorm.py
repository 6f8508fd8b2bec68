"""Batch normalization (Ioffe and Szegedy, 2015): BatchNorm1d and BatchNorm2d.

Per channel c, over the m values of that channel in the batch (m = N for
``(N, C)``, N L for ``(N, C, L)``, N H W for ``(N, C, H, W)``):

    mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps),
    y = weight * xhat + bias.

Backward (the compact form; sums run over the same m values):

    dxhat = dy * weight
    dx = (m dxhat - sum(dxhat) - xhat sum(dxhat xhat)) / (m sqrt(var + eps))
    dweight = sum(dy xhat),  dbias = sum(dy)

It follows from differentiating xhat through mu and var: the two sums are
the paths through the mean and through the variance.

Running statistics, updated in training mode as torch does:

    running_mean = (1 - momentum) running_mean + momentum mu
    running_var  = (1 - momentum) running_var  + momentum var m / (m - 1)

The normalisation uses the biased ``var`` (the batch's own spread), the
running estimate the unbiased one (an estimate of the population's). In
evaluation mode the running statistics replace the batch's, so the layer
is a fixed per-channel affine map.
"""

from __future__ import annotations

import math

import numpy as np

from .._validation import as_int
from .base import Layer, Shape, format_shape

__all__ = ["BatchNorm1d", "BatchNorm2d"]


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` per channel (axis 1), without the temporary product."""
    n, c = a.shape[:2]
    return np.einsum("ncl,ncl->c", a.reshape(n, c, -1), b.reshape(n, c, -1))


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

    def _per_channel(self, v: np.ndarray, ndim: int) -> np.ndarray:
        return v.reshape((1, -1) + (1,) * (ndim - 2))

    def forward(self, x: np.ndarray) -> np.ndarray:
        axes = self._check(x)
        m = math.prod(x.shape[a] for a in axes)
        dtype = np.result_type(x.dtype, self.running_mean.dtype)
        x = x.astype(dtype, copy=False)
        if self.training:
            if m <= 1:
                raise ValueError(f"{type(self).__name__} in training mode needs more than 1 value per channel; "
                                 f"got input of shape {x.shape} (use a bigger batch, or eval() mode)")
            mean = x.mean(axis=axes)
            xhat = x - self._per_channel(mean, x.ndim)
            var = _channel_dot(xhat, xhat) / m  # two-pass variance: no cancellation as in E[x^2] - mu^2
            self._update_running(mean, var, m)
        else:
            mean, var = self.running_mean.astype(dtype), self.running_var.astype(dtype)
            xhat = x - self._per_channel(mean, x.ndim)
        inv_std = (1.0 / np.sqrt(var + self.eps)).astype(dtype)
        xhat *= self._per_channel(inv_std, x.ndim)  # in place: one array for centring and scaling
        self._cache = (xhat, inv_std, axes, m, self.training)
        if not self.affine:
            return xhat.copy()
        y = xhat * self._per_channel(self.params["weight"].astype(dtype, copy=False), x.ndim)
        y += self._per_channel(self.params["bias"].astype(dtype, copy=False), x.ndim)
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
        xhat, inv_std, axes, m, training = self._need_forward(self._cache)
        if dout.shape != xhat.shape:
            raise ValueError(f"dout has shape {dout.shape}; the forward output had shape {xhat.shape}")
        dout = dout.astype(xhat.dtype, copy=False)
        nd = dout.ndim
        dbias = dout.sum(axis=axes)
        dweight = _channel_dot(dout, xhat)
        gamma = self.params["weight"].astype(xhat.dtype, copy=False) if self.affine else np.ones_like(inv_std)
        if self.affine:
            self.grads["weight"] = dweight.astype(self.params["weight"].dtype, copy=False)
            self.grads["bias"] = dbias.astype(self.params["weight"].dtype, copy=False)
        if not training:
            # Fixed statistics: the layer is affine in x.
            return dout * self._per_channel(gamma * inv_std, nd)
        # dxhat = gamma dout, so sum(dxhat) = gamma dbias and sum(dxhat xhat) = gamma dweight:
        # dx = gamma / (m sigma) (m dout - dbias - xhat dweight), with the sums we already have.
        dx = xhat * self._per_channel(-dweight, nd)
        dx += dout * dout.dtype.type(m)
        dx -= self._per_channel(dbias, nd)
        dx *= self._per_channel(gamma * inv_std / m, nd)
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
