"""Grouped and depthwise conv2d (``groups=``), functional and layer, against torch.

Tolerances: ``helpers.TOL`` against torch (float64 rtol 1e-10 / atol 1e-12,
float32 rtol 1e-4 / atol 1e-4); finite differences in float64 to
``FD_TOL`` (a convolution is linear in each argument, so the centred
difference has only rounding error).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlib
from cnnlib.functional import conv2d, conv2d_backward
from cnnlib.gradcheck import numerical_gradient_array
from cnnlib.layers import Conv2d
from helpers import SETTINGS, assert_close, t

ALL_BACKENDS = ["naive", "im2col", "numba"]
DTYPES = [np.float32, np.float64]
FD_TOL = dict(rtol=1e-6, atol=1e-8)
TOL_F64 = dict(rtol=1e-10, atol=1e-12)
FEW = settings(max_examples=10, **SETTINGS)


@st.composite
def grouped_cases(draw):
    """(x, weight, bias, dout shapes and hyper-parameters, seed) with C and F multiples of groups."""
    groups = draw(st.integers(1, 4))
    c = groups * draw(st.integers(1, 2))
    f = groups * draw(st.integers(1, 2))
    kernel, stride, padding, dilation, size = [], [], [], [], []
    for _ in range(2):
        k = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if k > 1 else 1
        p = draw(st.integers(0, 2))
        s = draw(st.integers(1, 2))
        smallest = max(1, d * (k - 1) + 1 - 2 * p)
        size.append(draw(st.integers(smallest, smallest + 4)))
        kernel.append(k), stride.append(s), padding.append(p), dilation.append(d)
    return dict(n=draw(st.integers(1, 2)), c=c, f=f, groups=groups, size=tuple(size), kernel=tuple(kernel),
                stride=tuple(stride), padding=tuple(padding), dilation=tuple(dilation),
                seed=draw(st.integers(0, 2**32 - 1)))


def _arrays(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["c"], *case["size"])).astype(dtype)
    w = rng.standard_normal((case["f"], case["c"] // case["groups"], *case["kernel"])).astype(dtype)
    b = rng.standard_normal(case["f"]).astype(dtype)
    return x, w, b


def _kw(case):
    return dict(stride=case["stride"], padding=case["padding"], dilation=case["dilation"], groups=case["groups"])


def _check(case, backend, dtype):
    x, w, b = _arrays(case, dtype)
    kw = _kw(case)
    xt, wt, bt = t(x, True), t(w, True), t(b, True)
    yt = TF.conv2d(xt, wt, bt, **kw)
    dout = np.random.default_rng(case["seed"] + 1).standard_normal(yt.shape).astype(dtype)
    yt.backward(t(dout))
    assert_close(conv2d(x, w, b, backend=backend, **kw), yt.detach().numpy(), dtype, "grouped conv2d forward")
    dx, dw, db = conv2d_backward(dout, x, w, backend=backend, **kw)
    assert_close(dx, xt.grad.numpy(), dtype, "grouped conv2d backward dx")
    assert_close(dw, wt.grad.numpy(), dtype, "grouped conv2d backward dw")
    assert_close(db, bt.grad.numpy(), dtype, "grouped conv2d backward db")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@FEW
@given(case=grouped_cases())
def test_grouped_conv2d_vs_torch(case, backend, dtype):
    _check(case, backend, dtype)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("multiplier", [1, 2])
def test_depthwise_conv2d_vs_torch(multiplier, backend, dtype):
    """groups = C: MobileNet's depthwise 3x3 (multiplier 1) and a channel multiplier of 2."""
    case = dict(n=2, c=5, f=5 * multiplier, groups=5, size=(7, 6), kernel=(3, 3), stride=(2, 1), padding=(1, 1),
                dilation=(1, 1), seed=3)
    _check(case, backend, dtype)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_grouped_conv2d_backward_vs_finite_differences(backend):
    case = dict(n=2, c=4, f=6, groups=2, size=(5, 4), kernel=(3, 2), stride=(2, 1), padding=(1, 0),
                dilation=(1, 2), seed=11)
    x, w, b = _arrays(case, np.float64)
    kw = _kw(case)
    dout = np.random.default_rng(0).standard_normal(conv2d(x, w, b, backend=backend, **kw).shape)
    dx, dw, _ = conv2d_backward(dout, x, w, backend=backend, **kw)
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: conv2d(v, w, b, backend=backend, **kw), x, dout),
                               **FD_TOL)
    np.testing.assert_allclose(dw, numerical_gradient_array(lambda v: conv2d(x, v, b, backend=backend, **kw), w, dout),
                               **FD_TOL)


