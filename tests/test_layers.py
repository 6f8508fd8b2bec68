"""cnnlib.layers: every layer's forward and backward against torch and finite differences.

Finite differences run in float64 on tiny shapes (centred differences with
h = 1e-5 agree with a right gradient to ~1e-8 relative error, so a bound of
1e-6 fails any wrong one); torch comparisons use helpers.TOL.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as tF

from cnnlib.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from cnnlib.layers import (AvgPool2d, Conv2d, Dropout, Flatten, LayerError, Linear, LocalResponseNorm, MaxPool2d,
                           ReLU, Sequential, Sigmoid, SoftmaxCrossEntropy, Tanh, he_normal, softmax, xavier_uniform)
from helpers import assert_close, t

FD_TOL = 1e-6  # largest rel_error accepted between an analytic and a numerical gradient


def rng(seed=0):
    return np.random.default_rng(seed)


def check_input_grad(layer, x, dout=None):
    """Backward's dx against finite differences of forward; returns dx."""
    y = layer.forward(x)
    dout = rng(99).standard_normal(y.shape) if dout is None else dout
    dx = layer.backward(dout)
    num = numerical_gradient_array(lambda v: layer.forward(v), x, dout)
    assert rel_error(dx, num) < FD_TOL, f"{layer.describe()}: dx rel error {rel_error(dx, num):.2e}"
    return dx


def check_param_grads(layer, x, dout=None):
    """Each grads[key] against finite differences of forward in that parameter."""
    y = layer.forward(x)
    dout = rng(98).standard_normal(y.shape) if dout is None else dout
    layer.backward(dout)
    analytic = {k: g.copy() for k, g in layer.grads.items()}
    for key, param in layer.params.items():
        num = numerical_gradient_array(lambda _: layer.forward(x), param, dout)
        assert rel_error(analytic[key], num) < FD_TOL, f"{layer.describe()}: d{key} rel error {rel_error(analytic[key], num):.2e}"


def torch_grads(fn, x, params: dict, dout):
    """y and the gradients of sum(fn(x, **params) * dout) by torch autograd."""
    xt = t(x, True)
    pt = {k: t(v, True) for k, v in params.items()}
    y = fn(xt, **pt)
    y.backward(t(dout))
    return y.detach().numpy(), xt.grad.numpy(), {k: v.grad.numpy() for k, v in pt.items()}


# --------------------------------------------------------------------------
# Conv2d
# --------------------------------------------------------------------------

CONV_CASES = [
    dict(c=2, f=3, k=3, stride=1, padding=0, groups=1, hw=(5, 6)),
    dict(c=3, f=2, k=(2, 3), stride=(2, 1), padding=(1, 0), groups=1, hw=(6, 5)),
    dict(c=4, f=6, k=3, stride=2, padding=1, groups=2, hw=(7, 7)),  # AlexNet's two-GPU split
]


@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"c{c['c']}f{c['f']}g{c['groups']}")
def test_conv2d_grads_match_finite_differences(case):
    layer = Conv2d(case["c"], case["f"], case["k"], stride=case["stride"], padding=case["padding"],
                   groups=case["groups"], rng=1, dtype=np.float64)
    layer.params["bias"][:] = rng(2).standard_normal(case["f"])
    x = rng(3).standard_normal((2, case["c"], *case["hw"]))
    check_input_grad(layer, x)
    check_param_grads(layer, x)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("case", CONV_CASES, ids=lambda c: f"c{c['c']}f{c['f']}g{c['groups']}")
def test_conv2d_matches_torch(case, dtype):
    layer = Conv2d(case["c"], case["f"], case["k"], stride=case["stride"], padding=case["padding"],
                   groups=case["groups"], rng=4, dtype=dtype)
    layer.params["bias"][:] = rng(5).standard_normal(case["f"])
    x = rng(6).standard_normal((3, case["c"], *case["hw"])).astype(dtype)
    y = layer.forward(x)
    dout = rng(7).standard_normal(y.shape).astype(dtype)
    dx = layer.backward(dout)
    ty, tdx, tgrads = torch_grads(
        lambda x, weight, bias: tF.conv2d(x, weight, bias, stride=case["stride"], padding=case["padding"], groups=case["groups"]),
        x, layer.params, dout)
    assert_close(y, ty, what="conv forward")
    assert_close(dx, tdx, what="conv dx")
    for key in ("weight", "bias"):
        assert_close(layer.grads[key], tgrads[key], what=f"conv d{key}")


