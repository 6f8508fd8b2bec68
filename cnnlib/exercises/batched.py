"""Exercises on batched, multi-channel convolution (chapters 3, 4 and 7).

Inputs are (N, C, H, W); filters (F, C, KH, KW). References come from
:mod:`cnnlib.functional` with the deterministic ``im2col`` backend.
"""

from __future__ import annotations

import numpy as np

from ..functional import conv2d as _conv2d
from ..functional import conv2d_backward as _conv2d_backward
from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._kinds import ArrayKind

__all__ = ["PAD2D", "CONV2D_FORWARD", "CONV2D_BACKWARD"]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _pad(x, top, bottom, left, right):
    return np.pad(_f64(x), [(0, 0), (0, 0), (top, bottom), (left, right)])


# --- chapter 3: zero padding --------------------------------------------------

def _pad2d_cases():
    rng = np.random.default_rng(303)
    return [
        Case("x of shape (1, 1, 3, 3) (integers), padding=1", (np.arange(1, 10).reshape(1, 1, 3, 3), 1)),
        Case("x of shape (2, 3, 4, 5), padding=2", (rng.standard_normal((2, 3, 4, 5)), 2)),
        Case("x of shape (2, 2, 3, 4), padding=0", (rng.standard_normal((2, 2, 3, 4)), 0)),
        Case("x of shape (1, 2, 2, 3), padding=3 (more padding than image)", (rng.standard_normal((1, 2, 2, 3)), 3)),
        Case("x of shape (3, 1, 5, 2), float32, padding=1",
             (rng.integers(-5, 6, (3, 1, 5, 2)).astype(np.float32), 1)),
    ]


PAD2D = Exercise(
    name="pad2d", chapter=3,
    summary="zero padding of a batch of images",
    signature="pad2d(x, padding) -> xpad  (x: (N, C, H, W), xpad: (N, C, H+2P, W+2P))",
    reference=lambda x, p: _pad(x, p, p, p, p), make_cases=_pad2d_cases,
    mistakes=(
        Mistake("all-axes", "you padded the batch and channel axes too: pad only H and W, "
                "np.pad(x, [(0, 0), (0, 0), (P, P), (P, P)])", lambda x, p: np.pad(_f64(x), p)),
        Mistake("one-side", "you added zeros on one side only (top and left): padding P puts P zeros on every side",
                lambda x, p: _pad(x, p, 0, p, 0)),
        Mistake("one-side-end", "you added zeros on one side only (bottom and right): padding P puts P zeros on "
                "every side", lambda x, p: _pad(x, 0, p, 0, p)),
        Mistake("all-on-one-side", "the shape is right but all 2P zeros are on one side (top and left): put P on "
                "each side, so the image stays centred", lambda x, p: _pad(x, 2 * p, 0, 2 * p, 0)),
        Mistake("all-on-other-side", "the shape is right but all 2P zeros are on one side (bottom and right): put P "
                "on each side, so the image stays centred", lambda x, p: _pad(x, 0, 2 * p, 0, 2 * p)),
        Mistake("height-only", "you padded the height only: pad the width too", lambda x, p: _pad(x, p, p, 0, 0)),
        Mistake("edge-values", "pad with zeros, not by repeating the border pixels (mode 'edge')",
                lambda x, p: np.pad(_f64(x), [(0, 0), (0, 0), (p, p), (p, p)], mode="edge")),
    ),
    outputs=ArrayKind("(N, C, H+2P, W+2P)"),
    forbid=NO_LIBRARY_HELP,
)


# --- chapter 4: the forward pass of a convolution layer -----------------------

