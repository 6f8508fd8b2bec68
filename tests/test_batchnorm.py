"""BatchNorm1d/2d, GlobalAvgPool2d and Residual against torch and finite differences.

Tolerances: ``helpers.TOL`` against torch (float32 rtol/atol 1e-4, float64
rtol 1e-10 / atol 1e-12), running statistics included; finite differences
in float64 to ``FD_TOL`` (batch normalization is not linear, so the
centred difference carries an O(h^2) truncation error: 1e-6 relative).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlib
from cnnlib.gradcheck import numerical_gradient_array
from cnnlib.layers import (BatchNorm1d, BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, ReLU, Residual, Sequential)
from cnnlib.train import load_weights, save_weights
from helpers import SETTINGS, assert_close, t

DTYPES = [np.float32, np.float64]
FD_TOL = dict(rtol=1e-6, atol=1e-8)
FEW = settings(max_examples=15, **SETTINGS)


@st.composite
def bn_shapes(draw):
    """Input shapes for BatchNorm1d (2-D, 3-D) and BatchNorm2d (4-D), with more than one value per channel."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    c = draw(st.integers(1, 4))
    rest = [draw(st.integers(1, 4)) for _ in range(ndim - 2)]
    n = draw(st.integers(2 if int(np.prod(rest)) == 1 else 1, 4))
    return (n, c, *rest)


def _pair(shape, dtype, momentum=0.1, eps=1e-5):
    c = shape[1]
    if len(shape) == 4:
        ours, theirs = BatchNorm2d(c, eps=eps, momentum=momentum, dtype=dtype), torch.nn.BatchNorm2d(c, eps, momentum)
    else:
        ours, theirs = BatchNorm1d(c, eps=eps, momentum=momentum, dtype=dtype), torch.nn.BatchNorm1d(c, eps, momentum)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(c)
    ours.params["weight"][...] = rng.uniform(0.5, 2, c)
    ours.params["bias"][...] = rng.standard_normal(c)
    with torch.no_grad():
        theirs.weight.copy_(torch.from_numpy(ours.params["weight"]))
        theirs.bias.copy_(torch.from_numpy(ours.params["bias"]))
    return ours, theirs


@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(shape=bn_shapes(), momentum=st.sampled_from([0.1, 0.5, None]), seed=st.integers(0, 2**32 - 1))
def test_batchnorm_train_and_eval_vs_torch(shape, momentum, seed, dtype):
    """Three training steps (forward, backward, running statistics), then eval mode."""
    ours, theirs = _pair(shape, dtype, momentum)
    rng = np.random.default_rng(seed)
    for step in range(3):
        # a shifted, scaled batch, so the running statistics move away from 0 and 1
        x = (rng.standard_normal(shape) * (1 + step) + step).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        xt = t(x, True)
        yt = theirs(xt)
        yt.backward(t(dout))
        assert_close(ours.forward(x), yt.detach().numpy(), dtype, "batchnorm train forward")
        assert_close(ours.backward(dout), xt.grad.numpy(), dtype, "batchnorm train dx")
        assert_close(ours.grads["weight"], theirs.weight.grad.numpy(), dtype, "batchnorm dweight")
        assert_close(ours.grads["bias"], theirs.bias.grad.numpy(), dtype, "batchnorm dbias")
        theirs.zero_grad()
        assert_close(ours.running_mean, theirs.running_mean.numpy(), dtype, "batchnorm running_mean")
        assert_close(ours.running_var, theirs.running_var.numpy(), dtype, "batchnorm running_var")
    assert int(ours.buffers["num_batches_tracked"]) == int(theirs.num_batches_tracked) == 3
    ours.eval(), theirs.eval()
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    xt = t(x, True)
    yt = theirs(xt)
    yt.backward(t(dout))
    assert_close(ours.forward(x), yt.detach().numpy(), dtype, "batchnorm eval forward")
    assert_close(ours.backward(dout), xt.grad.numpy(), dtype, "batchnorm eval dx")


