"""The numba backend's own code paths (the contract is tested for every backend elsewhere).

test_conv_vs_torch.py, test_pool_vs_torch.py, test_im2col.py,
test_validation.py and test_backend_contract.py run every registered
backend, numba included. This file covers what only numba has: the two
convolution paths (the "wide" phase-plane kernels and the im2col path used
for tiny output planes, ``numba_backend.SMALL_PLANE``), forced one at a
time; cases large enough for blocks of four planes (F >= 4, C >= 4),
several tiles of the wide vector (OH * OW > 1024), every stride phase and
the chunking of pooling planes; bit-identical results whatever the thread
count; work buffers reused between calls; and that no kernel runs on input
the validation layer should have rejected.

Tolerances: ``helpers.TOL`` against torch (float32 rtol 1e-4 / atol 1e-4,
float64 rtol 1e-10 / atol 1e-12). Pure copies (im2col, max pooling forward)
and col2im, which adds in the same order as the NumPy version, must agree
exactly.
"""

from __future__ import annotations

from contextlib import contextmanager

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from cnnlib.functional import (avg_pool2d, avg_pool2d_backward, conv2d, conv2d_backward, max_pool2d,
                               max_pool2d_backward, numba_backend)
from cnnlib.im2col import col2im, im2col
from helpers import (EDGE_CONV_CASES, SETTINGS, ConvCase, PoolCase, assert_close, check_conv_against_torch,
                     conv_cases,
                     pool_cases, torch_pool, torch_pool_grad)

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


# --------------------------------------------------------------------------
# Validation runs before any kernel
# --------------------------------------------------------------------------


def test_no_kernel_sees_invalid_input(monkeypatch):
    from numba.core.registry import CPUDispatcher

    from cnnlib.functional import _numba_conv, _numba_gemm, _numba_layout, _numba_pool, _numba_scatter, _numba_wgrad

    def refuse(*args, **kwargs):
        raise AssertionError("a kernel ran on input the validation layer should have rejected")

    patched = 0
    for module in (_numba_conv, _numba_gemm, _numba_layout, _numba_pool, _numba_scatter, _numba_wgrad):
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

