"""im2col and col2im: seed 002's shapes, the row/column order, the adjoint identity.

im2col only copies numbers, so it must agree *exactly* with an explicit
construction and with torch's ``unfold``; col2im only adds, so it agrees
with torch's ``fold`` to rounding (``helpers.TOL``), and the adjoint identity
``<im2col(x), c> == <x, col2im(c)>`` holds in float64 to ~1e-12 relative.
"""

from __future__ import annotations

import itertools

import numpy as np
import pytest
import torch
from hypothesis import given

from cnnlib.im2col import col2im, im2col
from helpers import BACKENDS, FAST, ConvCase, assert_close, conv_cases, t


def _explicit_im2col(x, case: ConvCase) -> np.ndarray:
    """Row (n*OH + oh)*OW + ow, column (c*KH + i)*KW + j, one element at a time."""
    (sh, sw), (ph, pw), (dh, dw) = case.stride, case.padding, case.dilation
    oh_, ow_ = case.out_hw
    xp = np.pad(x, [(0, 0), (0, 0), (ph, ph), (pw, pw)])
    col = np.full((case.n * oh_ * ow_, case.c * case.kh * case.kw), np.nan)
    for n, oh, ow, c, i, j in itertools.product(range(case.n), range(oh_), range(ow_), range(case.c), range(case.kh), range(case.kw)):
        col[(n * oh_ + oh) * ow_ + ow, (c * case.kh + i) * case.kw + j] = xp[n, c, oh * sh + i * dh, ow * sw + j * dw]
    return col


def _torch_unfold(x, case: ConvCase) -> np.ndarray:
    u = torch.nn.functional.unfold(t(x), (case.kh, case.kw), dilation=case.dilation, padding=case.padding, stride=case.stride)
    return u.transpose(1, 2).reshape(-1, u.shape[1]).numpy()  # (N, C*KH*KW, L) -> (N*L, C*KH*KW)


def _torch_fold(col, case: ConvCase) -> np.ndarray:
    oh, ow = case.out_hw
    cols = t(col).reshape(case.n, oh * ow, -1).transpose(1, 2)
    return torch.nn.functional.fold(cols, (case.h, case.w), (case.kh, case.kw), dilation=case.dilation,
                                    padding=case.padding, stride=case.stride).numpy()


# --------------------------------------------------------------------------
# Seed 002
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_seed_002_shapes(backend):
    rng = np.random.default_rng(0)
    x1 = rng.random((1, 3, 7, 7))
    assert im2col(x1, 5, stride=1, padding=0, backend=backend).shape == (9, 75)
    x2 = rng.random((10, 3, 7, 7))
    assert im2col(x2, 5, stride=1, padding=0, backend=backend).shape == (90, 75)
    assert im2col(x2, (5, 5), backend=backend).shape == (90, 75)


@pytest.mark.parametrize("backend", BACKENDS)
def test_order_on_a_small_example(backend):
    # pixel values encode their own (c, h, w), so each entry says where it came from
    x = (100 * np.arange(2)[:, None, None] + 10 * np.arange(3)[None, :, None] + np.arange(4)[None, None, :])[None]
    col = im2col(x, 2, backend=backend)  # (1, 2, 3, 4), 2x2 kernel -> OH, OW = 2, 3
    assert col.shape == (6, 8)
    # row 0: the patch under output (0, 0), channel 0 then channel 1, each in (kh, kw) order
    assert col[0].tolist() == [0, 1, 10, 11, 100, 101, 110, 111]
    # row 1 is output (0, 1): one step right
    assert col[1].tolist() == [1, 2, 11, 12, 101, 102, 111, 112]
    # row 3 is output (1, 0): one step down (OW = 3 rows per output row)
    assert col[3].tolist() == [10, 11, 20, 21, 110, 111, 120, 121]


@pytest.mark.parametrize("backend", BACKENDS)
@FAST
@given(case=conv_cases(max_n=3))
def test_im2col_matches_explicit_construction_and_torch_unfold(case, backend):
    x, _, _, _ = case.arrays(np.float64)
    col = im2col(x, (case.kh, case.kw), backend=backend, **case.kwargs())
    expected = _explicit_im2col(x, case)
    assert col.shape == expected.shape
    assert np.array_equal(col, expected)  # a copy of numbers: exact
    assert np.array_equal(col, _torch_unfold(x, case))


