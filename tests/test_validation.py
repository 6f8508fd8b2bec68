"""Bad input gets a clear error naming the argument, before any backend runs.

Each case asserts the error type and a phrase of the message. Every case runs
on every backend, since validation must not depend on which kernel follows.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib.functional import (avg_pool2d, avg_pool2d_backward, conv1d, conv2d, conv2d_backward, conv3d,
                               correlate2d, max_pool2d, max_pool2d_backward)
from cnnlib.im2col import col2im, im2col
from helpers import BACKENDS

X = np.zeros((2, 3, 6, 6))
W = np.zeros((4, 3, 3, 3))
DOUT = np.zeros((2, 4, 4, 4))
POOL_DOUT = np.zeros((2, 3, 3, 3))

# (id, call(backend), error type, phrase of the message)
CONV_CASES = [
    ("channel mismatch", lambda b: conv2d(X, np.zeros((4, 2, 3, 3)), backend=b), ValueError,
     r"channel mismatch: x has 3 channels \(shape \(2, 3, 6, 6\)\) but weight expects 2"),
    ("3-D input", lambda b: conv2d(X[0], W, backend=b), ValueError,
     r"x must be 4-D \(N, C, H, W\); got a 3-D array of shape \(3, 6, 6\)"),
    ("5-D input", lambda b: conv2d(X[None], W, backend=b), ValueError, "x must be 4-D"),
    ("weight of rank 3", lambda b: conv2d(X, W[0], backend=b), ValueError,
     r"weight must be 4-D \(out_channels, in_channels, KH, KW\); got a 3-D array"),
    ("kernel larger than padded input", lambda b: conv2d(X, np.zeros((4, 3, 9, 3)), padding=1, backend=b), ValueError,
     r"kernel 9x3 is larger than the padded input 8x8 \(input 6x6, padding \(1, 1\)\)"),
    ("dilated kernel larger than input", lambda b: conv2d(X, W, dilation=3, backend=b), ValueError,
     r"kernel 3x3 \(dilated to 7x7\) is larger than the padded input 6x6"),
    ("stride 0", lambda b: conv2d(X, W, stride=0, backend=b), ValueError, "stride must be >= 1; got 0"),
    ("stride (1, 0)", lambda b: conv2d(X, W, stride=(1, 0), backend=b), ValueError, r"stride\[1\] must be >= 1; got 0"),
    ("stride -1", lambda b: conv2d(X, W, stride=-1, backend=b), ValueError, "stride must be >= 1; got -1"),
    ("negative padding", lambda b: conv2d(X, W, padding=-1, backend=b), ValueError, "padding must be >= 0; got -1"),
    ("negative padding pair", lambda b: conv2d(X, W, padding=(0, -2), backend=b), ValueError, r"padding\[1\] must be >= 0"),
    ("dilation 0", lambda b: conv2d(X, W, dilation=0, backend=b), ValueError, "dilation must be >= 1; got 0"),
    ("stride as float", lambda b: conv2d(X, W, stride=2.0, backend=b), TypeError, r"stride must be an integer; got 2.0 \(float\)"),
    ("stride as string", lambda b: conv2d(X, W, stride="2", backend=b), TypeError, r"stride must be an integer; got '2' \(str\)"),
    ("stride as bool", lambda b: conv2d(X, W, stride=True, backend=b), TypeError, "stride must be an integer; got True"),
    ("padding as float", lambda b: conv2d(X, W, padding=1.0, backend=b), TypeError, "padding must be an integer; got 1.0"),
    ("stride triple", lambda b: conv2d(X, W, stride=(1, 1, 1), backend=b), ValueError, r"stride must be an int or a pair \(h, w\)"),
    ("unknown padding mode", lambda b: conv2d(X, W, padding="full", backend=b), ValueError,
     "padding must be an int, a pair, 'valid' or 'same'; got 'full'"),
    ("padding same with stride 2", lambda b: conv2d(X, W, padding="same", stride=2, backend=b), ValueError,
     r"padding='same' needs stride 1 \(as in torch\); got stride \(2, 2\)"),
    ("bias of wrong length", lambda b: conv2d(X, W, np.zeros(3), backend=b), ValueError,
     r"bias has shape \(3,\) but weight has 4 filters; expected \(4,\)"),
    ("bias of wrong rank", lambda b: conv2d(X, W, np.zeros((4, 1)), backend=b), ValueError, "bias must be 1-D"),
    ("bool input", lambda b: conv2d(X.astype(bool), W, backend=b), TypeError, "x has dtype bool; convert it to float first"),
    ("complex input", lambda b: conv2d(X.astype(complex), W, backend=b), TypeError,
     "x has complex dtype complex128; cnnlib works with real numbers only"),
    ("object input", lambda b: conv2d(X.astype(object), W, backend=b), TypeError,
     "x has dtype object; expected a real numeric dtype"),
    ("string input", lambda b: conv2d(np.full((1, 1, 3, 3), "a"), np.zeros((1, 1, 2, 2)), backend=b), TypeError,
     "x has dtype <U1"),
    ("ragged list", lambda b: conv2d([[[[1, 2], [3]]]], W, backend=b), TypeError, "x must be an array of numbers; got list"),
    ("bool weight", lambda b: conv2d(X, W.astype(bool), backend=b), TypeError, "weight has dtype bool"),
    ("complex bias", lambda b: conv2d(X, W, np.zeros(4, complex), backend=b), TypeError, "bias has complex dtype"),
    ("NaN input", lambda b: conv2d(np.where(np.eye(6) > 0, np.nan, X), W, backend=b), ValueError,
     r"x contains 36 NaN or infinite value\(s\)"),
    ("inf weight", lambda b: conv2d(X, np.full(W.shape, np.inf), backend=b), ValueError,
     r"weight contains 108 NaN or infinite value\(s\)"),
    ("NaN bias", lambda b: conv2d(X, W, np.array([0, np.nan, 0, 0]), backend=b), ValueError, "bias contains 1 NaN"),
    ("unknown backend", lambda b: conv2d(X, W, backend=b + "-gpu"), ValueError, "backend must be one of"),
    # backward
    ("dout of wrong shape", lambda b: conv2d_backward(np.zeros((2, 4, 3, 4)), X, W, backend=b), ValueError,
     r"dout has shape \(2, 4, 3, 4\), but conv2d of x \(2, 3, 6, 6\) with weight \(4, 3, 3, 3\) gives \(2, 4, 4, 4\)"),
    ("dout of wrong rank", lambda b: conv2d_backward(DOUT[0], X, W, backend=b), ValueError, "dout must be 4-D"),
    ("NaN dout", lambda b: conv2d_backward(np.full(DOUT.shape, np.nan), X, W, backend=b), ValueError, "dout contains"),
    ("bool dout", lambda b: conv2d_backward(DOUT.astype(bool), X, W, backend=b), TypeError, "dout has dtype bool"),
    ("backward channel mismatch", lambda b: conv2d_backward(DOUT, X, np.zeros((4, 2, 3, 3)), backend=b), ValueError,
     "channel mismatch"),
    ("backward same with stride 2", lambda b: conv2d_backward(DOUT, X, W, stride=2, padding="same", backend=b),
     ValueError, "padding='same' needs stride 1"),
]

POOL_CASES = [
    ("pool 3-D input", lambda b: max_pool2d(X[0], 2, backend=b), ValueError, "x must be 4-D"),
    ("pool padding > half window", lambda b: max_pool2d(X, 2, padding=2, backend=b), ValueError,
     r"padding \(2, 2\) must be at most half the pooling window \(2, 2\)"),
    ("avg pool padding > half window", lambda b: avg_pool2d(X, (3, 4), padding=(2, 1), backend=b), ValueError,
     "must be at most half the pooling window"),
    ("pool window larger than input", lambda b: max_pool2d(X, 7, backend=b), ValueError,
     r"pooling window 7x7 is larger than the padded input 6x6"),
    ("pool stride 0", lambda b: max_pool2d(X, 2, 0, backend=b), ValueError, "stride must be >= 1; got 0"),
    ("pool kernel 0", lambda b: avg_pool2d(X, 0, backend=b), ValueError, "kernel_size must be >= 1; got 0"),
    ("pool negative padding", lambda b: max_pool2d(X, 2, 2, -1, backend=b), ValueError, "padding must be >= 0"),
    ("pool stride as float", lambda b: max_pool2d(X, 2, 2.0, backend=b), TypeError, "stride must be an integer; got 2.0"),
    ("pool stride as string", lambda b: avg_pool2d(X, 2, "2", backend=b), TypeError, "stride must be an integer; got '2'"),
    ("pool kernel as float", lambda b: max_pool2d(X, 2.0, backend=b), TypeError, "kernel_size must be an integer"),
    ("pool padding same", lambda b: max_pool2d(X, 3, 1, "same", backend=b), TypeError, "padding must be an integer"),
    ("pool NaN input", lambda b: max_pool2d(np.full(X.shape, np.nan), 2, backend=b), ValueError, "x contains 216 NaN"),
    ("pool complex input", lambda b: avg_pool2d(X.astype(np.complex64), 2, backend=b), TypeError, "complex dtype"),
    ("max pool dout of wrong shape", lambda b: max_pool2d_backward(np.zeros((2, 3, 2, 3)), X, 2, backend=b), ValueError,
     r"dout has shape \(2, 3, 2, 3\), but pooling x \(2, 3, 6, 6\) with window \(2, 2\), stride \(2, 2\), padding \(0, 0\) gives \(2, 3, 3, 3\)"),
    ("avg pool dout of wrong shape", lambda b: avg_pool2d_backward(np.zeros((2, 4, 3, 3)), X, 2, backend=b), ValueError,
     "dout has shape"),
    ("max pool NaN dout", lambda b: max_pool2d_backward(np.full(POOL_DOUT.shape, np.nan), X, 2, backend=b), ValueError,
     "dout contains"),
]

OTHER_CASES = [
    ("im2col 3-D input", lambda b: im2col(X[0], 3, backend=b), ValueError, "x must be 4-D"),
    ("im2col stride 0", lambda b: im2col(X, 3, stride=0, backend=b), ValueError, "stride must be >= 1"),
    ("im2col kernel too large", lambda b: im2col(X, (2, 8), backend=b), ValueError, "kernel 2x8 is larger than the padded input"),
    ("col2im wrong col shape", lambda b: col2im(np.zeros((2, 2)), X.shape, 3, backend=b), ValueError, "col has shape"),
    ("col2im float x_shape", lambda b: col2im(np.zeros((32, 27)), (2, 3, 6.0, 6), 3, backend=b), TypeError,
     r"x_shape\[2\] must be an integer"),
    ("conv1d 4-D input", lambda b: conv1d(X, W, backend=b), ValueError, r"x must be 3-D \(N, C, L\)"),
    ("conv1d channel mismatch", lambda b: conv1d(np.zeros((1, 2, 5)), np.zeros((1, 3, 2)), backend=b), ValueError,
     "channel mismatch"),
    ("conv1d stride pair", lambda b: conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 2)), stride=(1, 2), backend=b),
     ValueError, "stride of a 1-D convolution must be a single int"),
    ("conv1d stride 0", lambda b: conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 2)), stride=0, backend=b), ValueError,
     "must be >= 1; got 0"),
    ("conv1d kernel too large", lambda b: conv1d(np.zeros((1, 1, 5)), np.zeros((1, 1, 6)), backend=b), ValueError,
     "is larger than the padded input"),
]

CONV3D_CASES = [
    ("conv3d 4-D input", lambda: conv3d(X, W), ValueError, r"x must be 5-D \(N, C, D, H, W\)"),
    ("conv3d channel mismatch", lambda: conv3d(np.zeros((1, 2, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2))), ValueError,
     r"channel mismatch: x has 2 channels"),
    ("conv3d kernel too large", lambda: conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 4, 2, 2))), ValueError,
     r"kernel \(4, 2, 2\) \(effective \(4, 2, 2\)\) is larger than the padded input \(3, 3, 3\)"),
    ("conv3d stride 0", lambda: conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)), stride=0), ValueError,
     "stride must be >= 1"),
    ("conv3d stride pair", lambda: conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)), stride=(1, 2)),
     ValueError, r"stride must be an int or a triple \(d, h, w\)"),
    ("conv3d negative padding", lambda: conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)), padding=(0, 0, -1)),
     ValueError, r"padding\[2\] must be >= 0"),
    ("conv3d bias of wrong length", lambda: conv3d(np.zeros((1, 1, 3, 3, 3)), np.zeros((1, 1, 2, 2, 2)), np.zeros(2)),
     ValueError, r"bias has shape \(2,\); expected \(1,\)"),
    ("conv3d bool", lambda: conv3d(np.zeros((1, 1, 3, 3, 3), bool), np.zeros((1, 1, 2, 2, 2))), TypeError, "dtype bool"),
    ("conv3d NaN", lambda: conv3d(np.full((1, 1, 3, 3, 3), np.nan), np.zeros((1, 1, 2, 2, 2))), ValueError, "NaN"),
    ("correlate2d mode", lambda: correlate2d(np.zeros((3, 3)), np.zeros((2, 2)), mode="same"), ValueError,
     "mode must be 'valid' or 'full'; got 'same'"),
    ("correlate2d 3-D image", lambda: correlate2d(np.zeros((1, 3, 3)), np.zeros((2, 2))), ValueError,
     r"image must be 2-D \(H, W\)"),
    ("correlate2d kernel too large", lambda: correlate2d(np.zeros((3, 3)), np.zeros((4, 2))), ValueError,
     "kernel 4x2 is larger than the padded input 3x3"),
]


def _ids(cases):
    return [c[0] for c in cases]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("name, call, error, message", CONV_CASES + POOL_CASES + OTHER_CASES,
                         ids=_ids(CONV_CASES + POOL_CASES + OTHER_CASES))
def test_bad_input_raises_a_clear_error(name, call, error, message, backend):
    with pytest.raises(error, match=message):
        call(backend)


@pytest.mark.parametrize("name, call, error, message", CONV3D_CASES, ids=_ids(CONV3D_CASES))
def test_bad_input_raises_a_clear_error_conv3d_and_correlate(name, call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_type_errors_are_not_value_errors():
    # a learner's except ValueError must not swallow a wrong dtype, and vice versa
    with pytest.raises(TypeError) as info:
        conv2d(X.astype(bool), W)
    assert not isinstance(info.value, ValueError)


# --------------------------------------------------------------------------
# Degenerate shapes: a clear error or a correct empty result, the same on every backend
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("weight_shape", [(4, 3, 0, 3), (4, 3, 3, 0)])
def test_zero_sized_kernel_is_rejected(weight_shape, backend):
    # torch refuses ("kernel size should be greater than zero"); an empty kernel
    # silently gives an output of bias values only, with a meaningless shape
    with pytest.raises(ValueError, match="weight"):
        conv2d(X, np.zeros(weight_shape), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_zero_filters_is_rejected(backend):
    # torch refuses; the im2col backend crashed in a reshape, the naive one returned (N, 0, OH, OW)
    with pytest.raises(ValueError, match="weight"):
        conv2d(X, np.zeros((0, 3, 3, 3)), backend=backend)


@pytest.mark.parametrize("backend", BACKENDS)
def test_empty_batch(backend):
    # torch returns empty outputs of the right shape for N = 0
    x = np.zeros((0, 3, 6, 6))
    assert conv2d(x, W, backend=backend).shape == (0, 4, 4, 4)
    dx, dw, db = conv2d_backward(np.zeros((0, 4, 4, 4)), x, W, backend=backend)
    assert dx.shape == x.shape and np.array_equal(dw, np.zeros(W.shape)) and np.array_equal(db, np.zeros(4))
    assert max_pool2d(x, 2, backend=backend).shape == (0, 3, 3, 3)
    assert avg_pool2d(x, 2, backend=backend).shape == (0, 3, 3, 3)
    assert max_pool2d_backward(np.zeros((0, 3, 3, 3)), x, 2, backend=backend).shape == x.shape
    assert avg_pool2d_backward(np.zeros((0, 3, 3, 3)), x, 2, backend=backend).shape == x.shape


# --------------------------------------------------------------------------
# Inputs are never modified
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_inputs_are_not_modified(backend):
    rng = np.random.default_rng(0)
    x, w, b = rng.standard_normal((2, 3, 6, 5)), rng.standard_normal((2, 3, 3, 2)), rng.standard_normal(2)
    dout = rng.standard_normal((2, 2, 3, 3))
    pdout = rng.standard_normal((2, 3, 4, 3))
    saved = [a.copy() for a in (x, w, b, dout, pdout)]
    conv2d(x, w, b, stride=(2, 2), padding=1, backend=backend)
    conv2d_backward(dout, x, w, stride=(2, 2), padding=1, backend=backend)
    for fwd, bwd in ((max_pool2d, max_pool2d_backward), (avg_pool2d, avg_pool2d_backward)):
        fwd(x, 2, 2, 1, backend=backend)
        bwd(pdout, x, 2, 2, 1, backend=backend)
    col = im2col(x, 2, backend=backend)
    col_saved = col.copy()
    col2im(col, x.shape, 2, backend=backend)
    assert np.array_equal(col, col_saved)
    for a, s in zip((x, w, b, dout, pdout), saved):
        assert np.array_equal(a, s)