def test_conv2d_without_bias_has_only_a_weight():
    layer = Conv2d(2, 3, 3, bias=False, dtype=np.float64)
    assert list(layer.params) == ["weight"] and list(layer.grads) == ["weight"]
    check_param_grads(layer, rng(8).standard_normal((1, 2, 4, 4)))


def test_conv2d_rejects_groups_that_do_not_divide_the_channels():
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(3, 4, 3, groups=2)


# --------------------------------------------------------------------------
# Pooling
# --------------------------------------------------------------------------

POOL_CASES = [dict(k=2, stride=None, padding=0), dict(k=3, stride=2, padding=1), dict(k=(3, 2), stride=1, padding=0)]


@pytest.mark.parametrize("kind", ["max", "avg"])
@pytest.mark.parametrize("case", POOL_CASES, ids=str)
def test_pooling_grads_match_finite_differences_and_torch(kind, case):
    cls = MaxPool2d if kind == "max" else AvgPool2d
    layer = cls(case["k"], stride=case["stride"], padding=case["padding"])
    x = rng(9).standard_normal((2, 3, 6, 7))  # continuous values: no tied maxima, so max is differentiable
    dx = check_input_grad(layer, x)
    fn = tF.max_pool2d if kind == "max" else tF.avg_pool2d
    y, tdx, _ = torch_grads(lambda x: fn(x, case["k"], case["stride"], case["padding"]), x, {},
                            rng(99).standard_normal(layer.forward(x).shape))
    assert_close(layer.forward(x), y, what=f"{kind} pool forward")
    assert_close(dx, tdx, what=f"{kind} pool dx")
    assert layer.params == {} and layer.num_params() == 0


def test_pool_output_shape_matches_forward():
    layer = MaxPool2d(3, stride=2, padding=1)
    x = np.zeros((1, 4, 9, 8), dtype=np.float32)
    assert layer.output_shape((4, 9, 8)) == layer.forward(x).shape[1:] == (4, 5, 4)


# --------------------------------------------------------------------------
# Activations, Linear, Flatten
# --------------------------------------------------------------------------

ACTIVATIONS = [(ReLU, torch.relu), (Sigmoid, torch.sigmoid), (Tanh, torch.tanh)]


@pytest.mark.parametrize("cls, torch_fn", ACTIVATIONS, ids=lambda v: getattr(v, "__name__", ""))
def test_activation_grads_match_finite_differences_and_torch(cls, torch_fn):
    layer = cls()
    # ReLU's kink at 0 has no derivative: keep inputs away from it.
    x = rng(10).standard_normal((3, 2, 4))
    x[np.abs(x) < 1e-3] = 0.5
    dx = check_input_grad(layer, x)
    dout = rng(99).standard_normal(x.shape)
    y, tdx, _ = torch_grads(lambda x: torch_fn(x), x, {}, dout)
    assert_close(layer.forward(x), y, what=f"{cls.__name__} forward")
    assert_close(dx, tdx, what=f"{cls.__name__} dx")


def test_sigmoid_is_finite_for_large_inputs():
    x = np.array([-1000.0, -50.0, 0.0, 50.0, 1000.0])
    with np.errstate(over="raise", invalid="raise", divide="raise"):  # underflow to 0 is fine
        y = Sigmoid().forward(x)
    np.testing.assert_allclose(y, [0.0, 1.9287498479639178e-22, 0.5, 1.0, 1.0], rtol=1e-12, atol=0)


def test_linear_grads_match_finite_differences_and_torch():
    layer = Linear(5, 3, rng=11, dtype=np.float64)
    layer.params["bias"][:] = [0.1, -0.2, 0.3]
    x = rng(12).standard_normal((4, 5))
    dx = check_input_grad(layer, x)
    check_param_grads(layer, x)
    dout = rng(99).standard_normal((4, 3))
    layer.forward(x)
    layer.backward(dout)
    y, tdx, tg = torch_grads(lambda x, weight, bias: tF.linear(x, weight, bias), x, layer.params, dout)
    assert_close(layer.forward(x), y, what="linear forward")
    assert_close(dx, tdx, what="linear dx")
    assert_close(layer.grads["weight"], tg["weight"], what="linear dweight")
    assert_close(layer.grads["bias"], tg["bias"], what="linear dbias")


def test_flatten_is_torch_flatten_and_its_backward_restores_the_shape():
    x = rng(13).standard_normal((2, 3, 4, 5))
    layer = Flatten()
    y = layer.forward(x)
    np.testing.assert_array_equal(y, torch.flatten(t(x), 1).numpy())
    dout = rng(14).standard_normal(y.shape)
    np.testing.assert_array_equal(layer.backward(dout), dout.reshape(x.shape))
    assert layer.output_shape((3, 4, 5)) == (60,)


