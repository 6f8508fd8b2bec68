"""Input validation shared by every public function of cnnlib.

Every public entry point checks its arguments here *before* any kernel runs,
so that a JIT kernel never sees an array it could read out of bounds, and a
learner gets an error that names the argument and the shapes involved
instead of a stack trace from deep inside NumPy or numba.
"""

from __future__ import annotations

import math
from numbers import Integral, Real
from typing import Sequence

import numpy as np

from ._geometry import Pair, effective_length, output_hw

__all__ = ["Pair", "as_float_array", "result_dtype", "common_dtype", "as_int", "as_pair", "as_bool", "as_real",
           "as_param_dtype", "effective_kernel", "check_fits", "conv_geometry", "output_hw"]


def as_float_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Return `x` as a C-contiguous, native-byte-order float32 or float64 array, or raise.

    float32 and float64 keep their dtype (a big-endian array is converted to
    native byte order); float16 is computed in float32 (see
    :func:`result_dtype` for the dtype of the result); integers and unsigned
    integers become float64 so that the book's integer examples come out
    exact. bool, complex, object and string dtypes are rejected: they are
    almost always a bug in the caller, not data.
    """
    if isinstance(x, np.ndarray):
        arr = x
    else:
        try:
            arr = np.asarray(x)
        except (ValueError, TypeError) as exc:  # ragged nested lists
            raise TypeError(f"{name} must be an array of numbers; got {type(x).__name__}: {exc}") from None
    kind = arr.dtype.kind
    if kind == "b":
        raise TypeError(f"{name} has dtype bool; convert it to float first (e.g. {name}.astype(np.float32))")
    if kind == "c":
        raise TypeError(f"{name} has complex dtype {arr.dtype}; cnnlib works with real numbers only")
    if kind not in "iuf":
        raise TypeError(f"{name} has dtype {arr.dtype}; expected a real numeric dtype (float32 or float64)")
    if ndim is not None and arr.ndim != ndim:
        hint = f" {shape_hint}" if shape_hint else ""
        raise ValueError(f"{name} must be {ndim}-D{hint}; got a {arr.ndim}-D array of shape {arr.shape}")
    arr = np.ascontiguousarray(arr.astype(_compute_dtype(arr.dtype), copy=False))  # native byte order: kernels need it
    bad = count_nonfinite(arr)
    if bad:
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); check the data or the learning rate")
    return arr


# A parallel count for large arrays, set by the numba backend when it loads
# (:func:`use_parallel_count`); NumPy's ``isfinite`` otherwise. The check
# reads every input of every layer: on SimpleConvNet's (100, 30, 24, 24)
# maps NumPy took 0.34 ms and the two-thread kernel 0.16 ms, several times
# per training step.
_parallel_count = None
PARALLEL_COUNT_MIN = 1 << 17  # below this many values NumPy's single pass is as fast


def use_parallel_count(count) -> None:
    """Count non-finite values of large C-contiguous float32/float64 arrays with `count(arr)`."""
    global _parallel_count
    _parallel_count = count


def count_nonfinite(arr: np.ndarray) -> int:
    """The number of NaN and infinite values in a C-contiguous float32 or float64 array."""
    if _parallel_count is not None and arr.size >= PARALLEL_COUNT_MIN and arr.dtype in (np.float32, np.float64):
        return int(_parallel_count(arr))
    return int(arr.size - np.count_nonzero(np.isfinite(arr))) if arr.size else 0


def _storage_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype cnnlib returns for an input of `dtype`: float16/32/64 stay, integers give float64."""
    if dtype.kind == "f" and dtype.itemsize in (2, 4):
        return np.dtype(f"f{dtype.itemsize}")
    return np.dtype(np.float64)


def _compute_dtype(dtype: np.dtype) -> np.dtype:
    """The dtype the arithmetic runs in: float16 in float32 (as torch does on a CPU), native order."""
    storage = _storage_dtype(dtype)
    return np.dtype(np.float32) if storage == np.float16 else storage


def result_dtype(*inputs) -> np.dtype:
    """dtype of a function's result for these (raw, unconverted) inputs; None is skipped.

    NumPy's promotion of each input's storage dtype: float16 with float16
    gives float16 (computed in float32, like torch), float32 with float32
    gives float32, anything with float64 or an integer gives float64.
    """
    dtypes = [_storage_dtype(_dtype_of(a)) for a in inputs if a is not None]
    return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


def _dtype_of(a) -> np.dtype:
    if isinstance(a, np.ndarray):
        return a.dtype
    try:
        return np.asarray(a).dtype
    except (ValueError, TypeError):  # ragged lists: as_float_array reports them
        return np.dtype(object)


