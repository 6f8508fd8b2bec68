"""Max and average pooling, forward and backward, against torch and finite differences.

Tolerances: ``helpers.TOL`` per dtype. Max pooling picks one input per
window, so forward values and gradients with integer-valued ties must match
torch exactly, including which of several equal maxima gets the gradient
(the first in row-major order).
"""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from cnnlib.functional import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from cnnlib.gradcheck import numerical_gradient_array
from helpers import BACKENDS, EDGE_POOL_CASES, SLOW, PoolCase, assert_close, pool_cases, torch_pool, torch_pool_grad

DTYPES = [np.float32, np.float64]
FD_TOL = dict(rtol=1e-6, atol=1e-8)


def _check_max(case: PoolCase, backend, dtype, ties=False) -> None:
    x, dout = case.arrays(dtype, ties=ties)
    kw = case.kwargs()
    y = max_pool2d(x, backend=backend, **kw)
    assert_close(y, torch_pool("max", x, **kw), dtype, "max_pool2d forward")
    dx = max_pool2d_backward(dout, x, backend=backend, **kw)
    assert_close(dx, torch_pool_grad("max", dout, x, **kw), dtype, "max_pool2d backward")


def _check_avg(case: PoolCase, backend, dtype, count_include_pad) -> None:
    x, dout = case.arrays(dtype)
    kw = case.kwargs()
    y = avg_pool2d(x, count_include_pad=count_include_pad, backend=backend, **kw)
    assert_close(y, torch_pool("avg", x, count_include_pad=count_include_pad, **kw), dtype, "avg_pool2d forward")
    dx = avg_pool2d_backward(dout, x, count_include_pad=count_include_pad, backend=backend, **kw)
    assert_close(dx, torch_pool_grad("avg", dout, x, count_include_pad=count_include_pad, **kw), dtype, "avg_pool2d backward")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@SLOW
@given(case=pool_cases(), ties=st.booleans())
def test_max_pool2d_vs_torch(case, ties, backend, dtype):
    _check_max(case, backend, dtype, ties)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@SLOW
@given(case=pool_cases(), count_include_pad=st.booleans())
def test_avg_pool2d_vs_torch(case, count_include_pad, backend, dtype):
    _check_avg(case, backend, dtype, count_include_pad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(EDGE_POOL_CASES))
def test_pool_edge_cases_vs_torch(name, backend, dtype):
    case = EDGE_POOL_CASES[name]
    _check_max(case, backend, dtype)
    _check_max(case, backend, dtype, ties=True)
    _check_avg(case, backend, dtype, True)
    _check_avg(case, backend, dtype, False)


