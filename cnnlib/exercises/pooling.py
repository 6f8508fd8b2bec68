"""Exercises on max pooling, forward and backward (chapter 6).

Random float inputs have no ties, so "the" maximum of a window is well
defined; the float32 cases use a permutation of integers for the same reason.
"""

from __future__ import annotations

import numpy as np

from ..functional import avg_pool2d, avg_pool2d_backward, max_pool2d_backward
from ..functional import max_pool2d as _max_pool2d
from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._hidden import distinct_integers
from ._kinds import ArrayKind

__all__ = ["MAX_POOL2D", "MAX_POOL2D_BACKWARD"]

_EXAMPLE_4X4 = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], dtype=np.float64).reshape(1, 1, 4, 4)

_GEOMETRIES = [  # x shape, kernel_size, stride, what
    ((2, 3, 6, 4), 2, 2, "float64"),
    ((1, 2, 7, 7), 3, 2, "float64, overlapping windows"),
    ((2, 2, 5, 6), 2, 1, "float64, overlapping windows"),
    ((1, 1, 5, 5), 2, 2, "float64, the last row and column fall outside every window"),
    ((2, 2, 4, 6), 2, 2, "float64, all values negative"),
    ((1, 2, 3, 5), 3, 1, "float64, window as tall as the image"),
    ((2, 3, 6, 6), 3, 3, "float32"),
]


def _inputs(seed: int) -> list[tuple[np.ndarray, int, int, str]]:
    rng = np.random.default_rng(seed)
    out = []
    for shape, k, s, what in _GEOMETRIES:
        if what == "float32":
            x = rng.permutation(np.prod(shape)).reshape(shape).astype(np.float32) - 50
        elif "negative" in what:
            x = -1.0 - rng.random(shape)
        else:
            x = rng.standard_normal(shape)
        out.append((x, k, s, what))
    return out


def _f64(a):
    return np.asarray(a, dtype=np.float64)


# --- forward ------------------------------------------------------------------

def _pool(x, kernel_size, stride):
    return _max_pool2d(_f64(x), kernel_size, stride, backend="im2col")


def _forward_cases():
    cases = [Case("the 4x4 example of chapter 6, kernel_size 2, stride 2", (_EXAMPLE_4X4, 2, 2))]
    for x, k, s, what in _inputs(606):
        cases.append(Case(f"x {x.shape}, kernel_size {k}, stride {s}, {what}", (x, k, s)))
    return cases


MAX_POOL2D = Exercise(
    name="max_pool2d", chapter=6,
    summary="max pooling forward",
    signature="max_pool2d(x, kernel_size, stride) -> y  (x: (N, C, H, W), y: (N, C, OH, OW))",
    reference=_pool, make_cases=_forward_cases, make_hidden=distinct_integers(_forward_cases),
    mistakes=(
        Mistake("average", "you averaged each window: max pooling keeps the largest value",
                lambda x, k, s: avg_pool2d(_f64(x), k, s, backend="im2col")),
        Mistake("stride-ignored", "stride ignored: windows start every S pixels, so OH = (H - K) // S + 1",
                lambda x, k, s: _pool(x, k, 1)),
        Mistake("stride-not-in-index", "you computed the right number of outputs but read window (i, j) at (i, j); "
                "with stride S it starts at (i*S, j*S)",
                lambda x, k, s: _pool(x, k, 1)[:, :, :_pool(x, k, s).shape[2], :_pool(x, k, s).shape[3]]),
        Mistake("zero-start", "your maxima are never below 0: start the running maximum at -inf (or at the "
                "window's first value), not at 0", lambda x, k, s: np.maximum(_pool(x, k, s), 0)),
        Mistake("across-channels", "you took the maximum across the channels too: pooling works on each channel "
                "separately and keeps all C channels",
                lambda x, k, s: _pool(x, k, s).max(axis=1, keepdims=True)),
        Mistake("across-channels-squeezed", "you took the maximum across the channels too: pooling works on each "
                "channel separately, and the output is (N, C, OH, OW)", lambda x, k, s: _pool(x, k, s).max(axis=1)),
        Mistake("transposed-output", "your output is transposed: the last two axes must be (OH, OW), rows first",
                lambda x, k, s: _pool(x, k, s).transpose(0, 1, 3, 2)),
        Mistake("minimum", "you took the minimum of each window; max pooling keeps the largest value",
                lambda x, k, s: -_pool(-_f64(x), k, s)),
    ),
    outputs=ArrayKind("(N, C, OH, OW)"),
    forbid=NO_LIBRARY_HELP,
)


