"""Exercises on im2col and col2im (chapter 5), in the layout of chapter 5.

``im2col(x, filter_h, filter_w, stride=1, pad=0)`` returns one row per
output pixel, ordered (n, oh, ow), and one column per input value of the
patch, ordered (c, kh, kw). ``col2im`` folds rows back, adding overlaps.
"""

from __future__ import annotations

import numpy as np

from ..im2col import col2im as _col2im
from ..im2col import im2col as _im2col
from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._kinds import ArrayKind

__all__ = ["IM2COL", "COL2IM"]

_GEOMETRIES = [  # x shape, filter_h, filter_w, stride, pad
    ((1, 3, 7, 7), 5, 5, 1, 0),
    ((10, 3, 7, 7), 5, 5, 1, 0),
    ((2, 2, 5, 4), 3, 2, 1, 0),
    ((2, 3, 6, 6), 3, 3, 2, 1),
    ((1, 2, 4, 5), 2, 2, 1, 1),
    ((2, 1, 7, 7), 3, 3, 3, 0),
    ((2, 3, 5, 5), 3, 3, 1, 1),
]


def _kwargs(stride: int, pad: int) -> dict:
    # defaults are left out, so a function without them fails on the first case that needs them
    return {k: v for k, v in (("stride", stride), ("pad", pad)) if v != (1 if k == "stride" else 0)}


def _label(shape, fh, fw, stride, pad, dtype):
    return f"x {shape}, filter {fh}x{fw}, stride {stride}, pad {pad}, {dtype}"


def _out_hw(shape, fh, fw, stride, pad):
    return (shape[2] + 2 * pad - fh) // stride + 1, (shape[3] + 2 * pad - fw) // stride + 1


# --- im2col -------------------------------------------------------------------

def _im2col_cases():
    rng = np.random.default_rng(505)
    cases = []
    for i, (shape, fh, fw, stride, pad) in enumerate(_GEOMETRIES):
        last = i == len(_GEOMETRIES) - 1
        x = rng.integers(-5, 6, shape).astype(np.float32) if last else rng.standard_normal(shape)
        cases.append(Case(_label(shape, fh, fw, stride, pad, "float32" if last else "float64"),
                          (x, fh, fw), _kwargs(stride, pad)))
    return cases


def _ref_im2col(x, filter_h, filter_w, stride=1, pad=0):
    return _im2col(np.asarray(x, dtype=np.float64), (filter_h, filter_w), stride, pad, backend="im2col")


def _reordered(x, fh, fw, stride, pad, order):
    """im2col with the 6-D array (N, OH, OW, C, FH, FW) laid out in another order."""
    n, c = np.shape(x)[:2]
    oh, ow = _out_hw(np.shape(x), fh, fw, stride, pad)
    col6 = _ref_im2col(x, fh, fw, stride, pad).reshape(n, oh, ow, c, fh, fw).transpose(order)
    rows = col6.shape[0] * col6.shape[1] * col6.shape[2]
    return col6.reshape(rows, -1)


def _one_side(x, fh, fw, stride=1, pad=0):
    xp = np.pad(np.asarray(x, dtype=np.float64), [(0, 0), (0, 0), (2 * pad, 0), (2 * pad, 0)])
    return _ref_im2col(xp, fh, fw, stride, 0)


IM2COL = Exercise(
    name="im2col", chapter=5,
    summary="unroll every patch into a row (rows per patch, columns (C, FH, FW))",
    signature="im2col(x, filter_h, filter_w, stride=1, pad=0) -> col  (col: (N*OH*OW, C*FH*FW))",
    reference=_ref_im2col, make_cases=_im2col_cases,
    mistakes=(
        Mistake("columns-fh-fw-c", "your columns are in (FH, FW, C) order; the layout of chapter 5 is (C, FH, FW): "
                "build col as (N, C, FH, FW, OH, OW), then transpose(0, 4, 5, 1, 2, 3)",
                lambda x, fh, fw, stride=1, pad=0: _reordered(x, fh, fw, stride, pad, (0, 1, 2, 4, 5, 3))),
        Mistake("rows-ow-oh", "your rows are in (N, OW, OH) order: the row of output pixel (oh, ow) of image n is "
                "n*OH*OW + oh*OW + ow (row-major, like reading a page)",
                lambda x, fh, fw, stride=1, pad=0: _reordered(x, fh, fw, stride, pad, (0, 2, 1, 3, 4, 5))),
        Mistake("rows-batch-last", "your rows are ordered (OH, OW, N); put the image index first: (N, OH, OW)",
                lambda x, fh, fw, stride=1, pad=0: _reordered(x, fh, fw, stride, pad, (1, 2, 0, 3, 4, 5))),
        Mistake("transposed", "your col is transposed: one ROW per output pixel (N*OH*OW rows) and one column per "
                "patch value (C*FH*FW columns)",
                lambda x, fh, fw, stride=1, pad=0: _ref_im2col(x, fh, fw, stride, pad).T),
        Mistake("stride-ignored", "stride ignored: take every S-th window, y:y_max:stride in the slices, with "
                "OH = (H + 2*pad - FH) // stride + 1",
                lambda x, fh, fw, stride=1, pad=0: _ref_im2col(x, fh, fw, 1, pad)),
        Mistake("pad-ignored", "pad ignored: np.pad the input with pad zeros on each side of H and W first",
                lambda x, fh, fw, stride=1, pad=0: _ref_im2col(x, fh, fw, stride, 0)),
        Mistake("pad-one-side", "all the padding is on one side (top and left): pad (pad, pad) on each axis",
                _one_side),
        Mistake("filter-swapped", "filter_h and filter_w are swapped: filter_h is the window's height (rows)",
                lambda x, fh, fw, stride=1, pad=0: _ref_im2col(x, fw, fh, stride, pad)),
    ),
    outputs=ArrayKind("(N*OH*OW, C*FH*FW)"),
    forbid=NO_LIBRARY_HELP,
)


