"""Odd and hostile arguments: a clear ValueError/TypeError naming the argument.

Where torch defines a result (float16, big-endian arrays) the result is
torch's: see test_backend_contract.py. Everything else here must raise
before any computation, with the argument's name in the message.
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib import functional as F
from cnnlib.data import load_mnist
from cnnlib.layers import (AvgPool2d, Conv2d, Dropout, Flatten, LayerError, Linear, LocalResponseNorm, ReLU,
                           Sequential)
from cnnlib.models import AlexNet, GoogLeNet
from cnnlib.train import SGD, Adam, Momentum, Trainer

X = np.zeros((1, 2, 6, 6))


def _net():
    return Sequential(Linear(3, 2, rng=0))


@pytest.mark.parametrize("call, error, message", [
    # strings (and numbers) where a bool is expected: "False" is truthy
    (lambda: F.avg_pool2d(X, 2, count_include_pad="False"), TypeError, "count_include_pad must be True or False; got 'False'"),
    (lambda: F.avg_pool2d_backward(np.zeros((1, 2, 3, 3)), X, 2, count_include_pad=0), TypeError,
     "count_include_pad must be True or False; got 0"),
    (lambda: AvgPool2d(2, count_include_pad="False"), TypeError, "count_include_pad must be True or False"),
    (lambda: Conv2d(2, 3, 3, bias="no"), TypeError, "bias must be True or False; got 'no'"),
    (lambda: Linear(2, 3, bias=1), TypeError, "bias must be True or False; got 1"),
    (lambda: _net().train("False"), TypeError, "mode must be True or False"),
    (lambda: Trainer(n := _net(), SGD(n), progress="yes"), TypeError, "progress must be True or False"),
    (lambda: GoogLeNet(aux_logits="True", input_size=96, width=1 / 16), TypeError, "aux_logits must be True or False"),
    (lambda: AlexNet(two_gpu="yes"), TypeError, "two_gpu must be True or False"),
    (lambda: load_mnist(normalize="no"), TypeError, "normalize must be True or False"),
    (lambda: load_mnist(one_hot=1), TypeError, "one_hot must be True or False"),
    # parameter dtypes: an integer weight cannot learn
    (lambda: Conv2d(2, 3, 3, dtype=np.int64), TypeError, "dtype must be float32 or float64; got int64"),
    (lambda: Conv2d(2, 3, 3, dtype=np.float16), TypeError, "dtype must be float32 or float64; got float16"),
    (lambda: Linear(2, 3, dtype="int32"), TypeError, "dtype must be float32 or float64; got int32"),
    (lambda: Linear(2, 3, dtype="no such dtype"), TypeError, "dtype must be float32 or float64"),
    (lambda: _net().astype(np.uint8), TypeError, "dtype must be float32 or float64; got uint8"),
    # optimiser hyper-parameters: finite, in range, real numbers
    (lambda: SGD(_net(), lr=float("nan")), ValueError, "lr must be finite; got nan"),
    (lambda: SGD(_net(), lr=float("inf")), ValueError, "lr must be finite; got inf"),
    (lambda: SGD(_net(), lr=0), ValueError, "lr must be positive; got 0.0"),
    (lambda: Adam(_net(), lr=-1e-3), ValueError, "lr must be positive; got -0.001"),
    (lambda: SGD(_net(), lr="0.1"), TypeError, "lr must be a real number; got '0.1'"),
    (lambda: SGD(_net(), lr=True), TypeError, "lr must be a real number; got True"),
    (lambda: Momentum(_net(), momentum=float("nan")), ValueError, "momentum must be finite"),
    (lambda: Momentum(_net(), momentum=1.0), ValueError, r"momentum must be < 1.0; got 1.0"),
    (lambda: Momentum(_net(), momentum=-0.5), ValueError, r"momentum must be >= 0.0; got -0.5"),
    (lambda: Adam(_net(), betas=(float("nan"), 0.999)), ValueError, r"betas\[0\] must be finite"),
    (lambda: Adam(_net(), betas=(0.9, 1.0)), ValueError, r"betas\[1\] must be < 1.0"),
    (lambda: Adam(_net(), betas=(1.0, 0.999)), ValueError, r"betas\[0\] must be < 1.0"),
    (lambda: Sequential(("conv.1", ReLU())), ValueError, "layer name 'conv.1' must be a non-empty string without dots"),
    (lambda: Sequential(("", ReLU())), ValueError, "layer name '' must be a non-empty string"),
    (lambda: Adam(_net(), betas=0.9), TypeError, r"betas must be a pair"),
    (lambda: Adam(_net(), eps=0), ValueError, "eps must be positive; got 0.0"),
    (lambda: Adam(_net(), eps=float("inf")), ValueError, "eps must be finite"),
    # local response normalisation and dropout
    (lambda: LocalResponseNorm(5, alpha=float("nan")), ValueError, "alpha must be finite; got nan"),
    (lambda: LocalResponseNorm(5, alpha=-1e-4), ValueError, "alpha must be positive"),
    (lambda: LocalResponseNorm(5, beta=0), ValueError, "beta must be positive; got 0.0"),
    (lambda: LocalResponseNorm(5, beta=float("inf")), ValueError, "beta must be finite"),
    (lambda: LocalResponseNorm(5, k=0), ValueError, "k must be positive"),
    (lambda: LocalResponseNorm(5, k=float("nan")), ValueError, "k must be finite"),
    (lambda: LocalResponseNorm(0), ValueError, "size must be >= 1"),
    (lambda: LocalResponseNorm(5, alpha="1e-4"), TypeError, "alpha must be a real number"),
    (lambda: Dropout(float("nan")), ValueError, "p must be finite"),
    (lambda: Dropout(1.0), ValueError, r"p must be < 1.0; got 1.0"),
    (lambda: Dropout("0.5"), TypeError, "p must be a real number"),
    # conv3d with a zero-size weight (it used to return zeros)
    (lambda: F.conv3d(np.ones((1, 1, 3, 3, 3)), np.ones((0, 1, 2, 2, 2))), ValueError,
     r"weight has shape \(0, 1, 2, 2, 2\): every dimension \(filters, channels, KD, KH, KW\) must be at least 1"),
    (lambda: F.conv3d(np.ones((1, 1, 3, 3, 3)), np.ones((1, 1, 2, 0, 2))), ValueError, r"weight has shape \(1, 1, 2, 0, 2\)"),
    (lambda: F.conv3d(np.ones((1, 2, 3, 3, 3)), np.ones((3, 2, 2, 2, 2)), np.zeros(2)), ValueError,
     r"bias has shape \(2,\); expected \(3,\)"),
], ids=lambda v: "" if callable(v) or isinstance(v, type) else v[:40])
def test_bad_argument_gives_a_clear_error(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_hyper_parameters_that_are_fine_still_work():
    net = _net()
    assert Adam(net, lr=np.float32(1e-3), betas=[0.8, 0.99], eps=1e-6).betas == (0.8, 0.99)
    assert Momentum(net, lr=1, momentum=0).momentum == 0.0
    assert LocalResponseNorm(3, alpha=np.float64(0.1), beta=1, k=2).alpha == 0.1
    assert Dropout(0).p == 0.0 and Dropout(np.float32(0.25)).p == 0.25
    assert AvgPool2d(2, count_include_pad=np.bool_(False)).count_include_pad is False


# --------------------------------------------------------------------------
# A layer object used twice: refused when the model is built
# --------------------------------------------------------------------------


def test_a_layer_used_twice_is_refused_when_the_model_is_built():
    fc = Linear(4, 4, rng=0)
    with pytest.raises(ValueError, match=r"layer '2' \(Linear 4->4\) is the same object as layer '0'.*create a separate layer"):
        Sequential(fc, ReLU(), fc)
    relu = ReLU()  # no parameters, but it keeps its input mask for backward
    with pytest.raises(ValueError, match=r"layer 'b\.act' \(ReLU\) is the same object as layer 'a\.act'"):
        Sequential(("a", Sequential(("fc", Linear(4, 4)), ("act", relu))), ("b", Sequential(("fc", Linear(4, 4)), ("act", relu))))
    inner = Sequential(Linear(4, 4), ReLU())
    with pytest.raises(ValueError, match="is the same object as"):
        Sequential(("first", inner), ("second", inner))


def test_two_layers_with_copied_weights_give_the_right_gradient():
    """The documented alternative to reuse: a second layer with the same weights."""
    rng = np.random.default_rng(1)
    first = Linear(3, 3, rng=2, dtype=np.float64)
    second = Linear(3, 3, rng=3, dtype=np.float64)
    second.load_state_dict(first.state_dict())
    net = Sequential(first, second)
    x, dout = rng.standard_normal((4, 3)), rng.standard_normal((4, 3))
    net.forward(x)
    net.backward(dout)
    w, h = first.params["weight"], x @ first.params["weight"].T + first.params["bias"]
    # d/dW of sum(dout * (h W^T + b)) through both uses of the same W
    shared = dout.T @ h + (dout @ w).T @ x
    np.testing.assert_allclose(first.grads["weight"] + second.grads["weight"], shared, rtol=1e-12)


# --------------------------------------------------------------------------
# Sequential keeps the exception's type and cause
# --------------------------------------------------------------------------


def test_sequential_keeps_the_type_and_cause_of_an_error():
    net = Sequential(("conv", Conv2d(1, 2, 3)), ("flat", Flatten()), ("fc", Linear(50, 2)))
    with pytest.raises(TypeError, match=r"layer 0 'conv' \(Conv2d 1->2, 3x3\): expected a NumPy array") as info:
        net.forward([[1.0]])
    assert isinstance(info.value, LayerError) and not isinstance(info.value, ValueError)
    assert isinstance(info.value.__cause__, TypeError) and "layer" not in str(info.value.__cause__)
    with pytest.raises(ValueError, match=r"layer 2 'fc' \(Linear 50->2\): expected input with 50 features") as info:
        net.forward(np.zeros((1, 1, 6, 6), dtype=np.float32))
    assert isinstance(info.value, LayerError) and isinstance(info.value.__cause__, ValueError)
    outer = Sequential(("block", net))
    with pytest.raises(TypeError, match=r"layer 0 'block' \(Sequential of 3 layers\): layer 0 'conv'"):
        outer.forward("not an array")


def test_a_float16_or_big_endian_model_input_follows_the_parameters():
    net = Sequential(Conv2d(2, 3, 3, rng=0), Flatten())
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5)).astype(np.float32)
    expected = net.forward(x)
    assert np.array_equal(net.forward(x.astype(">f4")), expected)
    assert net.forward(x.astype(np.float16)).dtype == np.float32  # float16 with float32 weights: float32