def test_running_variance_is_unbiased_and_normalisation_biased():
    """By hand on one channel of 4 values: mean 2.5, biased var 1.25, unbiased var 5/3."""
    bn = BatchNorm1d(1, eps=0.0 + 1e-12, momentum=1.0, dtype=np.float64)
    y = bn.forward(np.array([[1.0], [2.0], [3.0], [4.0]]))
    np.testing.assert_allclose(y[:, 0], (np.arange(1, 5) - 2.5) / np.sqrt(1.25), rtol=1e-10)
    np.testing.assert_allclose(bn.running_mean, [2.5], rtol=1e-15)
    np.testing.assert_allclose(bn.running_var, [5 / 3], rtol=1e-15)


@pytest.mark.parametrize("shape", [(3, 2), (2, 3, 4), (2, 2, 3, 2)])
@pytest.mark.parametrize("training", [True, False])
def test_batchnorm_backward_vs_finite_differences(shape, training):
    bn = BatchNorm2d(shape[1], dtype=np.float64) if len(shape) == 4 else BatchNorm1d(shape[1], dtype=np.float64)
    rng = np.random.default_rng(0)
    bn.params["weight"][...] = rng.uniform(0.5, 2, shape[1])
    bn.params["bias"][...] = rng.standard_normal(shape[1])
    bn.buffers["running_mean"][...] = rng.standard_normal(shape[1])
    bn.buffers["running_var"][...] = rng.uniform(0.5, 2, shape[1])
    bn.train(training)
    x, dout = rng.standard_normal(shape), rng.standard_normal(shape)
    state = {k: v.copy() for k, v in bn.buffers.items()}

    def f(v):
        for k, value in state.items():  # each call must see the same running statistics
            bn.buffers[k][...] = value
        return bn.forward(v)

    bn.forward(x)
    dx = bn.backward(dout)
    dw, db = bn.grads["weight"].copy(), bn.grads["bias"].copy()
    np.testing.assert_allclose(dx, numerical_gradient_array(f, x.copy(), dout), **FD_TOL)
    for name, analytic in (("weight", dw), ("bias", db)):
        def g(v, name=name):
            bn.params[name] = v
            return f(x)
        numeric = numerical_gradient_array(g, bn.params[name].copy(), dout)
        np.testing.assert_allclose(analytic, numeric, **FD_TOL)


def test_batchnorm_gradient_sums_vanish_in_training_mode():
    """dx sums to zero per channel, and is orthogonal to xhat: the two constraints of the compact formula.

    (Orthogonality is exact only as eps -> 0: with eps the xhat have variance var / (var + eps).)
    """
    bn = BatchNorm2d(3, eps=1e-12, dtype=np.float64)
    x, dout = np.random.default_rng(1).standard_normal((2, 3, 4, 5)), np.random.default_rng(2).standard_normal((2, 3, 4, 5))
    xhat = bn.forward(x)
    dx = bn.backward(dout)
    np.testing.assert_allclose(dx.sum(axis=(0, 2, 3)), 0, atol=1e-12)
    np.testing.assert_allclose((dx * xhat).sum(axis=(0, 2, 3)), 0, atol=1e-10)


@pytest.mark.parametrize("layer, shape", [(BatchNorm1d(3), (1, 3)), (BatchNorm2d(3), (1, 3, 1, 1)),
                                          (BatchNorm1d(3), (1, 3, 1))])
def test_batch_of_one_value_per_channel_is_an_error_in_training(layer, shape):
    with pytest.raises(ValueError, match="needs more than 1 value per channel"):
        layer.forward(np.ones(shape, dtype=np.float32))
    with pytest.raises(ValueError, match="Expected more than 1 value per channel"):
        torch.nn.BatchNorm1d(3)(torch.ones(shape[:3])) if len(shape) < 4 else torch.nn.BatchNorm2d(3)(torch.ones(shape))
    layer.eval()
    assert layer.forward(np.ones(shape, dtype=np.float32)).shape == shape  # eval mode has its statistics


