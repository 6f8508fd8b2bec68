"""Finite-difference gradients, to check every backward pass against.

A backward pass is right when it agrees with the slope of the function
measured numerically. The centred difference

    df/dx_i ~ (f(x + h e_i) - f(x - h e_i)) / (2h)

has error O(h^2), so in float64 with h = 1e-5 an analytic gradient that is
right agrees to about 1e-8 relative error, and one that is wrong does not.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

__all__ = ["numerical_gradient", "numerical_gradient_array", "rel_error"]


def numerical_gradient(f: Callable[[np.ndarray], float], x: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of a scalar function by centred differences.

    Parameters
    ----------
    f : callable
        ``f(x) -> float``. It is called with `x` modified in place, one
        element at a time, and `x` is restored afterwards.
    x : array of float64, any shape
    h : float
        Step size.

    Returns
    -------
    grad : array, same shape as `x`
    """
    _check_float64(x)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        f_plus = float(f(x))
        flat[i] = old - h
        f_minus = float(f(x))
        flat[i] = old
        gflat[i] = (f_plus - f_minus) / (2 * h)
    return grad


def numerical_gradient_array(f: Callable[[np.ndarray], np.ndarray], x: np.ndarray, dout: np.ndarray, h: float = 1e-5) -> np.ndarray:
    """Gradient of ``L = sum(f(x) * dout)`` for an array-valued `f`.

    This is what a backward pass computes when it is handed the upstream
    gradient `dout`: the vector-Jacobian product ``dout . df/dx``.

    Parameters
    ----------
    f : callable
        ``f(x) -> array`` of the shape of `dout`.
    x : array of float64
    dout : array
        Upstream gradient.
    """
    _check_float64(x)
    dout = np.asarray(dout, dtype=np.float64)
    grad = np.zeros_like(x)
    flat, gflat = x.reshape(-1), grad.reshape(-1)
    for i in range(flat.size):
        old = flat[i]
        flat[i] = old + h
        plus = np.array(f(x), dtype=np.float64, copy=True)
        flat[i] = old - h
        minus = np.array(f(x), dtype=np.float64, copy=True)
        flat[i] = old
        if plus.shape != dout.shape:
            raise ValueError(f"f(x) has shape {plus.shape} but dout has shape {dout.shape}")
        gflat[i] = np.sum((plus - minus) * dout) / (2 * h)
    return grad


def rel_error(a, b) -> float:
    """Largest relative error ``|a - b| / max(1e-8, |a| + |b|)``, elementwise.

    The measure CS231n uses: about 1e-7 or less means two gradients agree;
    1e-2 or more means one of them is wrong.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {a.shape} vs {b.shape}")
    if a.size == 0:
        return 0.0
    return float(np.max(np.abs(a - b) / np.maximum(1e-8, np.abs(a) + np.abs(b))))


def _check_float64(x) -> None:
    if not isinstance(x, np.ndarray) or x.dtype != np.float64:
        kind = x.dtype if isinstance(x, np.ndarray) else type(x).__name__
        raise TypeError(
            f"x must be a float64 NumPy array (got {kind}): finite differences in float32 "
            "lose about half their digits to rounding"
        )
    if not x.flags.writeable:
        raise ValueError("x must be writeable: it is perturbed in place, one element at a time")
