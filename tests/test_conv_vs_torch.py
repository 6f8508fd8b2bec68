"""Convolution forward and backward against torch, and backward against finite differences.

Tolerances: ``helpers.TOL`` (float64 rtol 1e-10 / atol 1e-12, float32 rtol
1e-4 / atol 1e-4) against torch; finite differences in float64 agree to
``FD_TOL`` (a convolution is linear, so the centred difference has no
truncation error, only rounding of order 1e-16 |y| / h).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

import cnnlib
from cnnlib.functional import conv1d, conv2d, conv2d_backward, conv3d, convolve2d, correlate2d
from cnnlib.gradcheck import numerical_gradient_array, rel_error
from helpers import (BACKENDS, EDGE_CONV_CASES, FAST, SLOW, ConvCase, assert_close, check_conv_against_torch, conv_cases,
                     torch_conv2d, torch_conv2d_grads, t)

DTYPES = [np.float32, np.float64]
FD_TOL = dict(rtol=1e-6, atol=1e-8)


def _check_against_torch(case: ConvCase, backend: str, dtype) -> None:
    check_conv_against_torch(case, backend, dtype)


# --------------------------------------------------------------------------
# conv2d and conv2d_backward vs torch
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@SLOW
@given(case=conv_cases())
def test_conv2d_forward_backward_vs_torch(case, backend, dtype):
    _check_against_torch(case, backend, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name", list(EDGE_CONV_CASES))
def test_conv2d_edge_cases_vs_torch(name, backend, dtype):
    _check_against_torch(EDGE_CONV_CASES[name], backend, dtype)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_without_bias_vs_torch(backend):
    case = EDGE_CONV_CASES["everything"]
    x, w, _, _ = case.arrays()
    assert_close(conv2d(x, w, None, backend=backend, **case.kwargs()), torch_conv2d(x, w, None, **case.kwargs()),
                 what="conv2d forward")


@st.composite
def same_cases(draw):
    """Stride-1 cases with odd and even kernels and dilations, for padding='same'."""
    case = draw(conv_cases(max_kernel=5, max_dilation=3, max_stride=1, max_padding=0))
    # any size works with 'same': the padded input always holds the kernel
    h, w = draw(st.integers(1, 7)), draw(st.integers(1, 7))
    return ConvCase(case.n, case.c, case.f, h, w, case.kh, case.kw, (1, 1), "same", case.dilation, case.seed)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@SLOW
@given(case=same_cases())
def test_conv2d_padding_same_vs_torch(case, backend, dtype):
    _check_against_torch(case, backend, dtype)
    x, w, b, _ = case.arrays(dtype)
    assert conv2d(x, w, b, padding="same", dilation=case.dilation, backend=backend).shape[2:] == (case.h, case.w)


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("kernel, dilation", [((2, 2), (1, 1)), ((4, 3), (1, 1)), ((2, 3), (3, 2)), ((3, 3), (2, 2))])
def test_conv2d_padding_same_odd_and_even_kernels(kernel, dilation, backend):
    case = ConvCase(2, 2, 3, 5, 6, *kernel, padding="same", dilation=dilation, seed=3)
    _check_against_torch(case, backend, np.float64)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_padding_valid_vs_torch(backend):
    case = ConvCase(2, 2, 3, 6, 5, 3, 2, padding="valid", dilation=(1, 2), seed=5)
    _check_against_torch(case, backend, np.float64)
    x, w, b, _ = case.arrays()
    assert np.array_equal(conv2d(x, w, b, padding="valid", dilation=(1, 2), backend=backend),
                          conv2d(x, w, b, padding=0, dilation=(1, 2), backend=backend))


@pytest.mark.parametrize("backend", BACKENDS)
def test_default_backend_and_use_backend(backend):
    case = EDGE_CONV_CASES["everything"]
    x, w, b, _ = case.arrays()
    explicit = conv2d(x, w, b, backend=backend, **case.kwargs())
    before = cnnlib.get_backend()
    with cnnlib.use_backend(backend):
        assert cnnlib.get_backend() == backend
        assert np.array_equal(conv2d(x, w, b, **case.kwargs()), explicit)
    assert cnnlib.get_backend() == before


# --------------------------------------------------------------------------
# Backward against finite differences (float64, cnnlib.gradcheck)
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@SLOW
@given(case=conv_cases(max_n=2, max_c=2, max_f=2, max_size=5, max_kernel=3))
def test_conv2d_backward_vs_finite_differences(case, backend):
    x, w, b, dout = case.arrays(np.float64)
    kw = case.kwargs()
    dx, dw, db = conv2d_backward(dout, x, w, backend=backend, **kw)
    num_dx = numerical_gradient_array(lambda v: conv2d(v, w, b, backend=backend, **kw), x.copy(), dout)
    num_dw = numerical_gradient_array(lambda v: conv2d(x, v, b, backend=backend, **kw), w.copy(), dout)
    num_db = numerical_gradient_array(lambda v: conv2d(x, w, v, backend=backend, **kw), b.copy(), dout)
    np.testing.assert_allclose(dx, num_dx, **FD_TOL)
    np.testing.assert_allclose(dw, num_dw, **FD_TOL)
    np.testing.assert_allclose(db, num_db, **FD_TOL)
    assert rel_error(dw, num_dw) < 1e-6


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_backward_padding_same_even_kernel_vs_finite_differences(backend):
    case = ConvCase(1, 2, 2, 4, 5, 2, 4, dilation=(1, 1), seed=11)
    x, w, b, _ = case.arrays()
    dout = np.random.default_rng(0).standard_normal((1, 2, 4, 5))
    dx, dw, db = conv2d_backward(dout, x, w, padding="same", backend=backend)
    assert dx.shape == x.shape
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: conv2d(v, w, b, padding="same", backend=backend), x.copy(), dout), **FD_TOL)
    np.testing.assert_allclose(dw, numerical_gradient_array(lambda v: conv2d(x, v, b, padding="same", backend=backend), w.copy(), dout), **FD_TOL)
    np.testing.assert_allclose(db, dout.sum(axis=(0, 2, 3)), **FD_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_bias_gradient_is_sum_of_deltas(backend):
    case = EDGE_CONV_CASES["everything"]
    x, w, _, _ = case.arrays()
    dout = np.arange(np.prod(case.out_shape), dtype=np.float64).reshape(case.out_shape)
    _, _, db = conv2d_backward(dout, x, w, backend=backend, **case.kwargs())
    assert np.array_equal(db, dout.sum(axis=(0, 2, 3)))


# --------------------------------------------------------------------------
# Memory layout and dtypes
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_non_contiguous_inputs(backend, dtype):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((2, 3, 6, 7)).astype(dtype).transpose(0, 1, 3, 2)  # (2, 3, 7, 6), a view
    w = rng.standard_normal((3, 2, 2, 3)).astype(dtype).transpose(1, 0, 3, 2)  # (2, 3, 3, 2)
    b = rng.standard_normal(4).astype(dtype)[::2]  # strided, length 2
    assert not x.flags.c_contiguous and not w.flags.c_contiguous and not b.flags.c_contiguous
    kw = dict(stride=(2, 1), padding=1)
    y = conv2d(x, w, b, backend=backend, **kw)
    assert np.array_equal(y, conv2d(x.copy(), w.copy(), b.copy(), backend=backend, **kw))
    assert_close(y, torch_conv2d(x, w, b, **kw), dtype, "conv2d forward")
    dout = rng.standard_normal(y.shape[::-1]).astype(dtype).T  # a transposed view of the right shape
    assert not dout.flags.c_contiguous
    grads = conv2d_backward(dout, x, w, backend=backend, **kw)
    for got, want, name in zip(grads, torch_conv2d_grads(dout, x, w, **kw), ("dx", "dw", "db")):
        assert_close(got, want, dtype, f"conv2d backward {name}")
    # reversed (negative-stride) views as well
    xr, wr = x[:, :, ::-1, :], w[..., ::-1]
    assert_close(conv2d(xr, wr, None, backend=backend), torch_conv2d(xr, wr), dtype, "conv2d forward")


@pytest.mark.parametrize("backend", BACKENDS)
def test_conv2d_dtypes(backend):
    case = EDGE_CONV_CASES["everything"]
    x, w, b, dout = case.arrays(np.float32)
    y = conv2d(x, w, b, backend=backend, **case.kwargs())
    assert y.dtype == np.float32
    assert all(g.dtype == np.float32 for g in conv2d_backward(dout, x, w, backend=backend, **case.kwargs()))
    x64, w64, b64, dout64 = case.arrays(np.float64)
    assert conv2d(x64, w64, b64, backend=backend, **case.kwargs()).dtype == np.float64
    assert all(g.dtype == np.float64 for g in conv2d_backward(dout64, x64, w64, backend=backend, **case.kwargs()))
    # mixed precision promotes to float64, like NumPy
    assert conv2d(x, w64, b, backend=backend, **case.kwargs()).dtype == np.float64
    # float16 in, float16 out (computed in float32; test_backend_contract checks the values)
    assert conv2d(x.astype(np.float16), w.astype(np.float16), backend=backend).dtype == np.float16


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("int_dtype", [np.int64, np.int32, np.uint8])
def test_conv2d_integer_inputs_are_exact_float64(backend, int_dtype):
    rng = np.random.default_rng(1)
    x = rng.integers(0, 50, (2, 3, 7, 6)).astype(int_dtype)
    w = rng.integers(0, 9, (2, 3, 3, 2)).astype(int_dtype)
    b = np.array([3, 4], dtype=int_dtype)
    y = conv2d(x, w, b, stride=(2, 1), padding=1, backend=backend)
    assert y.dtype == np.float64
    # integer sums far below 2**53 are exact in float64, in any order
    expected = torch_conv2d(x.astype(np.float64), w.astype(np.float64), b.astype(np.float64), stride=(2, 1), padding=1)
    assert np.array_equal(y, expected)
    dout = np.ones(y.shape, dtype=np.int64)
    dx, dw, db = conv2d_backward(dout, x, w, stride=(2, 1), padding=1, backend=backend)
    tdx, tdw, tdb = torch_conv2d_grads(dout.astype(np.float64), x.astype(np.float64), w.astype(np.float64), stride=(2, 1), padding=1)
    assert dx.dtype == dw.dtype == db.dtype == np.float64
    assert np.array_equal(dx, tdx) and np.array_equal(dw, tdw) and np.array_equal(db, tdb)


def test_nested_lists_are_accepted():
    y = conv2d([[[[1, 2], [3, 4]]]], [[[[1, 1], [1, 1]]]])
    assert y.shape == (1, 1, 1, 1) and y[0, 0, 0, 0] == 10.0


# --------------------------------------------------------------------------
# conv1d, conv3d
# --------------------------------------------------------------------------


@st.composite
def conv1d_cases(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    k, d, s = draw(st.integers(1, 5)), draw(st.integers(1, 3)), draw(st.integers(1, 3))
    same = draw(st.booleans())
    p = 0 if same else draw(st.integers(0, 3))
    shortest = 1 if same else max(1, d * (k - 1) + 1 - 2 * p)
    length = draw(st.integers(shortest, shortest + 8))
    return n, c, f, length, k, (1 if same else s), ("same" if same else p), d, draw(st.integers(0, 2**31))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", BACKENDS)
@FAST
@given(case=conv1d_cases())
def test_conv1d_vs_torch(case, backend, dtype):
    n, c, f, length, k, s, p, d, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, length)).astype(dtype)
    w = rng.standard_normal((f, c, k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype)
    y = conv1d(x, w, b, stride=s, padding=p, dilation=d, backend=backend)
    with torch.no_grad():
        expected = TF.conv1d(t(x), t(w), t(b), stride=s, padding=p, dilation=d).numpy()
    assert_close(y, expected, dtype, "conv1d forward")


def test_conv1d_seed_formula():
    """h_i = sum_j V_j x_{i+j-1} (seed 000), with integers: exact."""
    x = np.array([3, 1, 4, 1, 5, 9, 2, 6])
    v = np.array([2, 7, 1])
    expected = [sum(v[j] * x[i + j] for j in range(3)) for i in range(len(x) - 2)]
    y = conv1d(x[None, None], v[None, None])
    assert y.dtype == np.float64
    assert y[0, 0].tolist() == expected


@st.composite
def conv3d_cases(draw):
    n, c, f = draw(st.integers(1, 2)), draw(st.integers(1, 2)), draw(st.integers(1, 3))
    k = tuple(draw(st.integers(1, 3)) for _ in range(3))
    d = tuple(draw(st.integers(1, 2)) for _ in range(3))
    s = tuple(draw(st.integers(1, 3)) for _ in range(3))
    p = tuple(draw(st.integers(0, 2)) for _ in range(3))
    size = tuple(draw(st.integers(max(1, d[i] * (k[i] - 1) + 1 - 2 * p[i]), 6)) for i in range(3))
    return n, c, f, size, k, s, p, d, draw(st.integers(0, 2**31))


@pytest.mark.parametrize("dtype", DTYPES)
@FAST
@given(case=conv3d_cases(), use_bias=st.booleans())
def test_conv3d_vs_torch(case, use_bias, dtype):
    n, c, f, size, k, s, p, d, seed = case
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, c, *size)).astype(dtype)
    w = rng.standard_normal((f, c, *k)).astype(dtype)
    b = rng.standard_normal(f).astype(dtype) if use_bias else None
    y = conv3d(x, w, b, stride=s, padding=p, dilation=d)
    with torch.no_grad():
        expected = TF.conv3d(t(x), t(w), None if b is None else t(b), stride=s, padding=p, dilation=d).numpy()
    assert_close(y, expected, dtype, "conv3d forward")


def test_conv3d_int_stride_padding_and_noncontiguous():
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 2, 5, 6, 4)).transpose(0, 1, 4, 3, 2)  # (1, 2, 4, 6, 5) view
    w = rng.standard_normal((3, 2, 2, 3, 2))
    y = conv3d(x, w, stride=2, padding=1, dilation=1)
    with torch.no_grad():
        expected = TF.conv3d(t(x), t(w), stride=2, padding=1).numpy()
    assert_close(y, expected, np.float64, "conv3d forward")


# --------------------------------------------------------------------------
# correlate2d and convolve2d
# --------------------------------------------------------------------------


def _full_convolution_loops(image, kernel):
    """out[i, j] = sum_{p, q} kernel[p, q] image[i - p, j - q] over every overlap."""
    h, w = image.shape
    kh, kw = kernel.shape
    out = np.zeros((h + kh - 1, w + kw - 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            for p in range(kh):
                for q in range(kw):
                    if 0 <= i - p < h and 0 <= j - q < w:
                        out[i, j] += kernel[p, q] * image[i - p, j - q]
    return out


@FAST
@given(h=st.integers(1, 7), w=st.integers(1, 7), kh=st.integers(1, 4), kw=st.integers(1, 4), seed=st.integers(0, 2**31))
def test_correlate2d_and_convolve2d(h, w, kh, kw, seed):
    rng = np.random.default_rng(seed)
    image = rng.integers(-9, 10, (h, w))
    kernel = rng.integers(-9, 10, (kh, kw))
    full_conv = _full_convolution_loops(image, kernel)
    # true convolution, 'full': every overlap; integers, so exact
    assert np.array_equal(convolve2d(image, kernel, mode="full"), full_conv)
    # correlation = convolution with the kernel rotated by pi
    assert np.array_equal(correlate2d(image, kernel, mode="full"), convolve2d(image, kernel[::-1, ::-1], mode="full"))
    assert np.array_equal(convolve2d(image, kernel, mode="full"), correlate2d(image, np.rot90(kernel, 2), mode="full"))
    if kh <= h and kw <= w:
        valid = convolve2d(image, kernel)
        # 'valid' is the part of 'full' where the kernel lies inside the image
        assert np.array_equal(valid, full_conv[kh - 1 : h, kw - 1 : w])
        corr = correlate2d(image, kernel)
        assert corr.shape == (h - kh + 1, w - kw + 1)
        assert np.array_equal(corr, torch_conv2d(image[None, None].astype(float), kernel[None, None].astype(float))[0, 0])
        assert np.array_equal(corr, convolve2d(image, np.rot90(kernel, 2)))


def test_convolve2d_one_row_matches_numpy_convolve():
    a = np.array([[1.0, 2.0, -1.0, 4.0, 0.5, 3.0]])
    v = np.array([[2.0, -3.0, 1.0]])
    assert np.array_equal(convolve2d(a, v, mode="full")[0], np.convolve(a[0], v[0], mode="full"))
    assert np.array_equal(convolve2d(a, v)[0], np.convolve(a[0], v[0], mode="valid"))
    assert np.array_equal(correlate2d(a, v)[0], np.correlate(a[0], v[0], mode="valid"))


def test_convolution_commutes_in_full_mode():
    """[f * g] = [g * f] (seed 000), for true convolution in 'full' mode."""
    rng = np.random.default_rng(9)
    f, g = rng.integers(-5, 6, (3, 4)), rng.integers(-5, 6, (5, 2))
    assert np.array_equal(convolve2d(f, g, mode="full"), convolve2d(g, f, mode="full"))


def test_correlate2d_float32_stays_float32():
    image = np.arange(12, dtype=np.float32).reshape(3, 4)
    assert correlate2d(image, np.ones((2, 2), np.float32)).dtype == np.float32
    assert convolve2d(image, np.ones((2, 2), np.float32), mode="full").dtype == np.float32
