"""Shared test helpers: tolerances, hypothesis strategies, the torch oracle.

Kept small and stable: other test files (the numba backend's among them)
import from here. Import as ``from helpers import ...`` (pytest puts this
folder on ``sys.path``, since ``tests/`` is not a package).

Tolerances (``TOL``), used as ``np.testing.assert_allclose(..., **TOL[dtype])``:

* float64: rtol 1e-10, atol 1e-12. Two float64 implementations that sum
  at most a few hundred products in different orders differ by ~1e-15.
* float32: rtol 1e-4, atol 1e-4. Values are O(1) and sums have at most
  ~100 terms, so rounding differences between cnnlib and torch stay below
  ~4e-6; 1e-4 leaves room for bigger sums without hiding an indexing bug
  (which is O(1)).

Set the environment variable ``CNNLIB_TEST_ERRORS=path.json`` to have
:func:`assert_close` write the largest error it saw per check and dtype.
"""

from __future__ import annotations

import atexit
import json
import os
import warnings
from dataclasses import dataclass

import numpy as np
import torch
from cnnlib import registered_backends
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

__all__ = [
    "BACKENDS", "TOL", "SETTINGS", "FAST", "SLOW",
    "ConvCase", "PoolCase", "conv_cases", "pool_cases", "EDGE_CONV_CASES", "EDGE_POOL_CASES",
    "assert_close", "check_conv_against_torch", "torch_conv2d", "torch_conv2d_grads", "torch_pool", "torch_pool_grad", "t",
]

# Every registered backend: the per-backend tests (conv, pooling, im2col,
# validation, worked examples) are the backend contract's test suite.
# test_numba_backend.py only tests the numba backend's own code paths.
BACKENDS = registered_backends()

class _ByDtype(dict):
    """Looked up by np.float32, np.dtype("float32") or "float32" alike."""

    def __missing__(self, key):
        return self[np.dtype(key).type]


TOL = _ByDtype({
    np.float32: dict(rtol=1e-4, atol=1e-4),
    np.float64: dict(rtol=1e-10, atol=1e-12),
})

# Reproducible (derandomize), no example database (database=None),
# and no deadline: the naive backend is slow on a shared 2-core machine.
SETTINGS = dict(deadline=None, derandomize=True, database=None,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])
FAST = settings(max_examples=100, **SETTINGS)
SLOW = settings(max_examples=50, **SETTINGS)

torch.set_num_threads(1)  # the machine is shared; threads only add noise

# --------------------------------------------------------------------------
# Recording errors against the oracle
# --------------------------------------------------------------------------

_ERRORS: dict[str, dict[str, float]] = {}


def assert_same_bits(actual: np.ndarray, expected: np.ndarray) -> None:
    """Equal dtype, shape and values, signs of zeros included (NaN equals NaN): a fast path's contract."""
    assert actual.dtype == expected.dtype and actual.shape == expected.shape
    np.testing.assert_array_equal(actual, expected)
    np.testing.assert_array_equal(np.signbit(actual), np.signbit(expected))


def assert_close(actual, expected, dtype=None, what: str = "value") -> None:
    """assert_allclose with the dtype's tolerance; also checks the shape and dtype.

    `dtype` defaults to the dtype of `actual`; `actual` must have that dtype.
    """
    actual = np.asarray(actual)
    expected = np.asarray(expected)
    dtype = np.dtype(actual.dtype if dtype is None else dtype).type
    assert actual.dtype == dtype, f"{what}: dtype {actual.dtype}, expected {np.dtype(dtype)}"
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if actual.size:
        diff = np.abs(actual.astype(np.float64) - expected.astype(np.float64))
        rel = diff / np.maximum(np.abs(expected.astype(np.float64)), 1e-3)
        key = f"{what} [{np.dtype(dtype).name}]"
        entry = _ERRORS.setdefault(key, {"max_abs": 0.0, "max_rel": 0.0, "checks": 0})
        entry["max_abs"] = max(entry["max_abs"], float(diff.max()))
        entry["max_rel"] = max(entry["max_rel"], float(rel.max()))
        entry["checks"] += 1
    np.testing.assert_allclose(actual, expected, **TOL[dtype], err_msg=what)


@atexit.register
def _dump_errors() -> None:
    path = os.environ.get("CNNLIB_TEST_ERRORS")
    if path and _ERRORS:
        with open(path, "w") as fh:
            json.dump(dict(sorted(_ERRORS.items())), fh, indent=1)


# --------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------


