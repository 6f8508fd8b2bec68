"""Input validation shared by every public function of cnnlib.

Every public entry point checks its arguments here *before* any kernel runs,
so that a JIT kernel never sees an array it could read out of bounds, and a
learner gets an error that names the argument and the shapes involved
instead of a stack trace from deep inside NumPy or numba.
"""

from __future__ import annotations

from numbers import Integral
from typing import Sequence

import numpy as np

Pair = tuple[int, int]

_FLOAT_DTYPES = (np.float32, np.float64)


def as_float_array(x, name: str, ndim: int | None = None, shape_hint: str = "") -> np.ndarray:
    """Return `x` as a C-contiguous float32 or float64 array, or raise.

    float32 and float64 keep their dtype; integers, unsigned integers and
    float16 become float64 so that the book's integer examples come out
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
    if arr.dtype not in _FLOAT_DTYPES:
        arr = arr.astype(np.float64)
    if arr.size and not np.isfinite(arr).all():
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s); check the data or the learning rate")
    return np.ascontiguousarray(arr)


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
    return (dilation[0] * (kernel[0] - 1) + 1, dilation[1] * (kernel[1] - 1) + 1)


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
            total = [dilation[i] * (kernel[i] - 1) for i in range(2)]
            padding = (total[0] // 2, total[1] // 2)
            extra = (total[0] - 2 * padding[0], total[1] - 2 * padding[1])
        else:
            raise ValueError(f"padding must be an int, a pair, 'valid' or 'same'; got {padding!r}")
    else:
        padding = as_pair(padding, "padding", 0)
    check_fits((in_hw[0] + extra[0], in_hw[1] + extra[1]), kernel, padding, dilation, what)
    return stride, padding, dilation, extra


def output_hw(in_hw: Sequence[int], kernel: Pair, stride: Pair, padding: Pair, dilation: Pair = (1, 1)) -> Pair:
    """(OH, OW) = floor((H + 2P - K_eff) / S) + 1 per axis (inputs already validated)."""
    eff = effective_kernel(kernel, dilation)
    return tuple((in_hw[i] + 2 * padding[i] - eff[i]) // stride[i] + 1 for i in range(2))  # type: ignore[return-value]