def _conv_cases(seed: int, with_dout: bool = False) -> list[Case]:
    rng = np.random.default_rng(seed)
    geometries = [  # x shape, w shape, stride, padding
        ((1, 1, 4, 4), (1, 1, 3, 3), 1, 1, "int64"),
        ((2, 3, 7, 5), (4, 3, 3, 3), 1, 0, "float64"),
        ((2, 3, 7, 5), (4, 3, 3, 3), 2, 1, "float64"),
        ((2, 2, 6, 8), (3, 2, 3, 2), 1, 1, "float64"),
        ((1, 3, 5, 6), (2, 3, 1, 1), 1, 0, "float64"),
        ((2, 1, 8, 7), (2, 1, 3, 3), 3, 0, "float64"),
        ((3, 2, 4, 3), (5, 2, 4, 3), 1, 0, "float64"),
        ((2, 3, 6, 5), (2, 3, 3, 3), 2, 2, "float32"),
    ]
    cases = []
    for xs, ws, stride, padding, dtype in geometries:
        if dtype == "float64":
            x, w, b = rng.standard_normal(xs), rng.standard_normal(ws), rng.standard_normal(ws[0])
        else:  # small integers: exact in float32 and in int arithmetic
            kind = np.float32 if dtype == "float32" else np.int64
            x, w, b = (rng.integers(-4, 5, s).astype(kind) for s in (xs, ws, (ws[0],)))
        label = f"x {xs}, w {ws}, stride {stride}, padding {padding}, {dtype}"
        if with_dout:
            oh, ow = (np.array(xs[2:]) + 2 * padding - np.array(ws[2:])) // stride + 1
            dout = rng.standard_normal((xs[0], ws[0], oh, ow))
            if dtype != "float64":
                dout = rng.integers(-4, 5, dout.shape).astype(np.float32)
            cases.append(Case(label, (dout, x, w, stride, padding)))
        else:
            cases.append(Case(label, (x, w, b, stride, padding)))
    return cases


def _forward(x, w, b, stride, padding):
    return _conv2d(_f64(x), _f64(w), _f64(b), stride=stride, padding=padding, backend="im2col")


def _one_sided(x, w, b, stride, padding, before: int, after: int):
    return _forward(_pad(x, before, after, before, after), w, b, stride, 0)


def _stride_not_in_index(x, w, b, stride, padding):
    oh, ow = _forward(x, w, b, stride, padding).shape[2:]
    return _forward(x, w, b, 1, padding)[:, :, :oh, :ow]


CONV2D_FORWARD = Exercise(
    name="conv2d_forward", chapter=4,
    summary="forward pass of a convolution layer on a batch",
    signature="conv2d_forward(x, w, b, stride, padding) -> out  (x: (N, C, H, W), w: (F, C, KH, KW), b: (F,), "
              "out: (N, F, OH, OW))",
    reference=_forward, make_cases=lambda: _conv_cases(404),
    mistakes=(
        Mistake("flipped-kernel", "your output equals the correct one with the kernel rotated by 180 degrees: you "
                "computed a true convolution; deep-learning 'convolution' is cross-correlation (no flipping)",
                lambda x, w, b, s, p: _forward(x, _f64(w)[:, :, ::-1, ::-1], b, s, p)),
        Mistake("no-bias", "you forgot the bias: add b[f] to every output of filter f",
                lambda x, w, b, s, p: _forward(x, w, np.zeros(np.shape(w)[0]), s, p)),
        Mistake("stride-ignored", "stride ignored: the window moves S pixels at a time (output pixel (i, j) reads "
                "the patch at (i*S, j*S)), which gives floor((H + 2P - KH) / S) + 1 rows",
                lambda x, w, b, s, p: _forward(x, w, b, 1, p)),
        Mistake("stride-not-in-index", "you computed the right number of outputs but read the patch of output (i, j) "
                "at (i, j); with stride S it starts at (i*S, j*S)", _stride_not_in_index),
        Mistake("padding-ignored", "padding ignored: pad P zeros on every side of H and W before sliding the kernel",
                lambda x, w, b, s, p: _forward(x, w, b, s, 0)),
        Mistake("one-sided-padding", "padding applied to one side: P zeros go on the top AND the bottom, the left "
                "AND the right", lambda x, w, b, s, p: _one_sided(x, w, b, s, p, p, 0)),
        Mistake("one-sided-padding-end", "padding applied to one side: P zeros go on the top AND the bottom, the left "
                "AND the right", lambda x, w, b, s, p: _one_sided(x, w, b, s, p, 0, p)),
        Mistake("all-padding-one-side", "all 2P zeros of padding are on one side (top and left): put P on each side",
                lambda x, w, b, s, p: _one_sided(x, w, b, s, p, 2 * p, 0)),
        Mistake("transposed-output", "your output is transposed: the last two axes must be (OH, OW), rows first",
                lambda x, w, b, s, p: _forward(x, w, b, s, p).transpose(0, 1, 3, 2)),
        Mistake("channels-last", "your output is (N, OH, OW, F); cnnlib and torch put the filters on axis 1: "
                "(N, F, OH, OW)", lambda x, w, b, s, p: _forward(x, w, b, s, p).transpose(0, 2, 3, 1)),
        Mistake("transposed-kernel", "you used each kernel transposed: pair w[f, c, p, q] with x[n, c, i*S + p, "
                "j*S + q] (p down the rows, q along the columns)",
                lambda x, w, b, s, p: _forward(x, _f64(w).transpose(0, 1, 3, 2), b, s, p)),
    ),
    outputs=ArrayKind("(N, F, OH, OW)"),
    forbid=NO_LIBRARY_HELP,
)