@dataclass(frozen=True)
class ConvCase:
    """One 2-D convolution problem: shapes, hyper-parameters and a data seed."""

    n: int
    c: int
    f: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple[int, int] = (1, 1)
    padding: tuple[int, int] | str = (0, 0)  # or "same" / "valid"
    dilation: tuple[int, int] = (1, 1)
    seed: int = 0

    @property
    def x_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def w_shape(self):
        return (self.f, self.c, self.kh, self.kw)

    @property
    def out_hw(self):
        if self.padding == "same":
            return (self.h, self.w)
        if self.padding == "valid":
            return ConvCase(self.n, self.c, self.f, self.h, self.w, self.kh, self.kw, self.stride, (0, 0), self.dilation).out_hw
        k = (self.kh, self.kw)
        size = (self.h, self.w)
        return tuple(
            (size[i] + 2 * self.padding[i] - self.dilation[i] * (k[i] - 1) - 1) // self.stride[i] + 1 for i in range(2)
        )

    @property
    def out_shape(self):
        return (self.n, self.f, *self.out_hw)

    def kwargs(self) -> dict:
        return dict(stride=self.stride, padding=self.padding, dilation=self.dilation)

    def arrays(self, dtype=np.float64):
        """x, weight, bias and an upstream gradient dout, standard normal."""
        rng = np.random.default_rng(self.seed)
        x = rng.standard_normal(self.x_shape).astype(dtype)
        weight = rng.standard_normal(self.w_shape).astype(dtype)
        bias = rng.standard_normal(self.f).astype(dtype)
        dout = rng.standard_normal(self.out_shape).astype(dtype)
        return x, weight, bias, dout