def test_batchnorm_rejects_bad_arguments_and_inputs():
    with pytest.raises(ValueError, match=r"expected input \(N, C, H, W\) with 3 channels; got shape \(2, 4, 5, 5\)"):
        BatchNorm2d(3).forward(np.zeros((2, 4, 5, 5), dtype=np.float32))
    with pytest.raises(ValueError, match=r"expected input \(N, C\) or \(N, C, L\)"):
        BatchNorm1d(3).forward(np.zeros((2, 3, 4, 4), dtype=np.float32))
    with pytest.raises(ValueError, match="momentum must be a number in"):
        BatchNorm2d(3, momentum=1.5)
    with pytest.raises(ValueError, match="eps must be a positive number"):
        BatchNorm2d(3, eps=0)
    with pytest.raises(TypeError, match="num_features must be an integer"):
        BatchNorm2d(3.0)
    with pytest.raises(RuntimeError, match="backward called before forward"):
        BatchNorm2d(3).backward(np.zeros((2, 3, 2, 2)))
    assert BatchNorm2d(8).output_shape((8, 5, 5)) == (8, 5, 5)


def test_buffers_are_saved_loaded_and_not_learned(tmp_path):
    net = Sequential(("conv", Conv2d(2, 3, 3, bias=False)), ("bn", BatchNorm2d(3)), ("relu", ReLU()))
    assert net.num_params() == 54 + 6  # running statistics are not parameters
    assert [n for n, _, _ in net.parameters()] == ["conv.weight", "bn.weight", "bn.bias"]
    net.forward(np.random.default_rng(0).standard_normal((4, 2, 5, 5)).astype(np.float32))
    path = save_weights(net, tmp_path / "bn")
    other = Sequential(("conv", Conv2d(2, 3, 3, bias=False, rng=5)), ("bn", BatchNorm2d(3)), ("relu", ReLU()))
    load_weights(other, path)
    for name in ("bn.running_mean", "bn.running_var", "bn.num_batches_tracked", "conv.weight"):
        np.testing.assert_array_equal(other.state_dict()[name], net.state_dict()[name])
    assert int(other.state_dict()["bn.num_batches_tracked"]) == 1
    # the same names as torch's state dict, so weights copy across
    torch_net = torch.nn.Sequential()
    torch_net.add_module("conv", torch.nn.Conv2d(2, 3, 3, bias=False))
    torch_net.add_module("bn", torch.nn.BatchNorm2d(3))
    assert set(torch_net.state_dict()) == set(net.state_dict())
    net.astype(np.float64)
    assert net.state_dict()["bn.running_var"].dtype == np.float64
    assert net.state_dict()["bn.num_batches_tracked"].dtype == np.int64


# --------------------------------------------------------------------------
# GlobalAvgPool2d and Residual
# --------------------------------------------------------------------------


@pytest.mark.parametrize("dtype", DTYPES)
def test_global_avg_pool_vs_torch(dtype):
    x = np.random.default_rng(0).standard_normal((2, 3, 5, 4)).astype(dtype)
    dout = np.random.default_rng(1).standard_normal((2, 3)).astype(dtype)
    xt = t(x, True)
    yt = torch.nn.functional.adaptive_avg_pool2d(xt, 1).flatten(1)
    yt.backward(t(dout))
    pool = GlobalAvgPool2d()
    assert_close(pool.forward(x), yt.detach().numpy(), dtype, "global avg pool forward")
    assert_close(pool.backward(dout), xt.grad.numpy(), dtype, "global avg pool backward")
    assert pool.output_shape((3, 5, 4)) == (3,)
    with pytest.raises(ValueError, match="expected 4-D input"):
        pool.forward(np.zeros((2, 3)))


class TorchResidual(torch.nn.Module):
    def __init__(self, body, shortcut=None):
        super().__init__()
        self.body, self.shortcut = body, shortcut

    def forward(self, x):
        return self.body(x) + (x if self.shortcut is None else self.shortcut(x))


