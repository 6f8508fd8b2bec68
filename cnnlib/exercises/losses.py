"""Exercises on the layers around the convolutions (chapter 8).

ReLU's backward pass and softmax with cross-entropy. The references are
written here, stably, in float64 (cnnlib's layers build on the same formulas).
"""

from __future__ import annotations

import numpy as np

from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._kinds import ArrayKind, FloatKind

__all__ = ["RELU_BACKWARD", "SOFTMAX_CROSS_ENTROPY"]


def _f64(a):
    return np.asarray(a, dtype=np.float64)


# --- ReLU ---------------------------------------------------------------------

def _relu_backward(dout, x):
    return _f64(dout) * (_f64(x) > 0)


def _relu_cases():
    rng = np.random.default_rng(808)

    def with_zeros(shape):
        x = rng.standard_normal(shape)
        x.flat[:: 4] = 0.0  # ReLU's kink: the gradient there is 0, as in torch
        return x

    return [
        Case("x = [-2, -1, 0, 1, 2], dout = [1, 2, 3, 4, 5]", (np.arange(1.0, 6.0), np.arange(-2.0, 3.0))),
        Case("x and dout of shape (3, 4), some x exactly 0", (rng.standard_normal((3, 4)), with_zeros((3, 4)))),
        Case("x and dout of shape (2, 3, 4, 5), some x exactly 0", (rng.standard_normal((2, 3, 4, 5)), with_zeros((2, 3, 4, 5)))),
        Case("x of shape (4, 6), every x negative", (rng.standard_normal((4, 6)), -1.0 - rng.random((4, 6)))),
        Case("x and dout of shape (2, 8), float32", (rng.integers(-5, 6, (2, 8)).astype(np.float32),
                                                     rng.integers(-3, 4, (2, 8)).astype(np.float32))),
    ]


RELU_BACKWARD = Exercise(
    name="relu_backward", chapter=8,
    summary="ReLU backward: dout where x > 0, else 0",
    signature="relu_backward(dout, x) -> dx  (any shape, dx like x)",
    reference=_relu_backward, make_cases=_relu_cases,
    mistakes=(
        Mistake("mask-only", "you returned the mask (x > 0) itself: multiply it by dout, dx = dout * (x > 0)",
                lambda d, x: (_f64(x) > 0).astype(np.float64)),
        Mistake("mask-from-dout", "mask by the sign of the input x saved in the forward pass, not by the sign of dout",
                lambda d, x: _f64(d) * (_f64(d) > 0)),
        Mistake("ge-zero", "at x == 0 the gradient is 0 (the convention torch uses): use x > 0, not x >= 0",
                lambda d, x: _f64(d) * (_f64(x) >= 0)),
        Mistake("pass-through", "the gradient must be blocked (set to 0) where x <= 0: dx = dout * (x > 0)",
                lambda d, x: _f64(d)),
        Mistake("forward", "you returned relu(x), the forward pass; the backward pass returns dout masked by x > 0",
                lambda d, x: np.maximum(_f64(x), 0)),
    ),
    outputs=ArrayKind("(same shape as x)"),
    forbid=NO_LIBRARY_HELP,
)


# --- softmax and cross-entropy ------------------------------------------------

def _softmax(logits, axis=1):
    z = _f64(logits)
    z = z - z.max(axis=axis, keepdims=True)
    e = np.exp(z)
    return e / e.sum(axis=axis, keepdims=True)


def _one_hot(labels, k):
    y = np.zeros((len(labels), k))
    y[np.arange(len(labels)), np.asarray(labels)] = 1.0
    return y


def _softmax_ce(logits, labels):
    z = _f64(logits)
    n = z.shape[0]
    shifted = z - z.max(axis=1, keepdims=True)
    log_p = shifted - np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    loss = float(-log_p[np.arange(n), np.asarray(labels)].mean())
    return loss, (np.exp(log_p) - _one_hot(labels, z.shape[1])) / n


def _ce_cases():
    rng = np.random.default_rng(818)
    big = 1000.0 + 5 * rng.standard_normal((2, 5))
    return [
        Case("logits of shape (3, 4), labels [0, 3, 1]", (rng.standard_normal((3, 4)), np.array([0, 3, 1]))),
        Case("logits of shape (5, 10), labels int32", (3 * rng.standard_normal((5, 10)), rng.integers(0, 10, 5).astype(np.int32))),
        Case("logits of shape (1, 3) (a batch of one)", (rng.standard_normal((1, 3)), np.array([2]))),
        Case("logits of shape (4, 2), integer logits", (rng.integers(-3, 4, (4, 2)), np.array([0, 1, 1, 0]))),
        Case("logits of shape (2, 5) around 1000 (exp overflows unless you shift)", (big, np.array([4, 0]))),
    ]


def _naive(logits, labels):
    z = _f64(logits)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        loss = float(-np.log(p[np.arange(len(z)), labels]).mean())
    return loss, (p - _one_hot(labels, z.shape[1])) / len(z)


def _replace(result, index, value):
    parts = list(result)
    parts[index] = value
    return tuple(parts)


def _wrong_axis(logits, labels):
    p = _softmax(logits, axis=0)
    n = len(p)
    return float(-np.log(p[np.arange(n), labels]).mean()), (p - _one_hot(labels, p.shape[1])) / n


SOFTMAX_CROSS_ENTROPY = Exercise(
    name="softmax_cross_entropy", chapter=8,
    summary="mean softmax cross-entropy loss and its gradient",
    signature="softmax_cross_entropy(logits, labels) -> (loss, dlogits)  (logits: (N, K), labels: (N,) ints)",
    reference=_softmax_ce, make_cases=_ce_cases,
    mistakes=(
        Mistake("grad-not-divided", "divide the gradient by N: the loss is the mean over the batch, so "
                "dlogits = (softmax - one_hot) / N",
                lambda z, t: _replace(_softmax_ce(z, t), 1, _softmax_ce(z, t)[1] * len(z))),
        Mistake("loss-summed", "the loss is the mean over the batch, not the sum",
                lambda z, t: _replace(_softmax_ce(z, t), 0, _softmax_ce(z, t)[0] * len(z))),
        Mistake("no-one-hot", "subtract 1 at the correct class: dlogits = (softmax - one_hot(labels)) / N",
                lambda z, t: _replace(_softmax_ce(z, t), 1, _softmax(z) / len(z))),
        Mistake("overflow", "exp overflowed: subtract each row's maximum from the logits before exp (the softmax "
                "does not change, and the largest exponent becomes exp(0) = 1)", _naive),
        Mistake("wrong-axis", "the softmax normalises each row (over the K classes, axis=1), not each column",
                _wrong_axis),
    ),
    outputs=(("loss", FloatKind()), ("dlogits", ArrayKind("(N, K)"))),
    forbid=NO_LIBRARY_HELP,
)