@dataclass(frozen=True)
class PoolCase:
    """One 2-D pooling problem; ``stride=None`` means stride = kernel."""

    n: int
    c: int
    h: int
    w: int
    kh: int
    kw: int
    stride: tuple[int, int] | None = None
    padding: tuple[int, int] = (0, 0)
    seed: int = 0

    @property
    def x_shape(self):
        return (self.n, self.c, self.h, self.w)

    @property
    def out_shape(self):
        s = (self.kh, self.kw) if self.stride is None else self.stride
        k = (self.kh, self.kw)
        size = (self.h, self.w)
        return (self.n, self.c, *((size[i] + 2 * self.padding[i] - k[i]) // s[i] + 1 for i in range(2)))

    def kwargs(self) -> dict:
        return dict(kernel_size=(self.kh, self.kw), stride=self.stride, padding=self.padding)

    def arrays(self, dtype=np.float64, ties: bool = False):
        """x and dout; with ``ties=True`` x holds small integers, so windows have tied maxima."""
        rng = np.random.default_rng(self.seed)
        if ties:
            x = rng.integers(0, 3, self.x_shape).astype(dtype)
        else:
            x = rng.standard_normal(self.x_shape).astype(dtype)
        dout = rng.standard_normal(self.out_shape).astype(dtype)
        return x, dout


@st.composite
def conv_cases(draw, max_n=2, max_c=3, max_f=3, max_size=7, max_kernel=4, max_stride=3, max_padding=2, max_dilation=2):
    """ConvCase with a (dilated) kernel that fits the padded input.

    Sizes start at the smallest that fits, so "kernel == padded input",
    1x1 kernels, stride > kernel, odd and even sizes all come up.
    """
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    f = draw(st.integers(1, max_f))
    kernel, stride, padding, dilation, size = [], [], [], [], []
    for _ in range(2):
        k = draw(st.integers(1, max_kernel))
        d = draw(st.integers(1, max_dilation)) if k > 1 else 1
        p = draw(st.integers(0, max_padding))
        s = draw(st.integers(1, max_stride))
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        size.append(draw(st.integers(smallest, max(smallest, max_size))))
        kernel.append(k), stride.append(s), padding.append(p), dilation.append(d)
    seed = draw(st.integers(0, 2**32 - 1))
    return ConvCase(n, c, f, size[0], size[1], kernel[0], kernel[1],
                    tuple(stride), tuple(padding), tuple(dilation), seed)


@st.composite
def pool_cases(draw, max_n=2, max_c=3, max_size=8, max_kernel=4, max_stride=4):
    """PoolCase with padding at most half the window (torch's rule)."""
    n = draw(st.integers(1, max_n))
    c = draw(st.integers(1, max_c))
    kernel, stride, padding, size = [], [], [], []
    for _ in range(2):
        k = draw(st.integers(1, max_kernel))
        p = draw(st.integers(0, k // 2))
        s = draw(st.integers(1, max_stride))
        smallest = max(1, k - 2 * p)
        size.append(draw(st.integers(smallest, max(smallest, max_size))))
        kernel.append(k), stride.append(s), padding.append(p)
    stride = None if draw(st.booleans()) else tuple(stride)
    seed = draw(st.integers(0, 2**32 - 1))
    return PoolCase(n, c, size[0], size[1], kernel[0], kernel[1], stride, tuple(padding), seed)


# The edge cases the issue names, always run (hypothesis may or may not hit them).
EDGE_CONV_CASES = {
    "1x1 kernel": ConvCase(2, 3, 2, 5, 4, 1, 1),
    "kernel == input": ConvCase(2, 2, 3, 4, 3, 4, 3),
    "kernel == padded input": ConvCase(1, 2, 2, 2, 3, 4, 5, padding=(1, 1)),
    "stride > kernel": ConvCase(2, 2, 2, 9, 8, 2, 1, stride=(3, 4)),
    "batch 1, C 1": ConvCase(1, 1, 1, 6, 6, 3, 3),
    "non-square kernel, odd/even sizes": ConvCase(2, 3, 2, 7, 6, 2, 3, stride=(2, 1), padding=(1, 0)),
    "dilation": ConvCase(2, 2, 2, 8, 7, 3, 2, dilation=(2, 3), padding=(1, 2)),
    "everything": ConvCase(2, 3, 4, 9, 8, 3, 2, stride=(2, 3), padding=(2, 1), dilation=(2, 1), seed=7),
}

EDGE_POOL_CASES = {
    "2x2 stride 2": PoolCase(2, 3, 6, 6, 2, 2),
    "odd size, floor": PoolCase(1, 2, 7, 5, 2, 2),
    "overlapping 3x3 stride 1": PoolCase(2, 2, 6, 5, 3, 3, stride=(1, 1)),
    "overlapping 3x3 stride 2 pad 1": PoolCase(2, 2, 7, 6, 3, 3, stride=(2, 2), padding=(1, 1)),
    "stride > kernel": PoolCase(1, 2, 9, 9, 2, 3, stride=(3, 4)),
    "non-square, window == input": PoolCase(2, 1, 3, 4, 3, 4),
    "1x1": PoolCase(1, 2, 3, 3, 1, 1),
}

# --------------------------------------------------------------------------
# The torch oracle
# --------------------------------------------------------------------------


def t(a, grad: bool = False) -> torch.Tensor:
    """A torch tensor holding a copy of `a`, same dtype."""
    return torch.tensor(np.ascontiguousarray(a), requires_grad=grad)


def _torch_conv2d(*args, **kwargs):
    with warnings.catch_warnings():
        # torch's note that padding="same" with an even kernel copies the input
        warnings.filterwarnings("ignore", message="Using padding='same'")
        return torch.nn.functional.conv2d(*args, **kwargs)


def torch_conv2d(x, weight, bias=None, stride=1, padding=0, dilation=1) -> np.ndarray:
    with torch.no_grad():
        y = _torch_conv2d(t(x), t(weight), None if bias is None else t(bias),
                          stride=stride, padding=padding, dilation=dilation)
    return y.numpy()


def torch_conv2d_grads(dout, x, weight, stride=1, padding=0, dilation=1):
    """(dx, dweight, dbias) by torch autograd, for a conv2d with a bias."""
    xt, wt = t(x, True), t(weight, True)
    bt = torch.zeros(weight.shape[0], dtype=xt.dtype, requires_grad=True)
    y = _torch_conv2d(xt, wt, bt, stride=stride, padding=padding, dilation=dilation)
    y.backward(t(dout))
    return xt.grad.numpy(), wt.grad.numpy(), bt.grad.numpy()


def torch_pool(kind: str, x, kernel_size, stride=None, padding=0, count_include_pad=True) -> np.ndarray:
    with torch.no_grad():
        if kind == "max":
            y = torch.nn.functional.max_pool2d(t(x), kernel_size, stride, padding)
        else:
            y = torch.nn.functional.avg_pool2d(t(x), kernel_size, stride, padding, count_include_pad=count_include_pad)
    return y.numpy()


def torch_pool_grad(kind: str, dout, x, kernel_size, stride=None, padding=0, count_include_pad=True) -> np.ndarray:
    xt = t(x, True)
    if kind == "max":
        y = torch.nn.functional.max_pool2d(xt, kernel_size, stride, padding)
    else:
        y = torch.nn.functional.avg_pool2d(xt, kernel_size, stride, padding, count_include_pad=count_include_pad)
    y.backward(t(dout))
    return xt.grad.numpy()


def check_conv_against_torch(case: ConvCase, backend: str, dtype, label: str = "conv2d") -> None:
    """conv2d forward and all three gradients of one case, against torch, at TOL[dtype]."""
    from cnnlib.functional import conv2d, conv2d_backward

    x, w, b, dout = case.arrays(dtype)
    kw = case.kwargs()
    assert_close(conv2d(x, w, b, backend=backend, **kw), torch_conv2d(x, w, b, **kw), dtype, f"{label} forward")
    dx, dw, db = conv2d_backward(dout, x, w, backend=backend, **kw)
    tdx, tdw, tdb = torch_conv2d_grads(dout, x, w, **kw)
    assert_close(dx, tdx, dtype, f"{label} backward dx")
    assert_close(dw, tdw, dtype, f"{label} backward dw")
    assert_close(db, tdb, dtype, f"{label} backward db")