def as_bool(value, name: str) -> bool:
    """A True/False argument; strings such as "False" and numbers are refused (they would be truthy)."""
    if isinstance(value, (bool, np.bool_)):
        return bool(value)
    raise TypeError(f"{name} must be True or False; got {value!r} ({type(value).__name__})")


def as_real(value, name: str, *, minimum: float | None = None, positive: bool = False,
            below: float | None = None) -> float:
    """A finite real number (not a bool or a string), optionally > 0, >= `minimum` or < `below`."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Real):
        raise TypeError(f"{name} must be a real number; got {value!r} ({type(value).__name__})")
    value = float(value)
    if not math.isfinite(value):
        raise ValueError(f"{name} must be finite; got {value}")
    if positive and not value > 0:
        raise ValueError(f"{name} must be positive; got {value}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    if below is not None and not value < below:
        raise ValueError(f"{name} must be < {below}; got {value}")
    return value


def as_param_dtype(dtype) -> np.dtype:
    """The dtype of a layer's parameters: float32 or float64 only (an integer weight cannot learn)."""
    try:
        dt = np.dtype(dtype)
    except TypeError:
        raise TypeError(f"dtype must be float32 or float64; got {dtype!r}") from None
    if dt not in (np.dtype(np.float32), np.dtype(np.float64)):
        raise TypeError(f"dtype must be float32 or float64; got {dt}")
    return dt


def common_dtype(*arrays: np.ndarray | None) -> np.dtype:
    """float64 if any array is float64, else float32."""
    dtypes = [a.dtype for a in arrays if a is not None]
    return np.result_type(*dtypes) if dtypes else np.dtype(np.float64)


def as_int(value, name: str, minimum: int | None = None) -> int:
    """An integer argument (not a bool, not a float) with an optional lower bound."""
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, Integral):
        raise TypeError(f"{name} must be an integer; got {value!r} ({type(value).__name__})")
    value = int(value)
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}; got {value}")
    return value


def as_pair(value, name: str, minimum: int) -> Pair:
    """An int or an (h, w) pair of ints, each >= `minimum`."""
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise ValueError(f"{name} must be an int or a pair (h, w); got {value!r}")
        return (as_int(value[0], f"{name}[0]", minimum), as_int(value[1], f"{name}[1]", minimum))
    v = as_int(value, name, minimum)
    return (v, v)


def effective_kernel(kernel: Pair, dilation: Pair) -> Pair:
    """Extent of a dilated kernel: d (k - 1) + 1 along each axis."""
    return (effective_length(kernel[0], dilation[0]), effective_length(kernel[1], dilation[1]))


def check_fits(in_hw: Sequence[int], kernel: Pair, padding: Pair, dilation: Pair, what: str = "kernel") -> None:
    """Raise if the (dilated) kernel is larger than the padded input."""
    eff = effective_kernel(kernel, dilation)
    padded = (in_hw[0] + 2 * padding[0], in_hw[1] + 2 * padding[1])
    if eff[0] > padded[0] or eff[1] > padded[1]:
        dil = f" (dilated to {eff[0]}x{eff[1]})" if eff != kernel else ""
        raise ValueError(
            f"{what} {kernel[0]}x{kernel[1]}{dil} is larger than the padded input "
            f"{padded[0]}x{padded[1]} (input {in_hw[0]}x{in_hw[1]}, padding {padding}); "
            "the output would be empty"
        )


def conv_geometry(in_hw: Sequence[int], kernel: Pair, stride, padding, dilation, what: str = "kernel"):
    """Normalise stride, padding and dilation of a convolution and check the kernel fits.

    Returns ``(stride, padding, dilation, extra)``: pairs of ints, where
    ``padding`` is applied on both sides and ``extra`` is one more row/column
    of zeros on the bottom/right, used only by ``padding="same"`` with an
    even-sized kernel (the convention torch follows).
    """
    stride = as_pair(stride, "stride", 1)
    dilation = as_pair(dilation, "dilation", 1)
    extra = (0, 0)
    if isinstance(padding, str):
        if padding == "valid":
            padding = (0, 0)
        elif padding == "same":
            if stride != (1, 1):
                raise ValueError(f"padding='same' needs stride 1 (as in torch); got stride {stride}")
            total = [effective_length(kernel[i], dilation[i]) - 1 for i in range(2)]
            padding = (total[0] // 2, total[1] // 2)
            extra = (total[0] - 2 * padding[0], total[1] - 2 * padding[1])
        else:
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same'; got {padding!r}")
    else:
        padding = as_pair(padding, "padding", 0)
    check_fits((in_hw[0] + extra[0], in_hw[1] + extra[1]), kernel, padding, dilation, what)
    return stride, padding, dilation, extra