@pytest.mark.parametrize("backend", BACKENDS)
@FAST
@given(case=conv_cases(max_n=3))
def test_col2im_matches_torch_fold(case, backend):
    _, _, _, _ = case.arrays()
    oh, ow = case.out_hw
    col = np.random.default_rng(case.seed).standard_normal((case.n * oh * ow, case.c * case.kh * case.kw))
    img = col2im(col, case.x_shape, (case.kh, case.kw), backend=backend, **case.kwargs())
    assert_close(img, _torch_fold(col, case), np.float64, "col2im")


@pytest.mark.parametrize("backend", BACKENDS)
@FAST
@given(case=conv_cases(max_n=3))
def test_col2im_is_the_adjoint_of_im2col(case, backend):
    rng = np.random.default_rng(case.seed)
    x = rng.standard_normal(case.x_shape)
    oh, ow = case.out_hw
    c = rng.standard_normal((case.n * oh * ow, case.c * case.kh * case.kw))
    k = (case.kh, case.kw)
    ax = im2col(x, k, backend=backend, **case.kwargs())
    atc = col2im(c, case.x_shape, k, backend=backend, **case.kwargs())
    lhs, rhs = float(np.sum(ax * c)), float(np.sum(x * atc))
    scale = np.sum(np.abs(ax * c)) + 1e-300  # size of the terms summed: sets the rounding error
    assert abs(lhs - rhs) <= 1e-12 * scale, (lhs, rhs)


@pytest.mark.parametrize("backend", BACKENDS)
@FAST
@given(case=conv_cases(max_n=2))
def test_col2im_of_im2col_counts_the_patches_holding_each_pixel(case, backend):
    k = (case.kh, case.kw)
    counts = col2im(im2col(np.ones(case.x_shape), k, backend=backend, **case.kwargs()), case.x_shape, k,
                    backend=backend, **case.kwargs())
    # brute force: mark every input pixel of every window
    (sh, sw), (ph, pw), (dh, dw) = case.stride, case.padding, case.dilation
    oh_, ow_ = case.out_hw
    expected = np.zeros((case.h + 2 * ph, case.w + 2 * pw))
    for oh, ow, i, j in itertools.product(range(oh_), range(ow_), range(case.kh), range(case.kw)):
        expected[oh * sh + i * dh, ow * sw + j * dw] += 1
    expected = expected[ph : ph + case.h, pw : pw + case.w]
    assert np.array_equal(counts, np.broadcast_to(expected, case.x_shape))


# --------------------------------------------------------------------------
# dtypes, layout, errors
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_dtypes_and_non_contiguous_input(backend):
    rng = np.random.default_rng(4)
    base = rng.standard_normal((2, 3, 6, 5)).astype(np.float32)
    x = base.transpose(0, 1, 3, 2)  # (2, 3, 5, 6), a view
    col = im2col(x, (2, 3), stride=(1, 2), padding=1, backend=backend)
    assert col.dtype == np.float32
    assert np.array_equal(col, im2col(x.copy(), (2, 3), stride=(1, 2), padding=1, backend=backend))
    case = ConvCase(2, 3, 1, 5, 6, 2, 3, stride=(1, 2), padding=(1, 1))
    assert np.array_equal(col, _torch_unfold(x, case))
    back = col2im(col.T.copy().T, x.shape, (2, 3), stride=(1, 2), padding=1, backend=backend)
    assert back.dtype == np.float32 and back.shape == x.shape
    assert im2col(x.astype(np.float64), 2, backend=backend).dtype == np.float64
    ints = im2col(np.arange(16).reshape(1, 1, 4, 4), 2, backend=backend)
    assert ints.dtype == np.float64 and ints[0].tolist() == [0, 1, 4, 5]


@pytest.mark.parametrize("backend", BACKENDS)
def test_errors(backend):
    x = np.zeros((1, 2, 5, 5))
    with pytest.raises(ValueError, match="x must be 4-D"):
        im2col(x[0], 3, backend=backend)
    with pytest.raises(ValueError, match="larger than the padded input"):
        im2col(x, 6, backend=backend)
    with pytest.raises(ValueError, match="im2col takes padding as an int or a pair"):
        im2col(x, 3, padding="same", backend=backend)
    with pytest.raises(ValueError, match="col has shape"):
        col2im(np.zeros((9, 17)), x.shape, 3, backend=backend)
    with pytest.raises(ValueError, match=r"x_shape must be \(N, C, H, W\)"):
        col2im(np.zeros((9, 18)), (2, 5, 5), 3, backend=backend)
    with pytest.raises(ValueError, match=r"needs \(N\*OH\*OW, C\*KH\*KW\) = \(9, 18\)"):
        col2im(np.zeros((18, 9)), x.shape, 3, backend=backend)
