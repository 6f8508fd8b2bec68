"""Fast paths of the numba backend that must give exactly what the general code gives.

* 2x2 max pooling with stride 2 and no padding has kernels of its own
  (``_numba_pool.max_pool_2x2`` and its backward): equal, bit for bit, to
  the general phase-plane kernels on the same input, ties and odd sizes
  included, and to torch.
* The input check counts NaN and infinite values of large arrays with a
  parallel numba kernel (``_validation.count_nonfinite``): the same count as
  NumPy's ``isfinite`` for every position of a bad value, both dtypes.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib import _validation
from cnnlib.functional import _numba_elementwise, _numba_pool, conv2d, elementwise, max_pool2d, max_pool2d_backward
from cnnlib.functional import numba_backend as nb
from helpers import SETTINGS, assert_same_bits, torch_pool, torch_pool_grad

DTYPES = [np.float32, np.float64]


def _general(x: np.ndarray, dout: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Forward and backward of 2x2/2 max pooling through the general kernels (as for any other window)."""
    n, c, h, w = x.shape
    plan = nb.layout_plan((h, w), (2, 2), (2, 2), (0, 0), (1, 1))
    offsets = nb.tap_offsets(plan, 1)
    y = np.empty((n, c, *plan.out_hw), dtype=x.dtype)
    _numba_pool.max_pool(x.reshape(n * c, h, w), y.reshape(n * c, *plan.out_hw), offsets, 2, 2, plan.rows,
                         plan.pitch, 0, 0)
    dx = np.empty_like(x)
    _numba_pool.max_pool_backward(dout.reshape(n * c, *plan.out_hw), x.reshape(n * c, h, w), dx.reshape(n * c, h, w),
                                  offsets, 2, 2, 2, plan.rows, plan.pitch, 0, 0)
    return y, dx


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=30, **SETTINGS)
@given(n=st.integers(0, 3), c=st.integers(1, 70), h=st.integers(2, 13), w=st.integers(2, 13),
       ties=st.booleans(), seed=st.integers(0, 2**32 - 1))
def test_2x2_pool_kernels_equal_the_general_kernels(n, c, h, w, ties, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, h, w)).astype(dtype)
    if ties:  # few distinct values: most windows hold equal maxima (and signed zeros)
        x = (rng.integers(-2, 3, x.shape) * 0.5).astype(dtype)
        x[x == 0] *= rng.choice([-1.0, 1.0], size=int((x == 0).sum())).astype(dtype)
    dout = rng.standard_normal((n, c, h // 2, w // 2)).astype(dtype)
    dout.reshape(-1)[: min(2, dout.size)] = -0.0
    expected_y, expected_dx = _general(x, dout)
    assert_same_bits(max_pool2d(x, 2, backend="numba"), expected_y)
    assert_same_bits(max_pool2d_backward(dout, x, 2, backend="numba"), expected_dx)


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_2x2_pool_kernels_vs_torch_odd_sizes_and_ties(dtype, threads):
    rng = np.random.default_rng(3)
    x = rng.integers(-3, 4, (5, 67, 9, 7)).astype(dtype)  # odd H and W: the last row and column are in no window
    dout = rng.standard_normal((5, 67, 4, 3)).astype(dtype)
    before = numba.get_num_threads()
    numba.set_num_threads(min(threads, before))
    try:
        y = max_pool2d(x, 2, backend="numba")
        dx = max_pool2d_backward(dout, x, 2, backend="numba")
    finally:
        numba.set_num_threads(before)
    np.testing.assert_array_equal(y, torch_pool("max", x, 2))
    np.testing.assert_array_equal(dx, torch_pool_grad("max", dout, x, 2))
    assert not dx[:, :, 8, :].any() and not dx[:, :, :, 6].any()


def test_other_windows_still_take_the_general_kernels():
    assert nb._tiles_2x2((2, 2), (2, 2), (0, 0))
    for kernel, stride, padding in [((2, 2), (1, 1), (0, 0)), ((2, 2), (2, 2), (1, 1)), ((3, 3), (2, 2), (0, 0)),
                                    ((2, 3), (2, 3), (0, 0)), ((2, 2), (2, 1), (0, 0))]:
        assert not nb._tiles_2x2(kernel, stride, padding)


def _bits(dtype):
    return elementwise.EXPONENT_BITS[np.dtype(dtype)]


@pytest.mark.parametrize("dtype", DTYPES)
def test_parallel_count_of_nonfinite_values_equals_numpy(dtype):
    size = 3 * _numba_elementwise.CHUNK + 17  # several work items and a short last one
    rng = np.random.default_rng(0)
    info = np.finfo(dtype)
    x = rng.standard_normal(size).astype(dtype)
    x[:4] = [info.max, -info.max, info.tiny / 4, -0.0]  # largest finite, subnormal, negative zero: all finite
    unsigned, exponent = _bits(dtype)
    assert _numba_elementwise.count_nonfinite(x.view(unsigned), exponent) == 0
    chunk = _numba_elementwise.CHUNK
    for where in ([0], [size - 1], [chunk - 1, chunk], [5, 2 * chunk + 3, size - 2]):
        for value in (np.nan, np.inf, -np.inf, -np.nan):
            bad = x.copy()
            bad[where] = value
            expected = int(np.count_nonzero(~np.isfinite(bad)))
            assert _numba_elementwise.count_nonfinite(bad.view(unsigned), exponent) == expected == len(where)


@pytest.mark.parametrize("dtype", DTYPES)
def test_large_inputs_are_checked_by_the_parallel_count(dtype, monkeypatch):
    calls = []
    original = _validation._parallel_count
    assert original is elementwise.count_nonfinite  # registered when the numba backend loads
    monkeypatch.setattr(_validation, "_parallel_count", lambda arr: calls.append(arr.size) or original(arr))
    x = np.random.default_rng(1).standard_normal((2, 1, 300, 300)).astype(dtype)
    weight = np.ones((1, 1, 3, 3), dtype=dtype)
    x[1, 0, 299, 299] = np.inf
    x[0, 0, 7, 8] = np.nan
    with pytest.raises(ValueError, match=r"x contains 2 NaN or infinite value\(s\)"):
        conv2d(x, weight)
    assert calls == [x.size]
    small = x[:, :, :10, :10].copy()
    with pytest.raises(ValueError, match=r"x contains 1 NaN"):
        conv2d(small, weight)  # below PARALLEL_COUNT_MIN: NumPy counts
    assert calls == [x.size]
