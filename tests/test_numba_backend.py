"""The numba backend against torch, the naive and the im2col backends.

The cases are the foundation's (``helpers.conv_cases``, ``pool_cases`` and
the named edge cases), drawn a little larger here so that the kernels' other
code paths run too: blocks of four output planes (F >= 4 for the forward
pass, C >= 4 for the input gradient), several tiles of the wide output
vector (OH * OW > 1024), every stride phase of a strided convolution. The
property tests run each case through both convolution paths: the "wide"
kernels and the im2col path used for tiny output planes
(``numba_backend.SMALL_PLANE``).

Tolerances: ``helpers.TOL`` against torch and the other backends (float32
rtol 1e-4 / atol 1e-4, float64 rtol 1e-10 / atol 1e-12). Pure copies
(im2col, max pooling forward) and col2im, which adds in the same order as
the NumPy version, must agree exactly. Run with
``CNNLIB_TEST_ERRORS=errors.json`` to record the largest errors seen.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlib
from cnnlib.functional import (avg_pool2d, avg_pool2d_backward, conv2d, conv2d_backward, max_pool2d,
                               max_pool2d_backward, numba_backend)
from cnnlib.im2col import col2im, im2col
from helpers import (EDGE_CONV_CASES, EDGE_POOL_CASES, SETTINGS, ConvCase, PoolCase, assert_close, check_conv_against_torch,
                     conv_cases,
                     pool_cases, torch_conv2d, torch_conv2d_grads, torch_pool, torch_pool_grad)
from test_validation import CONV_CASES, OTHER_CASES, POOL_CASES

B = "numba"
DTYPES = [np.float32, np.float64]
EXAMPLES = settings(max_examples=40, **SETTINGS)
FEW = settings(max_examples=25, **SETTINGS)

# Larger than the foundation's defaults: blocks of 4 planes, stride 4, padding > kernel.
wide_conv_cases = conv_cases(max_n=2, max_c=6, max_f=9, max_size=10, max_kernel=5, max_stride=4,
                             max_padding=3, max_dilation=3)


@contextmanager
def plane_path(path: str):
    """Force every convolution through one path: "wide" kernels or "im2col" (tiny planes)."""
    saved = numba_backend.SMALL_PLANE
    numba_backend.SMALL_PLANE = {"wide": 0, "im2col": 10**9}[path]
    try:
        yield
    finally:
        numba_backend.SMALL_PLANE = saved


PATHS = ["wide", "im2col"]


def _conv_vs_torch(case: ConvCase, dtype) -> None:
    check_conv_against_torch(case, B, dtype, label="numba conv2d")


# --------------------------------------------------------------------------
# Convolution
# --------------------------------------------------------------------------


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@EXAMPLES
@given(case=wide_conv_cases)
def test_conv2d_vs_torch(case, dtype, path):
    with plane_path(path):
        _conv_vs_torch(case, dtype)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(EDGE_CONV_CASES))
def test_conv2d_edge_cases_vs_torch(name, dtype, path):
    with plane_path(path):
        _conv_vs_torch(EDGE_CONV_CASES[name], dtype)


LAYER_CASES = {
    # wide vectors longer than one tile, F and C not multiples of 4
    "3x4 kernel, pad 1, two tiles": ConvCase(2, 5, 7, 40, 37, 3, 4, padding=(1, 1), seed=1),
    "AlexNet-like 11x11 stride 4": ConvCase(1, 3, 6, 51, 47, 11, 11, stride=(4, 4), seed=2),
    "stride 2, dilation 2, pad 3": ConvCase(2, 4, 5, 23, 19, 3, 3, stride=(2, 2), padding=(3, 3), dilation=(2, 2), seed=3),
    "1x1, many channels": ConvCase(2, 9, 6, 12, 11, 1, 1, seed=4),
    "SimpleConvNet conv": ConvCase(3, 1, 30, 28, 28, 5, 5, seed=5),
    "LeNet-5 C5, 1x1 output (im2col path)": ConvCase(3, 16, 10, 5, 5, 5, 5, seed=6),
    "2x2 output, stride 2 (im2col path)": ConvCase(2, 5, 7, 6, 7, 3, 3, stride=(2, 2), seed=7),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_conv2d_layer_sized_cases_vs_torch(name, dtype):
    _conv_vs_torch(LAYER_CASES[name], dtype)


@pytest.mark.parametrize("path", PATHS)
@FEW
@given(case=conv_cases(max_n=2, max_c=5, max_f=5, max_size=6, max_kernel=3, max_stride=3))
def test_conv2d_vs_naive_and_im2col_backends(case, path):
    x, w, b, dout = case.arrays(np.float64)
    kw = case.kwargs()
    with plane_path(path):
        y = conv2d(x, w, b, backend=B, **kw)
        grads = conv2d_backward(dout, x, w, backend=B, **kw)
    for other in ("naive", "im2col"):
        assert_close(y, conv2d(x, w, b, backend=other, **kw), np.float64, f"conv2d forward vs {other}")
        for got, want, name in zip(grads, conv2d_backward(dout, x, w, backend=other, **kw), ("dx", "dw", "db")):
            assert_close(got, want, np.float64, f"conv2d backward {name} vs {other}")


@pytest.mark.parametrize("kernel, dilation", [((2, 2), (1, 1)), ((4, 3), (1, 1)), ((2, 3), (3, 2)), ((3, 3), (2, 2))])
@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_padding_same_vs_torch(kernel, dilation, dtype):
    case = ConvCase(2, 3, 5, 6, 7, *kernel, padding="same", dilation=dilation, seed=3)
    _conv_vs_torch(case, dtype)
    x, w, b, _ = case.arrays(dtype)
    assert conv2d(x, w, b, padding="same", dilation=dilation, backend=B).shape == (2, 5, 6, 7)


def test_conv2d_without_bias_and_bias_gradient_exact():
    case = LAYER_CASES["stride 2, dilation 2, pad 3"]
    x, w, b, _ = case.arrays()
    assert_close(conv2d(x, w, None, backend=B, **case.kwargs()), torch_conv2d(x, w, None, **case.kwargs()),
                 what="numba conv2d forward")
    # integer-valued dout: every partial sum is exact in float64
    dout = np.arange(np.prod(case.out_shape), dtype=np.float64).reshape(case.out_shape) % 7
    _, _, db = conv2d_backward(dout, x, w, backend=B, **case.kwargs())
    assert np.array_equal(db, dout.sum(axis=(0, 2, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_non_contiguous_inputs(dtype):
    rng = np.random.default_rng(42)
    x = rng.standard_normal((2, 5, 9, 8)).astype(dtype).transpose(0, 1, 3, 2)  # (2, 5, 8, 9), a view
    w = rng.standard_normal((5, 6, 2, 3)).astype(dtype).transpose(1, 0, 3, 2)  # (6, 5, 3, 2)
    b = rng.standard_normal(12).astype(dtype)[::2]
    assert not (x.flags.c_contiguous or w.flags.c_contiguous or b.flags.c_contiguous)
    kw = dict(stride=(2, 1), padding=1)
    y = conv2d(x, w, b, backend=B, **kw)
    assert np.array_equal(y, conv2d(x.copy(), w.copy(), b.copy(), backend=B, **kw))
    assert_close(y, torch_conv2d(x, w, b, **kw), dtype, "numba conv2d forward")
    dout = rng.standard_normal(y.shape[::-1]).astype(dtype).T
    for got, want, name in zip(conv2d_backward(dout, x, w, backend=B, **kw), torch_conv2d_grads(dout, x, w, **kw),
                               ("dx", "dw", "db")):
        assert_close(got, want, dtype, f"numba conv2d backward {name}")


@pytest.mark.parametrize("dtype", DTYPES)
def test_conv2d_dtypes(dtype):
    x, w, b, dout = LAYER_CASES["stride 2, dilation 2, pad 3"].arrays(dtype)
    kw = LAYER_CASES["stride 2, dilation 2, pad 3"].kwargs()
    assert conv2d(x, w, b, backend=B, **kw).dtype == dtype
    assert [g.dtype for g in conv2d_backward(dout, x, w, backend=B, **kw)] == [dtype] * 3
    assert conv2d(x, w.astype(np.float64), backend=B).dtype == np.float64  # mixed promotes
    assert conv2d(x.astype(np.float16), w.astype(np.float16), backend=B).dtype == np.float64


@pytest.mark.parametrize("name", ["3x4 kernel, pad 1, two tiles", "LeNet-5 C5, 1x1 output (im2col path)"])
def test_results_do_not_depend_on_the_thread_count_or_the_run(name):
    case = LAYER_CASES[name]
    x, w, b, dout = case.arrays(np.float32)
    kw = case.kwargs()

    def everything():
        return [conv2d(x, w, b, backend=B, **kw), *conv2d_backward(dout, x, w, backend=B, **kw),
                max_pool2d(x, 3, 2, 1, backend=B), max_pool2d_backward(max_pool2d(x, 2), x, 2, backend=B),
                avg_pool2d_backward(avg_pool2d(x, 3, 2, 1), x, 3, 2, 1, backend=B)]

    first = everything()
    threads = numba.get_num_threads()
    try:
        numba.set_num_threads(1)
        single = everything()
    finally:
        numba.set_num_threads(threads)
    for a, b1, c in zip(first, single, everything()):
        assert np.array_equal(a, b1) and np.array_equal(a, c)


def test_work_buffers_are_reused_safely():
    big = ConvCase(2, 4, 6, 30, 30, 3, 3, stride=(2, 2), padding=(1, 1), seed=8)
    small = ConvCase(1, 2, 3, 7, 6, 2, 3, stride=(2, 1), padding=(1, 0), seed=9)
    _conv_vs_torch(big, np.float32)
    _conv_vs_torch(small, np.float32)  # a big stale buffer must not leak into a small problem
    _conv_vs_torch(big, np.float32)
    numba_backend.release_buffers()
    _conv_vs_torch(small, np.float64)


def test_numba_is_the_default_backend():
    assert cnnlib.get_backend() == "numba"
    case = EDGE_CONV_CASES["everything"]
    x, w, b, _ = case.arrays()
    assert np.array_equal(conv2d(x, w, b, **case.kwargs()), conv2d(x, w, b, backend=B, **case.kwargs()))


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------


def _max_vs_torch(case: PoolCase, dtype, ties=False) -> None:
    x, dout = case.arrays(dtype, ties=ties)
    kw = case.kwargs()
    y = max_pool2d(x, backend=B, **kw)
    assert np.array_equal(y, torch_pool("max", x, **kw))  # a copy of one input: exact
    assert y.dtype == dtype
    assert_close(max_pool2d_backward(dout, x, backend=B, **kw), torch_pool_grad("max", dout, x, **kw), dtype,
                 "numba max_pool2d backward")


def _avg_vs_torch(case: PoolCase, dtype, count_include_pad) -> None:
    x, dout = case.arrays(dtype)
    kw = dict(case.kwargs(), count_include_pad=count_include_pad)
    assert_close(avg_pool2d(x, backend=B, **kw), torch_pool("avg", x, **kw), dtype, "numba avg_pool2d forward")
    assert_close(avg_pool2d_backward(dout, x, backend=B, **kw), torch_pool_grad("avg", dout, x, **kw), dtype,
                 "numba avg_pool2d backward")


@pytest.mark.parametrize("dtype", DTYPES)
@EXAMPLES
@given(case=pool_cases(max_size=10, max_kernel=5), ties=st.booleans(), count_include_pad=st.booleans())
def test_pools_vs_torch(case, ties, count_include_pad, dtype):
    _max_vs_torch(case, dtype, ties)
    _avg_vs_torch(case, dtype, count_include_pad)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", list(EDGE_POOL_CASES))
def test_pool_edge_cases_vs_torch(name, dtype):
    case = EDGE_POOL_CASES[name]
    _max_vs_torch(case, dtype)
    _max_vs_torch(case, dtype, ties=True)
    _avg_vs_torch(case, dtype, True)
    _avg_vs_torch(case, dtype, False)


@FEW
@given(case=pool_cases(max_size=7), count_include_pad=st.booleans())
def test_pools_vs_naive_backend(case, count_include_pad):
    x, dout = case.arrays(np.float64, ties=True)
    kw = case.kwargs()
    # max pooling moves values: identical to the reference, ties included
    assert np.array_equal(max_pool2d(x, backend=B, **kw), max_pool2d(x, backend="naive", **kw))
    assert np.array_equal(max_pool2d_backward(dout, x, backend=B, **kw), max_pool2d_backward(dout, x, backend="naive", **kw))
    kw["count_include_pad"] = count_include_pad
    assert_close(avg_pool2d(x, backend=B, **kw), avg_pool2d(x, backend="naive", **kw), what="avg_pool2d vs naive")
    assert_close(avg_pool2d_backward(dout, x, backend=B, **kw), avg_pool2d_backward(dout, x, backend="naive", **kw),
                 what="avg_pool2d backward vs naive")


def test_max_pool_ties_go_to_the_first_maximum():
    x = np.array([[1, 3, 5, 5],
                  [3, 2, 0, 4],
                  [7, 1, 2, 0],
                  [0, 7, 2, 2]], dtype=np.float32)[None, None]
    dout = np.array([[10.0, 20.0], [30.0, 40.0]], dtype=np.float32)[None, None]
    expected = np.zeros((4, 4), dtype=np.float32)
    expected[0, 1], expected[0, 2], expected[2, 0], expected[2, 2] = 10, 20, 30, 40
    assert np.array_equal(max_pool2d_backward(dout, x, 2, 2, backend=B)[0, 0], expected)
    # overlapping windows of a constant image: window (i, j) routes to its top-left pixel (i, j)
    x = np.full((1, 2, 4, 6), 5.0)
    dout = np.arange(1.0, 17.0).reshape(1, 2, 2, 4)
    expected = np.zeros((1, 2, 4, 6))
    expected[:, :, :2, :4] = dout
    assert np.array_equal(max_pool2d_backward(dout, x, 3, 1, backend=B), expected)


def test_max_pool_overlapping_windows_accumulate_and_padding_never_wins():
    x = np.zeros((1, 1, 5, 5))
    x[0, 0, 2, 2] = 9.0
    dout = np.arange(1.0, 10.0).reshape(1, 1, 3, 3)
    dx = max_pool2d_backward(dout, x, 3, 1, backend=B)
    assert dx[0, 0, 2, 2] == 45 and np.count_nonzero(dx) == 1
    x = -1.0 - np.random.default_rng(0).random((2, 3, 5, 4))  # all negative: zero padding would win
    y = max_pool2d(x, 3, 2, 1, backend=B)
    assert (y < 0).all() and np.array_equal(y, torch_pool("max", x, 3, 2, 1))


def test_pool_layer_sized_and_non_contiguous():
    rng = np.random.default_rng(5)
    x = rng.standard_normal((7, 30, 24, 24)).astype(np.float32).transpose(1, 0, 3, 2)  # (30, 7, 24, 24) view
    for kw in (dict(kernel_size=2, stride=2), dict(kernel_size=3, stride=2, padding=1), dict(kernel_size=(3, 2), stride=(1, 2))):
        y = max_pool2d(x, backend=B, **kw)
        assert np.array_equal(y, torch_pool("max", x, **kw))
        dout = rng.standard_normal(y.shape[::-1]).astype(np.float32).T
        assert_close(max_pool2d_backward(dout, x, backend=B, **kw), torch_pool_grad("max", dout, x, **kw),
                     what="numba max_pool2d backward")
        assert_close(avg_pool2d(x, backend=B, **kw), torch_pool("avg", x, **kw), what="numba avg_pool2d forward")
        assert_close(avg_pool2d_backward(dout, x, backend=B, **kw), torch_pool_grad("avg", dout, x, **kw),
                     what="numba avg_pool2d backward")


# --------------------------------------------------------------------------
# im2col and col2im
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
@EXAMPLES
@given(case=wide_conv_cases)
def test_im2col_col2im_equal_the_numpy_version_and_are_adjoint(case, dtype):
    rng = np.random.default_rng(case.seed)
    x = rng.standard_normal(case.x_shape).astype(dtype)
    k, kw = (case.kh, case.kw), case.kwargs()
    col = im2col(x, k, backend=B, **kw)
    assert col.dtype == dtype
    assert np.array_equal(col, im2col(x, k, backend="im2col", **kw))
    c = rng.standard_normal(col.shape).astype(dtype)
    back = col2im(c, case.x_shape, k, backend=B, **kw)
    # the same additions in the same order as the NumPy version: bit-identical
    assert back.dtype == dtype and np.array_equal(back, col2im(c, case.x_shape, k, backend="im2col", **kw))
    lhs = float(np.sum(col.astype(np.float64) * c))
    rhs = float(np.sum(x.astype(np.float64) * back))
    scale = float(np.sum(np.abs(col.astype(np.float64) * c))) + 1e-300
    assert abs(lhs - rhs) <= (1e-5 if dtype == np.float32 else 1e-12) * scale


def test_im2col_non_contiguous_input():
    x = np.random.default_rng(4).standard_normal((2, 3, 6, 5)).astype(np.float32).transpose(0, 1, 3, 2)
    col = im2col(x, (2, 3), stride=(1, 2), padding=1, backend=B)
    assert np.array_equal(col, im2col(x.copy(), (2, 3), stride=(1, 2), padding=1, backend="naive"))


# --------------------------------------------------------------------------
# Validation runs before any kernel
# --------------------------------------------------------------------------


@pytest.mark.parametrize("name, call, error, message", CONV_CASES + POOL_CASES + OTHER_CASES,
                         ids=[c[0] for c in CONV_CASES + POOL_CASES + OTHER_CASES])
def test_bad_input_raises_a_clear_error(name, call, error, message):
    with pytest.raises(error, match=message):
        call(B)


def test_no_kernel_sees_invalid_input(monkeypatch):
    from numba.core.registry import CPUDispatcher

    from cnnlib.functional import _numba_conv, _numba_gemm, _numba_layout, _numba_pool, _numba_wgrad

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel ran on input the validation layer should have rejected")

    patched = 0
    for module in (_numba_conv, _numba_gemm, _numba_layout, _numba_pool, _numba_wgrad):
        for name, value in vars(module).items():
            if isinstance(value, CPUDispatcher) and not name.startswith("_"):
                monkeypatch.setattr(module, name, refuse)
                patched += 1
    assert patched >= 9  # every kernel numba_backend calls
    x, w = np.zeros((2, 3, 6, 6)), np.zeros((4, 3, 3, 3))
    bad = [
        (lambda: conv2d(x, np.zeros((4, 2, 3, 3)), backend=B), ValueError),  # channel mismatch
        (lambda: conv2d(x, np.zeros((4, 3, 7, 3)), backend=B), ValueError),  # kernel larger than input
        (lambda: conv2d(np.full(x.shape, np.nan), w, backend=B), ValueError),
        (lambda: conv2d(x[0], w, backend=B), ValueError),
        (lambda: conv2d(x.astype(bool), w, backend=B), TypeError),
        (lambda: conv2d(x, w, stride=0, backend=B), ValueError),
        (lambda: conv2d(x, w, padding=-1, backend=B), ValueError),
        (lambda: conv2d_backward(np.zeros((2, 4, 5, 4)), x, w, backend=B), ValueError),
        (lambda: max_pool2d(x, 2, padding=2, backend=B), ValueError),
        (lambda: max_pool2d_backward(np.zeros((2, 3, 2, 2)), x, 2, backend=B), ValueError),
        (lambda: avg_pool2d(x, 7, backend=B), ValueError),
        (lambda: col2im(np.zeros((9, 17)), x.shape, 3, backend=B), ValueError),
    ]
    for call, error in bad:
        with pytest.raises(error):
            call()
    with pytest.raises(AssertionError, match="a kernel ran"):  # the patch is live: valid input reaches it
        conv2d(x, w, backend=B)


def test_empty_batch_and_inputs_not_modified():
    x = np.zeros((0, 3, 6, 6))
    w = np.ones((4, 3, 3, 3))
    assert conv2d(x, w, stride=2, padding=1, backend=B).shape == (0, 4, 3, 3)
    dx, dw, db = conv2d_backward(np.zeros((0, 4, 3, 3)), x, w, stride=2, padding=1, backend=B)
    assert dx.shape == x.shape and np.array_equal(dw, np.zeros(w.shape)) and np.array_equal(db, np.zeros(4))
    assert max_pool2d_backward(np.zeros((0, 3, 3, 3)), x, 2, backend=B).shape == x.shape
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    dout, pdout = rng.standard_normal((2, 2, 3, 3)), rng.standard_normal((2, 3, 4, 3))
    saved = [a.copy() for a in (x, w, b, dout, pdout)]
    conv2d(x, w, b, stride=(2, 2), padding=1, backend=B)
    conv2d_backward(dout, x, w, stride=(2, 2), padding=1, backend=B)
    max_pool2d_backward(pdout, x, 2, 2, 1, backend=B)
    avg_pool2d_backward(pdout, x, 2, 2, 1, backend=B)
    for a, s in zip((x, w, b, dout, pdout), saved):
        assert np.array_equal(a, s)