# --- backward -----------------------------------------------------------------

def _pool_back(dout, x, kernel_size, stride):
    return max_pool2d_backward(_f64(dout), _f64(x), kernel_size, stride, backend="im2col")


def _backward_cases():
    rng = np.random.default_rng(616)
    cases = [Case("the 4x4 example of chapter 6, kernel_size 2, stride 2", (np.arange(1.0, 5.0).reshape(1, 1, 2, 2), _EXAMPLE_4X4, 2, 2))]
    shared = rng.standard_normal((1, 1, 5, 5))
    shared[0, 0, 2, 2] = 10.0  # the maximum of all four overlapping windows
    inputs = _inputs(617)
    inputs.insert(2, (shared, 3, 2, "float64, one pixel is the maximum of four windows"))
    for x, k, s, what in inputs:
        oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
        dout = rng.standard_normal((*x.shape[:2], oh, ow))
        if what == "float32":
            dout = rng.integers(-5, 6, dout.shape).astype(np.float32)
        cases.append(Case(f"x {x.shape}, kernel_size {k}, stride {s}, {what}", (dout, x, k, s)))
    return cases


def _overwritten(dout, x, k, s):
    """Route each window's gradient to its maximum with '=' where '+=' belongs."""
    dout, x = _f64(dout), _f64(x)
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[n, c, i * s:i * s + k, j * s:j * s + k]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i * s + p, j * s + q] = dout[n, c, i, j]
    return dx


def _stride_not_in_index(dout, x, k, s):
    """Each gradient routed to the maximum of the stride-1 window (i, j)."""
    x = _f64(x)
    dx = np.zeros_like(x)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(np.shape(dout)[2]):
                for j in range(np.shape(dout)[3]):
                    window = x[n, c, i:i + k, j:j + k]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[n, c, i + p, j + q] += dout[n, c, i, j]
    return dx


def _argmax_mask(dout, x, k, s):
    return _pool_back(np.ones(np.shape(dout)), x, k, s)


MAX_POOL2D_BACKWARD = Exercise(
    name="max_pool2d_backward", chapter=6,
    summary="max pooling backward: route each gradient to its window's maximum",
    signature="max_pool2d_backward(dout, x, kernel_size, stride) -> dx  (dout: (N, C, OH, OW), dx: (N, C, H, W))",
    reference=_pool_back, make_cases=_backward_cases, make_hidden=distinct_integers(_backward_cases),
    mistakes=(
        Mistake("every-element", "max-pool gradient sent to every element of the window: only the maximum (the "
                "argmax) received the value in the forward pass, so only it gets dout; the others get 0",
                lambda d, x, k, s: avg_pool2d_backward(_f64(d), _f64(x), k, s, backend="im2col") * k * k),
        Mistake("spread-evenly", "you spread each gradient evenly over its window: that is the backward pass of "
                "average pooling; in max pooling only the argmax gets dout",
                lambda d, x, k, s: avg_pool2d_backward(_f64(d), _f64(x), k, s, backend="im2col")),
        Mistake("overwritten", "where windows overlap, a pixel that is the maximum of several windows collects the "
                "gradient of each of them: dx[...] += dout[...], not =", _overwritten),
        Mistake("stride-not-in-index", "you looked for the maximum of window (i, j) at (i, j); with stride S the window "
                "starts at (i*S, j*S)", _stride_not_in_index),
        Mistake("mask-only", "you returned the argmax mask: multiply it by dout, so each maximum receives its "
                "window's gradient", _argmax_mask),
    ),
    outputs=ArrayKind("(N, C, H, W)"),
    forbid=NO_LIBRARY_HELP,
)