def _torch_body(cin, cout, stride):
    return torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 3, stride, 1, bias=False), torch.nn.BatchNorm2d(cout),
                               torch.nn.ReLU(), torch.nn.Conv2d(cout, cout, 3, 1, 1, bias=False),
                               torch.nn.BatchNorm2d(cout))


def _body(cin, cout, stride):
    return Sequential(Conv2d(cin, cout, 3, stride=stride, padding=1, bias=False, rng=1, dtype=np.float64),
                      BatchNorm2d(cout, dtype=np.float64), ReLU(),
                      Conv2d(cout, cout, 3, padding=1, bias=False, rng=2, dtype=np.float64),
                      BatchNorm2d(cout, dtype=np.float64))


@pytest.mark.parametrize("backend", ["naive", "im2col", "numba"])
@pytest.mark.parametrize("projection", [False, True])
def test_residual_vs_torch(projection, backend):
    cin, cout, stride = (3, 5, 2) if projection else (4, 4, 1)
    shortcut = (Sequential(Conv2d(cin, cout, 1, stride=stride, bias=False, rng=3, dtype=np.float64),
                           BatchNorm2d(cout, dtype=np.float64)) if projection else None)
    block = Residual(_body(cin, cout, stride), shortcut)
    twin = TorchResidual(_torch_body(cin, cout, stride),
                         torch.nn.Sequential(torch.nn.Conv2d(cin, cout, 1, stride, bias=False),
                                             torch.nn.BatchNorm2d(cout)) if projection else None).double()
    twin.load_state_dict({k: torch.from_numpy(np.array(v)) for k, v in block.state_dict().items()})
    x = np.random.default_rng(0).standard_normal((2, cin, 6, 6))
    xt = t(x, True)
    yt = twin(xt)
    dout = np.random.default_rng(1).standard_normal(yt.shape)
    yt.backward(t(dout))
    with cnnlib.use_backend(backend):
        y = block.forward(x)
        dx = block.backward(dout)
    assert_close(y, yt.detach().numpy(), what="residual forward")
    assert_close(dx, xt.grad.numpy(), what="residual dx")
    torch_grads = {n: p.grad.numpy() for n, p in twin.named_parameters()}
    for name, _, grad in block.parameters():
        assert_close(grad, torch_grads[name], what="residual parameter grads")
    assert block.output_shape((cin, 6, 6)) == y.shape[1:]


def test_residual_backward_vs_finite_differences():
    """Identity shortcut: dx = body's dx + dout, checked numerically (float64)."""
    block = Residual(Sequential(Linear(3, 3, rng=0, dtype=np.float64), ReLU(), Linear(3, 3, rng=1, dtype=np.float64)))
    x, dout = np.random.default_rng(2).standard_normal((4, 3)), np.random.default_rng(3).standard_normal((4, 3))
    block.forward(x)
    dx = block.backward(dout)
    np.testing.assert_allclose(dx, numerical_gradient_array(block.forward, x.copy(), dout), **FD_TOL)
    body_dx = block.body.backward(dout)
    np.testing.assert_allclose(dx - body_dx, dout, rtol=0, atol=1e-15)  # the identity path passes dout on


def test_residual_errors():
    with pytest.raises(ValueError, match=r"the body gives \(5, 3, 3\) per sample but the input is \(4, 6, 6\)"):
        Residual(_body(4, 5, 2)).output_shape((4, 6, 6))
    with pytest.raises(ValueError, match="per sample but the input is"):
        Residual(_body(4, 5, 2)).forward(np.zeros((1, 4, 6, 6)))
    relu = ReLU()
    # Sequential refuses the reuse itself, before Residual sees the body.
    with pytest.raises(ValueError, match=r"\(ReLU\) is the same object as layer '1'.*used twice"):
        Residual(Sequential(Linear(3, 3), relu, Linear(3, 3), relu))
    lin = Linear(3, 3)
    with pytest.raises(ValueError, match=r"used twice \('body' and 'shortcut'\)"):
        Residual(lin, lin)
    with pytest.raises(TypeError, match="body must be a cnnlib Layer"):
        Residual(lambda x: x)
