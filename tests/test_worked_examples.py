"""Every worked example of the seeds that the foundation layer computes, to the exact number.

The seeds' inputs are integers, so cnnlib computes in float64 and the sums
are exact: these tests compare with ``==``, not with a tolerance.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib.functional import conv1d, conv2d, conv2d_backward, convolve2d, correlate2d, max_pool2d
from cnnlib.im2col import im2col
from cnnlib.shapes import conv2d_params, conv_output_size, kernel_size_for, same_padding
from helpers import BACKENDS

# seed 002: the 7x7 input and 3x3 filter of the stride example
IMAGE_7X7 = np.array([
    [1, 2, 3, 0, 1, 2, 3],
    [0, 1, 2, 3, 0, 1, 2],
    [3, 0, 1, 2, 3, 0, 1],
    [2, 3, 0, 1, 2, 3, 0],
    [1, 2, 3, 0, 1, 2, 3],
    [0, 1, 2, 3, 0, 1, 2],
    [3, 0, 1, 2, 3, 0, 1],
])
FILTER_3X3 = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]])
# seed 002: the 4x4 input of the padding example
IMAGE_4X4 = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]])


def _nchw(a):
    return np.asarray(a)[None, None]


# --------------------------------------------------------------------------
# Seed 000: the 2x2 kernel on a 2x3 input
# --------------------------------------------------------------------------


def test_seed_000_correlate2d_gives_19_and_25():
    out = correlate2d([[0, 1, 2], [3, 4, 5]], [[0, 1], [2, 3]])
    assert out.dtype == np.float64
    assert out.tolist() == [[19.0, 25.0]]  # 0*0 + 1*1 + 2*3 + 3*4 = 19; 0*1 + 1*2 + 2*4 + 3*5 = 25


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_000_conv2d_gives_19_and_25(backend):
    out = conv2d(_nchw([[0, 1, 2], [3, 4, 5]]), _nchw([[0, 1], [2, 3]]), backend=backend)
    assert out.shape == (1, 1, 1, 2)
    assert out[0, 0].tolist() == [[19.0, 25.0]]


def test_seed_000_true_convolution_rotates_the_kernel():
    # convolution with the kernel rotated by pi is the seed's correlation
    assert convolve2d([[0, 1, 2], [3, 4, 5]], [[3, 2], [1, 0]]).tolist() == [[19.0, 25.0]]
    # ... and the unrotated kernel gives different numbers: 0*3 + 1*2 + 3*1 + 4*0 = 5, then 11
    assert convolve2d([[0, 1, 2], [3, 4, 5]], [[0, 1], [2, 3]]).tolist() == [[5.0, 11.0]]


def test_seed_000_28x28_with_3x3_gives_26x26():
    assert conv_output_size(28, 3) == 26
    assert conv2d(np.zeros((1, 1, 28, 28)), np.zeros((1, 1, 3, 3))).shape == (1, 1, 26, 26)


def test_seed_000_1d_formulas():
    # o_i = sum_j w_j x_{i+j-1}: o_1 = x1 w1 + x2 w2 + x3 w3, o_2 = x2 w1 + x3 w2 + x4 w3, ...
    x = np.array([2, 7, 1, 8, 2])
    w = np.array([3, 1, 4])
    o = conv1d(x[None, None], w[None, None])[0, 0]
    assert o.tolist() == [2 * 3 + 7 * 1 + 1 * 4, 7 * 3 + 1 * 1 + 8 * 4, 1 * 3 + 8 * 1 + 2 * 4]
    # dL/dw_i = sum_j delta_j x_{i+j-1}: dL/dw_1 = delta_1 x_1 + delta_2 x_2 + delta_3 x_3
    delta = np.array([5, -1, 2])
    _, dw, db = conv2d_backward(delta[None, None, None], x[None, None, None], w[None, None, None])
    assert dw[0, 0, 0].tolist() == [5 * 2 - 1 * 7 + 2 * 1, 5 * 7 - 1 * 1 + 2 * 8, 5 * 1 - 1 * 8 + 2 * 2]
    assert db.tolist() == [5 - 1 + 2]  # the bias gradient is the sum of the deltas


# --------------------------------------------------------------------------
# Seed 002: FMA = 15, stride 2, padding 1, im2col, max pooling
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_002_nine_term_fma_is_15(backend):
    # 1*2 + 2*0 + 3*1 + 0*0 + 1*1 + 2*2 + 3*1 + 0*0 + 1*2 = 15
    assert int(np.sum(IMAGE_7X7[:3, :3] * FILTER_3X3)) == 15
    out = conv2d(_nchw(IMAGE_7X7), _nchw(FILTER_3X3), backend=backend)
    assert out.shape == (1, 1, 5, 5)
    assert out[0, 0, 0, 0] == 15.0


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_002_stride_2_on_7x7_gives_3x3_starting_15_17(backend):
    assert conv_output_size(7, 3, stride=2) == 3
    out = conv2d(_nchw(IMAGE_7X7), _nchw(FILTER_3X3), stride=2, backend=backend)
    assert out.shape == (1, 1, 3, 3)
    assert out[0, 0, 0, :2].tolist() == [15.0, 17.0]
    # the stride-2 output is every other stride-1 output
    assert np.array_equal(out, conv2d(_nchw(IMAGE_7X7), _nchw(FILTER_3X3), backend=backend)[:, :, ::2, ::2])


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_002_padding_1_on_4x4(backend):
    assert conv_output_size(4, 3, stride=1, padding=1) == 4  # (4 + 2*1 - 3)/1 + 1
    out = conv2d(_nchw(IMAGE_4X4), _nchw(FILTER_3X3), padding=1, backend=backend)
    assert out.dtype == np.float64
    assert out[0, 0].tolist() == [[7, 12, 10, 2], [4, 15, 16, 10], [10, 6, 15, 6], [8, 10, 4, 3]]
    # padding="same" is padding 1 for a 3x3 kernel
    assert np.array_equal(conv2d(_nchw(IMAGE_4X4), _nchw(FILTER_3X3), padding="same", backend=backend), out)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_002_im2col_shapes(backend):
    rng = np.random.default_rng(0)
    assert im2col(rng.random((1, 3, 7, 7)), 5, stride=1, padding=0, backend=backend).shape == (9, 75)
    assert im2col(rng.random((10, 3, 7, 7)), 5, stride=1, padding=0, backend=backend).shape == (90, 75)


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_002_max_pool(backend):
    x = _nchw([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]])
    out = max_pool2d(x, 2, stride=2, backend=backend)
    assert out[0, 0].tolist() == [[2, 3], [4, 2]]


def test_seed_002_batched_shapes():
    # (N, C, H, W) * (FN, C, FH, FW) -> (N, FN, OH, OW), plus a bias of FN values
    x = np.zeros((10, 3, 7, 7))
    w = np.zeros((6, 3, 5, 5))
    assert conv2d(x, w, np.arange(6)).shape == (10, 6, 3, 3)
    assert np.array_equal(conv2d(x, w, np.arange(6))[:, :, 1, 2], np.tile(np.arange(6.0), (10, 1)))


# --------------------------------------------------------------------------
# Seed 001: output and kernel sizes, padding, parameter count
# --------------------------------------------------------------------------


def test_seed_001_32x32_with_5x5_stride_3_gives_10x10():
    assert conv_output_size(32, 5, stride=3) == 10  # (32 - 5)/3 + 1
    assert conv2d(np.zeros((1, 3, 32, 32)), np.zeros((1, 3, 5, 5)), stride=3).shape == (1, 1, 10, 10)


def test_seed_001_kernel_size_inverse_formula():
    assert kernel_size_for(28, 26) == 3  # K = H - O + 1
    assert kernel_size_for(32, 28) == 5
    assert kernel_size_for(32, 10, stride=3) == 5  # K = H - S (O - 1)
    assert kernel_size_for(7, 3, stride=2) == 3
    assert kernel_size_for(4, 4, padding=1) == 3


def test_seed_001_same_padding():
    assert same_padding(3) == 1
    assert same_padding(5) == 2


def test_seed_001_75_weights():
    assert conv2d_params(3, 1, 5, bias=False) == 75  # 5 * 5 * 3


# --------------------------------------------------------------------------
# Seed 004: channels and parameter counts
# --------------------------------------------------------------------------


def test_seed_004_5x5x3_kernels_on_32x32x3():
    x = np.zeros((1, 3, 32, 32))
    assert conv2d(x, np.zeros((1, 3, 5, 5))).shape == (1, 1, 28, 28)  # one kernel: 28x28x1
    assert conv2d(x, np.zeros((4, 3, 5, 5))).shape == (1, 4, 28, 28)  # four kernels: 28x28x4


def test_seed_004_parameter_counts():
    assert conv2d_params(128, 64, 3, bias=False) == 73_728  # 3*3*128*64
    assert conv2d_params(128, 64, 3) == 73_728 + 64
    # AlexNet, per GPU half as in the seed: 11*11*3*48*2, 5*5*48*128, 3*3*128*2*192*2, 3*3*192*192*2
    assert conv2d_params(3, 96, 11, bias=False) == 11 * 11 * 3 * 48 * 2 == 34_848
    assert conv2d_params(48, 128, 5, bias=False) == 5 * 5 * 48 * 128 == 153_600
    assert conv2d_params(256, 384, 3, bias=False) == 3 * 3 * 128 * 2 * 192 * 2 == 884_736
    assert 2 * conv2d_params(192, 192, 3, bias=False) == 3 * 3 * 192 * 192 * 2 == 663_552
    # same layer, 40x50 input with padding 1: the size is kept, the count does not depend on it
    assert conv2d(np.zeros((1, 128, 50, 40), np.float32), np.zeros((64, 128, 3, 3), np.float32), padding=1).shape == (1, 64, 50, 40)