def test_linear_names_the_expected_and_actual_shape():
    layer = Linear(4320, 100)
    with pytest.raises(ValueError, match=r"expected input with 4320 features, got \(100, 4321\)"):
        layer.forward(np.zeros((100, 4321), dtype=np.float32))
    with pytest.raises(ValueError, match="add a Flatten layer"):
        layer.forward(np.zeros((2, 30, 12, 12), dtype=np.float32))


def test_conv_names_the_expected_channels():
    with pytest.raises(ValueError, match=r"expected input with 3 channels, got \(2, 1, 8, 8\)"):
        Conv2d(3, 4, 3).forward(np.zeros((2, 1, 8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="4-D input"):
        Conv2d(1, 4, 3).forward(np.zeros((8, 8), dtype=np.float32))
    with pytest.raises(ValueError, match="larger than the padded input"):
        Conv2d(1, 4, 5).forward(np.zeros((1, 1, 4, 4), dtype=np.float32))


def test_backward_before_forward_is_a_clear_error():
    with pytest.raises(RuntimeError, match="backward called before forward"):
        Linear(2, 2).backward(np.zeros((1, 2)))


# --------------------------------------------------------------------------
# Dropout and local response normalisation
# --------------------------------------------------------------------------


def test_dropout_train_mode_drops_about_p_and_keeps_the_mean():
    layer = Dropout(0.3, rng=15)
    x = np.ones((200, 500), dtype=np.float32)
    y = layer.forward(x)
    dropped = float((y == 0).mean())
    assert abs(dropped - 0.3) < 0.01, dropped
    assert abs(float(y.mean()) - 1.0) < 0.02  # inverted dropout: kept units scaled by 1/(1-p)
    np.testing.assert_allclose(np.unique(y), [0.0, 1 / 0.7], rtol=1e-6)
    dout = rng(16).standard_normal(x.shape).astype(np.float32)
    np.testing.assert_array_equal(layer.backward(dout), dout * (y / x))


def test_dropout_eval_mode_is_the_identity_and_seeded_masks_repeat():
    x = rng(17).standard_normal((4, 10))
    layer = Dropout(0.5, rng=3).eval()
    np.testing.assert_array_equal(layer.forward(x), x)
    np.testing.assert_array_equal(layer.backward(x), x)
    a = Dropout(0.5, rng=3).forward(x)
    b = Dropout(0.5, rng=3).forward(x)
    np.testing.assert_array_equal(a, b)


def test_dropout_backward_matches_finite_differences_for_a_fixed_mask():
    layer = Dropout(0.4)
    x = rng(18).standard_normal((3, 6))

    def forward(v):
        layer.rng = np.random.default_rng(5)  # the same mask on every call
        return layer.forward(v)

    y = forward(x)
    dout = rng(19).standard_normal(y.shape)
    dx = layer.backward(dout)
    assert rel_error(dx, numerical_gradient_array(forward, x, dout)) < FD_TOL


@pytest.mark.parametrize("size, alpha, beta, k", [(5, 5e-4, 0.75, 2.0), (4, 0.3, 0.6, 1.0), (3, 1.0, 0.75, 0.5)])
def test_local_response_norm_matches_torch_and_finite_differences(size, alpha, beta, k):
    layer = LocalResponseNorm(size, alpha=alpha, beta=beta, k=k)
    x = rng(20).standard_normal((2, 7, 3, 4)) * 2
    dx = check_input_grad(layer, x)
    dout = rng(99).standard_normal(x.shape)
    y, tdx, _ = torch_grads(lambda x: tF.local_response_norm(x, size, alpha=alpha, beta=beta, k=k), x, {}, dout)
    assert_close(layer.forward(x), y, what="lrn forward")
    assert_close(dx, tdx, what="lrn dx")


def test_local_response_norm_float32_matches_torch():
    layer = LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)
    x = (rng(21).standard_normal((2, 16, 5, 5)) * 10).astype(np.float32)
    with torch.no_grad():
        expected = tF.local_response_norm(t(x), 5, alpha=5e-4, beta=0.75, k=2.0).numpy()
    assert_close(layer.forward(x), expected, what="lrn float32")


# --------------------------------------------------------------------------
# Softmax cross-entropy
# --------------------------------------------------------------------------


def test_softmax_cross_entropy_matches_torch_and_finite_differences():
    logits = rng(22).standard_normal((5, 4)) * 3
    labels = np.array([0, 3, 1, 1, 2])
    loss = SoftmaxCrossEntropy()
    value = loss(logits, labels)
    grad = loss.backward()
    lt = t(logits, True)
    tl = tF.cross_entropy(lt, torch.tensor(labels))
    tl.backward()
    assert abs(value - tl.item()) < 1e-12
    assert_close(grad, lt.grad.numpy(), what="softmax-CE dlogits")
    num = numerical_gradient(lambda z: SoftmaxCrossEntropy()(z, labels), logits.copy())
    assert rel_error(grad, num) < FD_TOL


def test_softmax_cross_entropy_accepts_one_hot_and_survives_huge_logits():
    logits = np.array([[1000.0, 0.0, -1000.0], [0.0, 2.0, 1.0]])
    labels = np.array([0, 2])
    a = SoftmaxCrossEntropy()(logits, labels)
    b = SoftmaxCrossEntropy()(logits, np.eye(3)[labels])
    assert a == b and np.isfinite(a)
    np.testing.assert_allclose(softmax(logits).sum(axis=1), 1.0, rtol=1e-12)
    with pytest.raises(ValueError, match="0..2"):
        SoftmaxCrossEntropy()(logits, np.array([0, 3]))


# --------------------------------------------------------------------------
# Initialisers, parameters, modes, containers
# --------------------------------------------------------------------------


def test_initialisers_have_the_promised_scale_and_are_seeded():
    w = he_normal((400, 500), 500, np.random.default_rng(0), np.float64)
    assert abs(w.std() - np.sqrt(2 / 500)) < 0.01 * np.sqrt(2 / 500) * 5
    limit = np.sqrt(6 / (500 + 400))
    v = xavier_uniform((400, 500), 500, 400, np.random.default_rng(0), np.float64)
    assert v.min() >= -limit and v.max() <= limit and abs(v.std() - limit / np.sqrt(3)) < 0.01 * limit
    np.testing.assert_array_equal(Conv2d(3, 4, 3, rng=7).params["weight"], Conv2d(3, 4, 3, rng=7).params["weight"])
    assert not np.array_equal(Conv2d(3, 4, 3, rng=7).params["weight"], Conv2d(3, 4, 3, rng=8).params["weight"])
    conv = Conv2d(3, 4, 3, init="xavier", rng=0)
    assert np.abs(conv.params["weight"]).max() <= np.sqrt(6 / (27 + 36))
    with pytest.raises(ValueError, match="init must be one of"):
        Linear(2, 2, init="zeros")


def test_sequential_names_parameters_like_torch_and_switches_modes():
    net = Sequential(("fc1", Linear(4, 3)), ("drop", Dropout(0.5)), Linear(3, 2))
    names = [name for name, _, _ in net.parameters()]
    assert names == ["fc1.weight", "fc1.bias", "2.weight", "2.bias"]
    assert net.num_params() == 4 * 3 + 3 + 3 * 2 + 2
    net.eval()
    assert not net["drop"].training and not net[0].training
    net.train()
    assert net["drop"].training


def test_state_dict_round_trip_and_mismatch_errors():
    a = Sequential(("fc", Linear(3, 2, rng=1)))
    b = Sequential(("fc", Linear(3, 2, rng=2)))
    b.load_state_dict(a.state_dict())
    np.testing.assert_array_equal(a["fc"].params["weight"], b["fc"].params["weight"])
    with pytest.raises(KeyError, match="missing"):
        b.load_state_dict({"fc.weight": np.zeros((2, 3))})
    with pytest.raises(ValueError, match="shape"):
        b.load_state_dict({"fc.weight": np.zeros((3, 3)), "fc.bias": np.zeros(2)})


def test_sequential_error_names_layer_index_name_and_description():
    net = Sequential(("conv1", Conv2d(1, 2, 3)), ("relu", ReLU()), ("flatten", Flatten()), ("fc1", Linear(50, 4)))
    with pytest.raises(LayerError, match=r"layer 3 'fc1' \(Linear 50->4\): expected input with 50 features, got \(2, 72\)"):
        net.forward(np.zeros((2, 1, 8, 8), dtype=np.float32))
    with pytest.raises(LayerError, match=r"layer 3 'fc1' \(Linear 50->4\)"):
        net.output_shape((1, 8, 8))
    assert net.output_shape((1, 7, 7)) == (4,)


def test_astype_converts_every_parameter_and_gradient():
    net = Sequential(Conv2d(1, 2, 3), Flatten(), Linear(8, 2)).astype(np.float64)
    assert {p.dtype for _, p, _ in net.parameters()} == {np.dtype(np.float64)}
    assert {g.dtype for _, _, g in net.parameters()} == {np.dtype(np.float64)}
