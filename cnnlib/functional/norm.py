"""Batch normalization (Ioffe and Szegedy, 2015) as functions: forward and backward.

Per channel c, over the m values of that channel in the batch (m = N for
``(N, C)``, N L for ``(N, C, L)``, N H W for ``(N, C, H, W)``):

    mean = sum(x) / m,  var = sum((x - mean)^2) / m,
    inv_std = 1 / sqrt(var + eps),  xhat = (x - mean) inv_std,
    y = weight xhat + bias.

Backward, in the compact form (the sums run over the same m values):

    dbias = sum(dy),  dweight = sum(dy xhat),
    dx = weight inv_std / m (m dy - dbias - xhat dweight).

It follows from differentiating xhat through mean and var: with
``dxhat = weight dy``, ``sum(dxhat) = weight dbias`` is the path through
the mean and ``sum(dxhat xhat) = weight dweight`` the path through the
variance. In evaluation mode the statistics are fixed numbers (the running
ones), the map is affine in x and ``dx = weight inv_std dy``.

Two implementations compute these formulas: with the ``"numba"`` backend
(the default) the kernels of :mod:`._numba_norm`; with any other backend
the NumPy code below, which reads like the formulas. ``backend=`` picks one
per call, as for the convolutions.

Dtypes: ``x`` and ``dout`` float32 or float64 (float16 computed in float32
and returned as float16, integers as float64, as everywhere in cnnlib);
``y``, ``dx``, ``dweight`` and ``dbias`` have the dtype of x. The batch
statistics ``mean`` and ``var`` are float64 on both paths, so that the
backward pass centres x with the mean forward used, unrounded. Sums: the
kernels accumulate in float64; the NumPy path sums in x's dtype (a two-pass
variance, so nothing cancels).

Input that is not finite: the batch statistics and the gradient sums are
checked (C numbers, no extra pass over x), so a NaN or infinity in x (in
training mode) or in dout is a ``ValueError``, as in the convolutions; in
evaluation mode the forward map is affine and a NaN in x gives NaN in y.
"""

from __future__ import annotations

import math

import numpy as np

from .. import _backend
from .._validation import as_bool, as_float_array, as_real, result_dtype

__all__ = ["batch_norm_train", "batch_norm_eval", "batch_norm_backward"]


# --------------------------------------------------------------------------
# Arguments
# --------------------------------------------------------------------------


def _use_kernels(backend: str | None) -> bool:
    """True for the numba backend (the current default when `backend` is None)."""
    name = _backend.get_backend() if backend is None else backend
    if not isinstance(name, str) or name not in _backend.registered_backends():
        raise ValueError(f"backend must be one of {_backend.registered_backends()}; got {name!r}")
    return name == "numba"


def _as_input(x, name: str) -> np.ndarray:
    """x as a C-contiguous float32/float64 array with a channel axis: ``(N, C, ...)``."""
    if isinstance(x, np.ndarray) and x.dtype in (np.float32, np.float64) and x.dtype.isnative:
        arr = np.ascontiguousarray(x)  # the common case: no conversion, no extra pass over x
    else:
        arr = as_float_array(x, name)
    if arr.ndim < 2:
        raise ValueError(f"{name} must be (N, C), (N, C, L) or (N, C, H, W); got shape {arr.shape}")
    return arr


def _per_channel(v, name: str, channels: int, default: float | None = None) -> np.ndarray:
    """A ``(C,)`` vector as float64 (a copy: the caller may change its array later)."""
    if v is None:
        if default is None:
            raise TypeError(f"{name} must be an array of shape ({channels},); got None")
        return np.full(channels, default)
    arr = as_float_array(v, name, 1, f"({channels},)")
    if arr.shape != (channels,):
        raise ValueError(f"{name} must have shape ({channels},), one value per channel; got {arr.shape}")
    return arr.astype(np.float64)


def _channels_view(x: np.ndarray) -> np.ndarray:
    """``(N, C, ...)`` viewed as ``(N, C, L)``: channel c is N contiguous runs of L values."""
    return x.reshape(x.shape[0], x.shape[1], math.prod(x.shape[2:]))  # not -1: N = 0 leaves L undefined


def _check_finite(name: str, *sums: np.ndarray) -> None:
    if not all(np.isfinite(s).all() for s in sums):
        raise ValueError(f"{name} contains NaN or infinite values (its per-channel sums are not finite); "
                         f"check the data or the learning rate")