# --------------------------------------------------------------------------
# Ties and overlapping windows, constructed explicitly
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_tie_goes_to_first_maximum_in_row_major_order(backend):
    # each 2x2 window has two equal maxima; the first in row-major order wins
    x = np.array([[1, 3, 5, 5],
                  [3, 2, 0, 4],
                  [7, 1, 2, 0],
                  [0, 7, 2, 2]], dtype=np.float64)[None, None]
    dout = np.array([[10.0, 20.0], [30.0, 40.0]])[None, None]
    dx = max_pool2d_backward(dout, x, 2, 2, backend=backend)
    expected = np.zeros((4, 4))
    expected[0, 1] = 10  # 3 at (0,1) before 3 at (1,0)
    expected[0, 2] = 20  # 5 at (0,2) before 5 at (0,3)
    expected[2, 0] = 30  # 7 at (2,0) before 7 at (3,1)
    expected[2, 2] = 40  # 2 at (2,2) before 2 at (3,2) and (3,3)
    assert np.array_equal(dx[0, 0], expected)
    assert np.array_equal(dx, torch_pool_grad("max", dout, x, 2, 2))


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_constant_input_routes_to_top_left_of_each_window(backend):
    x = np.full((1, 2, 4, 6), 5.0)
    dout = np.ones((1, 2, 2, 3))
    dx = max_pool2d_backward(dout, x, 2, backend=backend)
    expected = np.zeros((4, 6))
    expected[::2, ::2] = 1
    assert np.array_equal(dx[0, 0], expected) and np.array_equal(dx[0, 1], expected)
    assert np.array_equal(dx, torch_pool_grad("max", dout, x, 2))
    # overlapping windows of a constant image: window (i, j) routes to pixel (i, j)
    dout = np.arange(1.0, 1 + 2 * 2 * 4).reshape(1, 2, 2, 4)
    dx = max_pool2d_backward(dout, x, 3, 1, backend=backend)
    expected = np.zeros((1, 2, 4, 6))
    expected[:, :, :2, :4] = dout
    assert np.array_equal(dx, expected)
    assert np.array_equal(dx, torch_pool_grad("max", dout, x, 3, 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_overlapping_windows_accumulate(backend):
    # the centre of a 5x5 image is the maximum of all nine 3x3 windows
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9.0
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dx = max_pool2d_backward(dout, x, 3, 1, backend=backend)
    expected = np.zeros((1, 1, 5, 5))
    expected[0, 0, 2, 2] = dout.sum()  # 45: the gradients of the nine windows add up
    assert np.array_equal(dx, expected)
    assert np.array_equal(dx, torch_pool_grad("max", dout, x, 3, 1))


@pytest.mark.parametrize("backend", BACKENDS)
def test_avg_pool_overlapping_windows_accumulate(backend):
    x = np.zeros((1, 1, 4, 4))
    dout = np.ones((1, 1, 2, 2)) * 9.0
    dx = avg_pool2d_backward(dout, x, 3, 1, backend=backend)
    # each window spreads 9/9 = 1 on its pixels; the count of windows holding a pixel
    coverage = np.array([[1, 2, 2, 1], [2, 4, 4, 2], [2, 4, 4, 2], [1, 2, 2, 1]], dtype=float)
    assert np.array_equal(dx[0, 0], coverage)
    assert_close(dx, torch_pool_grad("avg", dout, x, 3, 1), what="avg_pool2d backward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_max_pool_padding_is_minus_infinity(backend):
    rng = np.random.default_rng(0)
    x = -1.0 - rng.random((2, 3, 5, 4))  # all negative: a zero padding would win every border window
    y = max_pool2d(x, 3, 2, 1, backend=backend)
    assert (y < 0).all()
    assert np.array_equal(y, torch_pool("max", x, 3, 2, 1))
    dout = rng.standard_normal(y.shape)
    assert_close(max_pool2d_backward(dout, x, 3, 2, 1, backend=backend), torch_pool_grad("max", dout, x, 3, 2, 1),
                 what="max_pool2d backward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_avg_pool_count_include_pad(backend):
    x = np.ones((1, 1, 3, 3))
    with_pad = avg_pool2d(x, 3, 1, 1, count_include_pad=True, backend=backend)[0, 0]
    without = avg_pool2d(x, 3, 1, 1, count_include_pad=False, backend=backend)[0, 0]
    # corners see 4 real pixels of 9, edges 6, the centre 9
    assert_close(with_pad, np.array([[4, 6, 4], [6, 9, 6], [4, 6, 4]]) / 9, what="avg_pool2d forward")
    assert np.array_equal(without, np.ones((3, 3)))
    for include in (True, False):
        assert_close(avg_pool2d(x, 3, 1, 1, count_include_pad=include, backend=backend),
                     torch_pool("avg", x, 3, 1, 1, count_include_pad=include), what="avg_pool2d forward")


def test_default_stride_is_kernel_size():
    x = np.arange(36.0).reshape(1, 1, 6, 6)
    assert np.array_equal(max_pool2d(x, 3), max_pool2d(x, 3, 3))
    assert max_pool2d(x, 3).shape == (1, 1, 2, 2)
    assert np.array_equal(max_pool2d(x, 3)[0, 0], [[14, 17], [32, 35]])
    assert np.array_equal(avg_pool2d(x, 2)[0, 0, 0], [3.5, 5.5, 7.5])


def test_pooling_keeps_channels_independent():
    rng = np.random.default_rng(2)
    x = rng.standard_normal((2, 4, 6, 6))
    y = max_pool2d(x, 2)
    assert y.shape == (2, 4, 3, 3)
    for c in range(4):
        assert np.array_equal(y[:, c : c + 1], max_pool2d(x[:, c : c + 1], 2))


# --------------------------------------------------------------------------
# Backward against finite differences (float64)
# --------------------------------------------------------------------------


def _distinct_values(shape, seed):
    """Values 0.01 apart in random order: no window ties within a step h = 1e-5."""
    size = int(np.prod(shape))
    return np.random.default_rng(seed).permutation(size).reshape(shape) * 0.01 - size * 0.005


@pytest.mark.parametrize("backend", BACKENDS)
@SLOW
@given(case=pool_cases(max_size=6), count_include_pad=st.booleans())
def test_pool_backward_vs_finite_differences(case, count_include_pad, backend):
    kw = case.kwargs()
    x = _distinct_values(case.x_shape, case.seed)
    dout = np.random.default_rng(case.seed + 1).standard_normal(case.out_shape)
    num = numerical_gradient_array(lambda v: max_pool2d(v, backend=backend, **kw), x.copy(), dout)
    np.testing.assert_allclose(max_pool2d_backward(dout, x, backend=backend, **kw), num, **FD_TOL)
    kw["count_include_pad"] = count_include_pad
    num = numerical_gradient_array(lambda v: avg_pool2d(v, backend=backend, **kw), x.copy(), dout)
    np.testing.assert_allclose(avg_pool2d_backward(dout, x, backend=backend, **kw), num, **FD_TOL)


# --------------------------------------------------------------------------
# Memory layout and dtypes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_non_contiguous_inputs(backend, dtype):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((3, 2, 7, 6)).astype(dtype).transpose(1, 0, 3, 2)  # (2, 3, 6, 7), a view
    assert not x.flags.c_contiguous
    kw = dict(kernel_size=(3, 2), stride=(2, 1), padding=1)
    for kind, fwd, bwd in (("max", max_pool2d, max_pool2d_backward), ("avg", avg_pool2d, avg_pool2d_backward)):
        y = fwd(x, backend=backend, **kw)
        assert y.dtype == dtype
        assert np.array_equal(y, fwd(x.copy(), backend=backend, **kw))
        assert_close(y, torch_pool(kind, x, **kw), dtype, f"{kind}_pool2d forward")
        dout = rng.standard_normal(y.shape[::-1]).astype(dtype).T
        dx = bwd(dout, x, backend=backend, **kw)
        assert dx.dtype == dtype
        assert_close(dx, torch_pool_grad(kind, dout, x, **kw), dtype, f"{kind}_pool2d backward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_pool_integer_input_is_exact_float64(backend):
    x = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]])[None, None]
    y = max_pool2d(x, 2, 2, backend=backend)
    assert y.dtype == np.float64
    assert avg_pool2d(x, 2, 2, backend=backend).tolist() == [[[[1.0, 1.5], [2.25, 1.0]]]]
    dx = max_pool2d_backward(np.ones((1, 1, 2, 2), dtype=np.int64), x, 2, 2, backend=backend)
    assert dx.dtype == np.float64
    assert dx[0, 0].tolist() == [[0, 1, 0, 0], [0, 0, 0, 1], [0, 0, 0, 1], [0, 1, 0, 0]]
