"""When and how ReLU, Adam and the input check's NaN/inf count run as one numba pass instead of NumPy.

The layer (:class:`cnnlib.layers.ReLU`) and the optimiser
(:class:`cnnlib.train.Adam`) keep their NumPy expressions, the reference a
learner reads; with the numba backend (the default) they call the kernels
of :mod:`._numba_elementwise` through this module, which compute the same
values bit for bit. One check decides for both (:func:`fused_applies`), and
small arrays run on one thread (:func:`._threads.serial_when_small`). The
numba backend registers :func:`count_nonfinite` with :mod:`cnnlib._validation`
for the NaN/inf check of large inputs.

Nothing here imports numba until a kernel is first called, so the NumPy
backends never compile them.
"""

from __future__ import annotations

import numpy as np

from .._backend import get_backend

__all__ = ["fused_applies", "relu", "relu_backward", "adam_update", "count_nonfinite", "EXPONENT_BITS"]

# Exponent bits of float32 and float64: all ones exactly for infinities and NaNs.
EXPONENT_BITS = {np.dtype(np.float32): (np.uint32, np.uint32(0x7F800000)),
                 np.dtype(np.float64): (np.uint64, np.uint64(0x7FF0000000000000))}


def fused_applies(*arrays: np.ndarray) -> bool:
    """Whether the kernels can replace the NumPy expression for these arrays.

    True with the numba backend for C-contiguous float32 or float64 arrays
    of one dtype and shape; otherwise the caller runs its NumPy code.
    """
    first = arrays[0]
    return (get_backend() == "numba" and first.dtype in (np.float32, np.float64)
            and all(a.dtype == first.dtype and a.shape == first.shape and a.flags.c_contiguous for a in arrays))


def _kernels():
    from . import _numba_elementwise  # compiled on first call

    return _numba_elementwise


def _serial_when_small(size: int):
    from ._threads import serial_when_small  # importing _threads starts numba: only on the kernel path

    return serial_when_small(size)


def relu(x: np.ndarray) -> np.ndarray:
    """``np.maximum(x, 0)`` in one parallel pass; x must satisfy :func:`fused_applies`."""
    y = np.empty_like(x)
    with _serial_when_small(x.size):
        _kernels().relu_forward(x.reshape(-1), y.reshape(-1))
    return y


def relu_backward(dout: np.ndarray, y: np.ndarray) -> np.ndarray:
    """``dout * (y > 0)`` in one parallel pass; dout and y must satisfy :func:`fused_applies`."""
    dx = np.empty_like(dout)
    with _serial_when_small(dout.size):
        _kernels().relu_backward(dout.reshape(-1), y.reshape(-1), dx.reshape(-1))
    return dx


def adam_update(param: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, b1: float, b2: float,
                step_size: float, sqrt_correction2: float, eps: float) -> None:
    """Adam's update of `param`, `m` and `v` in place, as :class:`cnnlib.train.Adam` writes it in NumPy.

    The scalars are rounded to the arrays' dtype where NumPy's expression
    rounds them (Python floats next to an array), and `sqrt_correction2`
    and `eps` stay float64, where NumPy's expression promotes to float64.
    """
    kind = param.dtype.type
    with _serial_when_small(param.size):
        _kernels().adam_update(param.reshape(-1), grad.reshape(-1), m.reshape(-1), v.reshape(-1),
                               kind(b1), kind(b2), kind(1 - b1), kind(1 - b2), kind(step_size),
                               float(sqrt_correction2), float(eps))


def count_nonfinite(arr: np.ndarray) -> int:
    """The number of NaN and infinite values of a C-contiguous float32 or float64 array, in one parallel pass."""
    unsigned, exponent = EXPONENT_BITS[arr.dtype]
    return _kernels().count_nonfinite(arr.reshape(arr.size).view(unsigned), exponent)