def _values_per_channel(x: np.ndarray) -> int:
    return x.shape[0] * math.prod(x.shape[2:])


# --------------------------------------------------------------------------
# The NumPy path: the formulas, one array operation each
# --------------------------------------------------------------------------


def _channel_dot(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum(a * b)`` per channel of ``(N, C, L)`` arrays, without the temporary product."""
    return np.einsum("ncl,ncl->c", a, b)


def _col(v: np.ndarray, dtype: np.dtype) -> np.ndarray:
    """A per-channel ``(C,)`` vector as ``(C, 1)``, which broadcasts against ``(N, C, L)``."""
    return v.astype(dtype)[:, None]


def _train_numpy(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float):
    m = x.shape[0] * x.shape[2]
    mean = x.mean(axis=(0, 2))
    centred = x - mean[:, None]
    var = _channel_dot(centred, centred) / m  # two-pass: no cancellation as in E[x^2] - mean^2
    inv_std = 1.0 / np.sqrt(var.astype(np.float64) + eps)
    centred *= _col(weight * inv_std, x.dtype)  # in place: y is made in the array of the centred values
    centred += _col(bias, x.dtype)
    return centred, mean.astype(np.float64), var.astype(np.float64)


def _eval_numpy(x, mean, inv_std, weight, bias):
    y = x - _col(mean, x.dtype)
    y *= _col(weight * inv_std, x.dtype)
    y += _col(bias, x.dtype)
    return y


def _backward_numpy(dout, x, weight, mean, inv_std, training):
    dt = x.dtype
    m = x.shape[0] * x.shape[2]
    xhat = (x - _col(mean, dt)) * _col(inv_std, dt)
    dbias = dout.sum(axis=(0, 2))
    dweight = _channel_dot(dout, xhat)
    scale = weight * inv_std
    if not training:
        return dout * _col(scale, dt), dweight, dbias
    # dx = scale / m (m dout - dbias - xhat dweight), built in the xhat array
    dx = xhat
    dx *= _col(-scale * dweight / m, dt)
    dx += dout * _col(scale, dt)
    dx -= _col(scale * dbias / m, dt)
    return dx, dweight, dbias


# --------------------------------------------------------------------------
# The numba path
# --------------------------------------------------------------------------


def _serial_when_small(size: int):
    from ._threads import serial_when_small

    return serial_when_small(size)


def _kernels():
    # Imported on first use: a learner on the NumPy backends never compiles them.
    from . import _numba_norm, _threads

    _threads.configure_numba()  # cnnlib's thread policy first (returns at once after the first call)
    return _numba_norm


# --------------------------------------------------------------------------
# Public functions
# --------------------------------------------------------------------------


def batch_norm_train(x, weight=None, bias=None, eps: float = 1e-5, *,
                     backend: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Training-mode batch normalization: normalise each channel with the batch's own statistics.

    Parameters
    ----------
    x : (N, C), (N, C, L) or (N, C, H, W) array
        More than one value per channel (N times the rest > 1).
    weight, bias : (C,) arrays or None
        gamma and beta; None means 1 and 0.
    eps : float
        Added to the variance before the square root (> 0).
    backend : str, optional
        ``"numba"`` runs the kernels, any other registered backend the
        NumPy code; default: the current backend (:func:`cnnlib.get_backend`).

    Returns
    -------
    y : array of x's shape and dtype
    mean : (C,) float64
        The batch mean per channel.
    var : (C,) float64
        The biased batch variance per channel (divided by m, as the
        normalisation uses it; the running estimate wants ``var m / (m - 1)``).
    """
    out = result_dtype(x)
    x = _as_input(x, "x")
    c = x.shape[1]
    w, b = _per_channel(weight, "weight", c, 1.0), _per_channel(bias, "bias", c, 0.0)
    eps = as_real(eps, "eps", positive=True)
    if _values_per_channel(x) <= 1:
        raise ValueError(f"batch_norm_train needs more than 1 value per channel; got x of shape {x.shape}")
    x3 = _channels_view(x)
    if _use_kernels(backend):
        y3 = np.empty_like(x3)
        mean, var, inv_std = np.empty(c), np.empty(c), np.empty(c)
        with _serial_when_small(x3.size):
            _kernels().batch_norm_train(x3, w, b, eps, y3, mean, var, inv_std)
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # a NaN or inf in x is reported just below
            y3, mean, var = _train_numpy(x3, w, b, eps)
    _check_finite("x", mean, var)
    return y3.reshape(x.shape).astype(out, copy=False), mean, var


def batch_norm_eval(x, running_mean, running_var, weight=None, bias=None, eps: float = 1e-5, *,
                    backend: str | None = None) -> np.ndarray:
    """Evaluation-mode batch normalization: a per-channel affine map with fixed statistics.

    Parameters
    ----------
    x : (N, C), (N, C, L) or (N, C, H, W) array
    running_mean, running_var : (C,) arrays
        The statistics to normalise with (a layer's running estimates).
    weight, bias, eps, backend
        As in :func:`batch_norm_train`.

    Returns
    -------
    y : array of x's shape and dtype
        ``weight (x - running_mean) / sqrt(running_var + eps) + bias``.
    """
    out = result_dtype(x)
    x = _as_input(x, "x")
    c = x.shape[1]
    mean, var = _per_channel(running_mean, "running_mean", c), _per_channel(running_var, "running_var", c)
    w, b = _per_channel(weight, "weight", c, 1.0), _per_channel(bias, "bias", c, 0.0)
    eps = as_real(eps, "eps", positive=True)
    if (var < 0).any():
        raise ValueError(f"running_var must be >= 0; got {var}")
    inv_std = 1.0 / np.sqrt(var + eps)
    x3 = _channels_view(x)
    if _use_kernels(backend):
        y3 = np.empty_like(x3)
        with _serial_when_small(x3.size):
            _kernels().batch_norm_eval(x3, w, b, mean, inv_std, y3)
    else:
        y3 = _eval_numpy(x3, mean, inv_std, w, b)
    return y3.reshape(x.shape).astype(out, copy=False)


def batch_norm_backward(dout, x, weight, mean, var, eps: float = 1e-5, training: bool = True, *,
                        backend: str | None = None) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Gradients of :func:`batch_norm_train` (or, with ``training=False``, of :func:`batch_norm_eval`).

    Parameters
    ----------
    dout : array of x's shape
        dL/dy.
    x : (N, C), (N, C, L) or (N, C, H, W) array
        The input of the forward pass.
    weight : (C,) array or None
        gamma of the forward pass; None means 1.
    mean, var : (C,) arrays
        The statistics the forward pass normalised with: the batch's
        (``mean`` and ``var`` returned by :func:`batch_norm_train`) in
        training mode, the running ones in evaluation mode.
    eps : float
        The forward pass's eps.
    training : bool
        True: the statistics depend on x (the gradient flows through them).
        False: they are fixed numbers.
    backend : str, optional
        As in :func:`batch_norm_train`.

    Returns
    -------
    dx : array of x's shape and dtype
    dweight : (C,) array, x's dtype
        ``sum(dout xhat)`` per channel.
    dbias : (C,) array, x's dtype
        ``sum(dout)`` per channel.
    """
    out = result_dtype(x)
    x = _as_input(x, "x")
    dout = _as_input(dout, "dout")
    if dout.shape != x.shape:
        raise ValueError(f"dout has shape {dout.shape}; x (the forward input) has shape {x.shape}")
    dout = dout.astype(x.dtype, copy=False)
    c = x.shape[1]
    w = _per_channel(weight, "weight", c, 1.0)
    mean, var = _per_channel(mean, "mean", c), _per_channel(var, "var", c)
    eps = as_real(eps, "eps", positive=True)
    training = as_bool(training, "training")
    if (var < 0).any():
        raise ValueError(f"var must be >= 0; got {var}")
    inv_std = 1.0 / np.sqrt(var + eps)
    x3, d3 = _channels_view(x), _channels_view(dout)
    if _use_kernels(backend):
        dx3 = np.empty_like(x3)
        dweight, dbias = np.empty(c), np.empty(c)
        with _serial_when_small(x3.size):
            _kernels().batch_norm_backward(d3, x3, w, mean, inv_std, training, dx3, dweight, dbias)
    else:
        with np.errstate(invalid="ignore", over="ignore"):  # a NaN or inf in dout is reported just below
            dx3, dweight, dbias = _backward_numpy(d3, x3, w, mean, inv_std, training)
    _check_finite("dout", dweight, dbias)
    return (dx3.reshape(x.shape).astype(out, copy=False), dweight.astype(out, copy=False),
            dbias.astype(out, copy=False))