def test_groups_one_is_the_dense_convolution():
    """groups=1 runs the backend directly and gives the ungrouped result exactly."""
    rng = np.random.default_rng(0)
    x, w = rng.standard_normal((2, 4, 6, 6)), rng.standard_normal((3, 4, 3, 3))
    np.testing.assert_array_equal(conv2d(x, w, groups=1), conv2d(x, w))


@pytest.mark.parametrize("x_shape, w_shape, groups, match", [
    ((1, 6, 5, 5), (4, 2, 3, 3), 4, "6 channels, which is not divisible by groups"),
    ((1, 6, 5, 5), (5, 3, 3, 3), 2, "5 filters .* not divisible by groups"),
    ((1, 6, 5, 5), (4, 2, 3, 3), 2, r"expected weight.shape\[1\] == in_channels / groups = 3"),
    ((1, 6, 5, 5), (4, 3, 3, 3), 0, "groups must be >= 1"),
])
def test_bad_groups_give_clear_errors(x_shape, w_shape, groups, match):
    x, w = np.zeros(x_shape), np.zeros(w_shape)
    with pytest.raises(ValueError, match=match):
        conv2d(x, w, groups=groups)
    with pytest.raises(ValueError, match=match):
        conv2d_backward(np.zeros((1, w_shape[0], 3, 3)), x, w, groups=groups)


def test_groups_must_be_an_integer():
    with pytest.raises(TypeError, match="groups must be an integer"):
        conv2d(np.zeros((1, 4, 3, 3)), np.zeros((2, 2, 1, 1)), groups=2.0)


# --------------------------------------------------------------------------
# The Conv2d layer: groups through the functional call, dilation, "same"
# --------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore:Using padding='same'")
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("kwargs", [
    dict(groups=3, stride=2, padding=1),
    dict(groups=6, padding="same", dilation=2),
    dict(groups=1, padding="same", kernel_size=(2, 4)),
    dict(groups=2, padding="valid", dilation=(2, 1)),
])
def test_conv2d_layer_vs_torch(kwargs, backend):
    kwargs = dict(kwargs)
    kernel = kwargs.pop("kernel_size", 3)
    layer = Conv2d(6, 12, kernel, rng=1, dtype=np.float64, **kwargs)
    torch_layer = torch.nn.Conv2d(6, 12, kernel, **kwargs).double()
    with torch.no_grad():
        torch_layer.weight.copy_(torch.from_numpy(layer.params["weight"]))
        torch_layer.bias.copy_(torch.from_numpy(np.arange(12.0) / 7))
    layer.params["bias"][...] = np.arange(12.0) / 7
    x = np.random.default_rng(2).standard_normal((2, 6, 9, 8))
    xt = t(x, True)
    yt = torch_layer(xt)
    dout = np.random.default_rng(3).standard_normal(yt.shape)
    yt.backward(t(dout))
    with cnnlib.use_backend(backend):
        y = layer.forward(x)
        dx = layer.backward(dout)
    assert layer.output_shape((6, 9, 8)) == y.shape[1:]
    assert_close(y, yt.detach().numpy(), what="Conv2d layer forward")
    assert_close(dx, xt.grad.numpy(), what="Conv2d layer dx")
    assert_close(layer.grads["weight"], torch_layer.weight.grad.numpy(), what="Conv2d layer dweight")
    assert_close(layer.grads["bias"], torch_layer.bias.grad.numpy(), what="Conv2d layer dbias")


