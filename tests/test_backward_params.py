"""Backward without the input's gradient (``input_grad=False``, ``backward_params``), as torch skips it for data.

The weight and bias gradients must be exactly those of the full backward
pass (the same kernels compute them), on every backend; dx must really be
skipped by the numba backend (that is the point), and models with their own
backward keep it.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnlib
from cnnlib.functional import conv2d_backward
from cnnlib.layers import Conv2d, Flatten, Linear, ReLU, Sequential, SoftmaxCrossEntropy
from cnnlib.models import SimpleConvNet

BACKENDS = ["naive", "im2col", "numba"]


@pytest.mark.parametrize("backend", BACKENDS)
@pytest.mark.parametrize("groups, w_shape, kw", [
    (1, (4, 3, 3, 3), dict(stride=2, padding=1)),
    (1, (5, 3, 5, 5), dict()),  # a 1x1 output plane: the numba backend's small-plane path
    (3, (6, 1, 3, 3), dict(padding=1)),  # depthwise
    (1, (2, 3, 2, 2), dict(padding="same", dilation=2)),
])
def test_conv2d_backward_without_dx_gives_the_same_weight_gradients(backend, groups, w_shape, kw):
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 3, 5, 5)), rng.standard_normal(w_shape)
    y = cnnlib.functional.conv2d(x, w, groups=groups, backend=backend, **kw)
    dout = rng.standard_normal(y.shape)
    full = conv2d_backward(dout, x, w, groups=groups, backend=backend, **kw)
    dx, dw, db = conv2d_backward(dout, x, w, groups=groups, input_grad=False, backend=backend, **kw)
    assert dx is None
    np.testing.assert_array_equal(dw, full[1])
    np.testing.assert_array_equal(db, full[2])


def test_the_numba_backend_really_skips_dx(monkeypatch):
    from cnnlib.functional import _numba_scatter

    def no_input_grad(*args):
        raise AssertionError("input_grad ran although input_grad=False")

    rng = np.random.default_rng(1)
    x, w = rng.standard_normal((2, 3, 9, 9)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    dout = rng.standard_normal((2, 4, 7, 7)).astype(np.float32)
    monkeypatch.setattr(_numba_scatter, "input_grad", no_input_grad)
    _, dw, _ = conv2d_backward(dout, x, w, input_grad=False, backend="numba")
    assert dw.shape == w.shape
    with pytest.raises(AssertionError, match="input_grad ran"):
        conv2d_backward(dout, x, w, backend="numba")


def test_input_grad_must_be_a_boolean():
    with pytest.raises(TypeError, match="input_grad"):
        conv2d_backward(np.zeros((1, 1, 2, 2)), np.zeros((1, 1, 3, 3)), np.zeros((1, 1, 2, 2)), input_grad="no")


def _grads(model):
    return [g.copy() for _, _, g in model.parameters()]


@pytest.mark.parametrize("backend", BACKENDS)
def test_backward_params_fills_the_same_grads_as_backward(backend):
    rng = np.random.default_rng(2)
    x, labels = rng.standard_normal((4, 1, 28, 28)), rng.integers(0, 10, 4)
    nested = Sequential(("stem", Sequential(Conv2d(1, 3, 5, rng=0, dtype=np.float64), ReLU())),
                        ("flat", Flatten()), ("fc", Linear(3 * 24 * 24, 10, rng=1, dtype=np.float64)))
    for model in (SimpleConvNet(seed=0, dtype=np.float64), nested):
        loss = SoftmaxCrossEntropy()
        with cnnlib.use_backend(backend):
            loss.forward(model.forward(x), labels)
            model.backward(loss.backward())
            expected = _grads(model)
            for _, _, g in model.parameters():
                g[...] = np.nan
            loss.forward(model.forward(x), labels)
            assert model.backward_params(loss.backward()) is None
        for got, want in zip(_grads(model), expected):
            np.testing.assert_array_equal(got, want)


def test_a_model_with_its_own_backward_keeps_it():
    calls = []

    class Custom(Sequential):
        def backward(self, dout):
            calls.append("custom")
            return super().backward(dout)

    model = Custom(Linear(3, 2, rng=0, dtype=np.float64))
    model.forward(np.ones((1, 3)))
    model.backward_params(np.ones((1, 2)))
    assert calls == ["custom"]