# --- chapter 7: the backward pass of a convolution layer ----------------------

def _backward(dout, x, w, stride, padding):
    return _conv2d_backward(_f64(dout), _f64(x), _f64(w), stride=stride, padding=padding, backend="im2col")


def _replace(result, index, value):
    parts = list(result)
    parts[index] = value
    return tuple(parts)


def _dx_padded(dout, x, w, s, p):
    dx, dw, db = _backward(dout, x, w, s, p)
    return _replace((dx, dw, db), 0, _backward(dout, _pad(x, p, p, p, p), w, s, 0)[0])


CONV2D_BACKWARD = Exercise(
    name="conv2d_backward", chapter=7,
    summary="backward pass of a convolution layer: dx, dw, db",
    signature="conv2d_backward(dout, x, w, stride, padding) -> (dx, dw, db)",
    reference=_backward, make_cases=lambda: _conv_cases(707, with_dout=True),
    mistakes=(
        Mistake("db-not-summed-over-batch", "bias gradient not summed over the batch: db[f] is the sum of dout[n, f, "
                "i, j] over n, i and j; db has shape (F,)",
                lambda d, x, w, s, p: _replace(_backward(d, x, w, s, p), 2, _f64(d).sum(axis=(2, 3)))),
        Mistake("db-not-summed-over-space", "bias gradient not summed over the output positions: db[f] is the sum of "
                "dout[n, f, i, j] over n, i and j; db has shape (F,)",
                lambda d, x, w, s, p: _replace(_backward(d, x, w, s, p), 2, _f64(d).sum(axis=0))),
        Mistake("db-mean", "the bias gradient is the sum of the deltas, not their mean",
                lambda d, x, w, s, p: _replace(_backward(d, x, w, s, p), 2, _f64(d).mean(axis=(0, 2, 3)))),
        Mistake("dw-rotated", "your dw is rotated by 180 degrees: dw[f, c, p, q] = sum over n, i, j of "
                "dout[n, f, i, j] * xpad[n, c, i*S + p, j*S + q] (a cross-correlation, nothing flipped)",
                lambda d, x, w, s, p: _replace(_backward(d, x, w, s, p), 1, _backward(d, x, w, s, p)[1][:, :, ::-1, ::-1])),
        Mistake("dw-averaged", "do not divide dw by the batch size: the 1/N of a mean loss is already inside dout",
                lambda d, x, w, s, p: _replace(_backward(d, x, w, s, p), 1, _backward(d, x, w, s, p)[1] / np.shape(x)[0])),
        Mistake("dx-kernel-not-rotated", "dx is the 'full' convolution of dout with the kernel rotated by 180 "
                "degrees; you slid the kernel without rotating it",
                lambda d, x, w, s, p: _replace(_backward(d, x, w, s, p), 0,
                                               _backward(d, x, _f64(w)[:, :, ::-1, ::-1], s, p)[0])),
        Mistake("dx-padding-kept", "dx still contains the padding: crop it, dxpad[:, :, P:P + H, P:P + W], so that dx "
                "has the shape of x", _dx_padded),
    ),
    outputs=(("dx", ArrayKind("(N, C, H, W)")), ("dw", ArrayKind("(F, C, KH, KW)")), ("db", ArrayKind("(F,)"))),
    forbid=NO_LIBRARY_HELP,
)