# --- col2im -------------------------------------------------------------------

def _col2im_cases():
    rng = np.random.default_rng(506)
    cases = []
    for i, (shape, fh, fw, stride, pad) in enumerate(_GEOMETRIES[:1] + _GEOMETRIES[2:]):
        oh, ow = _out_hw(shape, fh, fw, stride, pad)
        col_shape = (shape[0] * oh * ow, shape[1] * fh * fw)
        last = i == len(_GEOMETRIES) - 2
        col = rng.integers(-5, 6, col_shape).astype(np.float32) if last else rng.standard_normal(col_shape)
        cases.append(Case(_label(shape, fh, fw, stride, pad, "float32" if last else "float64"),
                          (col, shape, fh, fw), _kwargs(stride, pad)))
    return cases


def _ref_col2im(col, x_shape, filter_h, filter_w, stride=1, pad=0):
    return _col2im(np.asarray(col, dtype=np.float64), tuple(x_shape), (filter_h, filter_w), stride, pad, backend="im2col")


def _overwrite(col, x_shape, fh, fw, stride=1, pad=0):
    """The col2im loop with '=' where '+=' belongs."""
    n, c, h, w = x_shape
    oh, ow = _out_hw(x_shape, fh, fw, stride, pad)
    col6 = np.asarray(col, dtype=np.float64).reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(fh):
        for x in range(fw):
            img[:, :, y:y + stride * oh:stride, x:x + stride * ow:stride] = col6[:, :, y, x]
    return img[:, :, pad:h + pad, pad:w + pad]


def _uncropped(col, x_shape, fh, fw, stride=1, pad=0):
    n, c, h, w = x_shape
    return _ref_col2im(col, (n, c, h + 2 * pad, w + 2 * pad), fh, fw, stride, 0)


def _averaged(col, x_shape, fh, fw, stride=1, pad=0):
    counts = _ref_col2im(np.ones(np.shape(col)), x_shape, fh, fw, stride, pad)
    return _ref_col2im(col, x_shape, fh, fw, stride, pad) / np.maximum(counts, 1)


COL2IM = Exercise(
    name="col2im", chapter=5,
    summary="fold rows back into images, adding overlaps (the adjoint of im2col)",
    signature="col2im(col, x_shape, filter_h, filter_w, stride=1, pad=0) -> x  (x: x_shape = (N, C, H, W))",
    reference=_ref_col2im, make_cases=_col2im_cases,
    mistakes=(
        Mistake("overwrite", "where patches overlap their values must add up (img[...] += ..., not =): col2im is "
                "the adjoint of im2col, which is what the backward pass needs", _overwrite),
        Mistake("averaged", "col2im adds the overlapping values; it does not average them (it is the adjoint of "
                "im2col, not its inverse)", _averaged),
        Mistake("not-cropped", "the padding is still there: return img[:, :, pad:H + pad, pad:W + pad], the shape "
                "of x", _uncropped),
        Mistake("cropped-wrong-side", "you cropped the wrong rows and columns: the image sits in the middle of the "
                "padded array, at img[:, :, pad:H + pad, pad:W + pad]",
                lambda col, s, fh, fw, stride=1, pad=0: _uncropped(col, s, fh, fw, stride, pad)[:, :, :s[2], :s[3]]),
        Mistake("columns-fh-fw-c", "you read the columns in (FH, FW, C) order; the layout of chapter 5 is (C, FH, FW): "
                "reshape to (N, OH, OW, C, FH, FW), then transpose(0, 3, 4, 5, 1, 2)",
                lambda col, s, fh, fw, stride=1, pad=0: _ref_col2im(
                    np.asarray(col).reshape(-1, fh, fw, s[1]).transpose(0, 3, 1, 2).reshape(np.shape(col)),
                    s, fh, fw, stride, pad)),
    ),
    outputs=ArrayKind("(N, C, H, W)"),
    forbid=NO_LIBRARY_HELP,
)