def test_conv2d_layer_describes_and_checks_its_new_arguments():
    assert Conv2d(4, 4, 3, padding="same", dilation=2, groups=4).describe() == \
        "Conv2d 4->4, 3x3, pad same, dilation 2, groups 4"
    with pytest.raises(ValueError, match="padding='same' needs stride 1"):
        Conv2d(4, 4, 3, stride=2, padding="same")
    with pytest.raises(ValueError, match="padding must be an int, a pair, 'valid' or 'same'"):
        Conv2d(4, 4, 3, padding="full")
    with pytest.raises(ValueError, match="divisible by groups"):
        Conv2d(4, 6, 3, groups=4)
    with pytest.raises(ValueError, match="dilated to 5x5"):
        Conv2d(1, 1, 3, dilation=2).output_shape((1, 4, 4))


# --------------------------------------------------------------------------
# The numba backend's depthwise kernels (groups == C, any channel multiplier)
# --------------------------------------------------------------------------


@st.composite
def depthwise_cases(draw):
    """Depthwise geometries: groups = C, F = C * multiplier, strides, padding and dilation mixed."""
    case = draw(grouped_cases())
    c = draw(st.integers(1, 6))
    return dict(case, n=draw(st.integers(1, 3)), c=c, groups=c, f=c * draw(st.integers(1, 3)))


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=40, **SETTINGS)
@given(case=depthwise_cases())
def test_numba_depthwise_kernels_vs_torch(case, dtype):
    _check(case, "numba", dtype)


def test_numba_depthwise_runs_one_kernel_not_one_call_per_channel(monkeypatch):
    """groups = C must reach the depthwise kernels: the per-group fallback would also be right, only slow."""
    from cnnlib.functional import numba_backend

    def no_dense_call(*args, **kwargs):
        raise AssertionError("a depthwise layer fell back to one dense call per channel")

    x, w = np.random.default_rng(0).standard_normal((2, 4, 6, 6)), np.random.default_rng(1).standard_normal((8, 1, 3, 3))
    expected = conv2d(x, w, groups=4, backend="im2col")
    monkeypatch.setattr(numba_backend, "conv2d", no_dense_call)
    monkeypatch.setattr(numba_backend, "conv2d_backward", no_dense_call)
    np.testing.assert_allclose(conv2d(x, w, groups=4, backend="numba"), expected, **TOL_F64)
    conv2d_backward(np.ones_like(expected), x, w, groups=4, backend="numba")


def test_numba_depthwise_backward_vs_finite_differences():
    case = dict(n=2, c=3, f=6, groups=3, size=(7, 6), kernel=(3, 2), stride=(2, 1), padding=(1, 1),
                dilation=(1, 2), seed=5)
    x, w, b = _arrays(case, np.float64)
    kw = _kw(case)
    dout = np.random.default_rng(0).standard_normal(conv2d(x, w, b, **kw).shape)
    dx, dw, db = conv2d_backward(dout, x, w, **kw)
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: conv2d(v, w, b, **kw), x, dout), **FD_TOL)
    np.testing.assert_allclose(dw, numerical_gradient_array(lambda v: conv2d(x, v, b, **kw), w, dout), **FD_TOL)
    np.testing.assert_allclose(db, numerical_gradient_array(lambda v: conv2d(x, w, v, **kw), b, dout), **FD_TOL)


def test_numba_depthwise_is_bit_identical_for_any_thread_count():
    import numba

    rng = np.random.default_rng(4)
    x, w = rng.standard_normal((3, 16, 20, 20)).astype(np.float32), rng.standard_normal((32, 1, 3, 3)).astype(np.float32)
    dout = rng.standard_normal((3, 32, 20, 20)).astype(np.float32)
    results = []
    before = numba.get_num_threads()
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            results.append((conv2d(x, w, groups=16, padding=1), *conv2d_backward(dout, x, w, groups=16, padding=1)))
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)
