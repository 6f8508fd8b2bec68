"""conv_transpose2d, its backward and the ConvTranspose2d layer, against torch.

Tolerances: ``helpers.TOL`` against torch; finite differences in float64
to ``FD_TOL``; the adjoint identity <conv2d(z, w), x> = <z,
conv_transpose2d(x, w)> to 1e-10 relative (float64).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.utils.flop_counter import FlopCounterMode

import cnnlib
from cnnlib.functional import conv2d, conv_transpose2d, conv_transpose2d_backward
from cnnlib.gradcheck import numerical_gradient_array
from cnnlib.layers import ConvTranspose2d
from cnnlib.models import summary
from helpers import SETTINGS, assert_close, t

ALL_BACKENDS = ["naive", "im2col", "numba"]
DTYPES = [np.float32, np.float64]
FD_TOL = dict(rtol=1e-6, atol=1e-8)
FEW = settings(max_examples=10, **SETTINGS)


@st.composite
def transpose_cases(draw):
    """Valid transposed-convolution problems: output_padding < max(stride, dilation), output >= 1."""
    groups = draw(st.integers(1, 3))
    cin, cout = groups * draw(st.integers(1, 2)), groups * draw(st.integers(1, 2))
    kernel, stride, padding, dilation, out_pad, size = [], [], [], [], [], []
    for _ in range(2):
        h = draw(st.integers(1, 5))
        k = draw(st.integers(1, 3))
        s = draw(st.integers(1, 3))
        d = draw(st.integers(1, 2)) if k > 1 else 1
        a = draw(st.integers(0, max(s, d) - 1))
        full = (h - 1) * s + d * (k - 1) + 1 + a
        p = draw(st.integers(0, min(2, (full - 1) // 2)))  # keeps at least one output row
        size.append(h), kernel.append(k), stride.append(s), dilation.append(d), out_pad.append(a), padding.append(p)
    return dict(n=draw(st.integers(1, 2)), cin=cin, cout=cout, groups=groups, size=tuple(size), kernel=tuple(kernel),
                stride=tuple(stride), padding=tuple(padding), output_padding=tuple(out_pad), dilation=tuple(dilation),
                seed=draw(st.integers(0, 2**32 - 1)))


def _arrays(case, dtype):
    rng = np.random.default_rng(case["seed"])
    x = rng.standard_normal((case["n"], case["cin"], *case["size"])).astype(dtype)
    w = rng.standard_normal((case["cin"], case["cout"] // case["groups"], *case["kernel"])).astype(dtype)
    b = rng.standard_normal(case["cout"]).astype(dtype)
    return x, w, b


def _kw(case):
    return {k: case[k] for k in ("stride", "padding", "output_padding", "groups", "dilation")}


def _check(case, backend, dtype):
    x, w, b = _arrays(case, dtype)
    kw = _kw(case)
    xt, wt, bt = t(x, True), t(w, True), t(b, True)
    yt = TF.conv_transpose2d(xt, wt, bt, **kw)
    dout = np.random.default_rng(case["seed"] + 1).standard_normal(yt.shape).astype(dtype)
    yt.backward(t(dout))
    assert_close(conv_transpose2d(x, w, b, **kw, backend=backend), yt.detach().numpy(), dtype,
                 "conv_transpose2d forward")
    dx, dw, db = conv_transpose2d_backward(dout, x, w, **kw, backend=backend)
    assert_close(dx, xt.grad.numpy(), dtype, "conv_transpose2d backward dx")
    assert_close(dw, wt.grad.numpy(), dtype, "conv_transpose2d backward dw")
    assert_close(db, bt.grad.numpy(), dtype, "conv_transpose2d backward db")


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@FEW
@given(case=transpose_cases())
def test_conv_transpose2d_vs_torch(case, backend, dtype):
    _check(case, backend, dtype)


EDGE = {
    # output_padding above the padding: the extra rows/columns are partly zero
    "output_padding > padding": dict(n=1, cin=2, cout=3, groups=1, size=(3, 4), kernel=(3, 2), stride=(3, 2),
                                     padding=(0, 0), output_padding=(2, 1), dilation=(1, 1), seed=1),
    # allowed by torch because it is below the dilation, though not below the stride
    "output_padding >= stride, < dilation": dict(n=2, cin=2, cout=2, groups=2, size=(3, 3), kernel=(2, 3),
                                                 stride=(1, 1), padding=(1, 0), output_padding=(1, 2),
                                                 dilation=(2, 3), seed=2),
    "depthwise upsampling x2": dict(n=2, cin=4, cout=4, groups=4, size=(4, 5), kernel=(4, 4), stride=(2, 2),
                                    padding=(1, 1), output_padding=(0, 0), dilation=(1, 1), seed=3),
}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("backend", ALL_BACKENDS)
@pytest.mark.parametrize("name", list(EDGE))
def test_conv_transpose2d_edge_cases_vs_torch(name, backend, dtype):
    _check(EDGE[name], backend, dtype)


def test_conv_transpose2d_is_the_adjoint_of_conv2d():
    """<conv2d(z, w), x> == <z, conv_transpose2d(x, w)> for z of the transposed output's shape."""
    case = EDGE["output_padding > padding"] | dict(padding=(1, 1), output_padding=(2, 1))
    x, w, _ = _arrays(case, np.float64)
    kw = _kw(case)
    y = conv_transpose2d(x, w, **kw)
    z = np.random.default_rng(5).standard_normal(y.shape)
    # conv2d of z with the same weight, read as (F = C_in, C = C_out / groups), maps back to x's shape
    fwd = conv2d(z, w, stride=kw["stride"], padding=kw["padding"], dilation=kw["dilation"], groups=kw["groups"])
    fwd = fwd[:, :, :x.shape[2], :x.shape[3]]
    np.testing.assert_allclose(np.sum(fwd * x), np.sum(z * y), rtol=1e-10)


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_conv_transpose2d_backward_vs_finite_differences(backend):
    case = EDGE["output_padding >= stride, < dilation"] | dict(stride=(2, 1), output_padding=(1, 0))
    x, w, b = _arrays(case, np.float64)
    kw = _kw(case)
    dout = np.random.default_rng(0).standard_normal(conv_transpose2d(x, w, b, **kw).shape)
    dx, dw, db = conv_transpose2d_backward(dout, x, w, **kw, backend=backend)
    f = lambda v: conv_transpose2d(v, w, b, **kw, backend=backend)  # noqa: E731
    np.testing.assert_allclose(dx, numerical_gradient_array(f, x, dout), **FD_TOL)
    g = lambda v: conv_transpose2d(x, v, b, **kw, backend=backend)  # noqa: E731
    np.testing.assert_allclose(dw, numerical_gradient_array(g, w, dout), **FD_TOL)
    h = lambda v: conv_transpose2d(x, w, v, **kw, backend=backend)  # noqa: E731
    np.testing.assert_allclose(db, numerical_gradient_array(h, b.copy(), dout), **FD_TOL)


@pytest.mark.parametrize("kwargs, match", [
    (dict(stride=2, output_padding=2), r"output_padding \(2, 2\) must be smaller than either stride"),
    (dict(stride=1, dilation=2, output_padding=(0, 2)), "must be smaller than either stride"),
    (dict(groups=4), "6 channels, which is not divisible by groups"),
    (dict(padding=5), "padding .* is too large"),
    (dict(padding="same"), "must be an int or a pair"),
])
def test_bad_transpose_arguments_give_clear_errors(kwargs, match):
    x, w = np.zeros((1, 6, 3, 3)), np.zeros((6, 2, 3, 3))
    with pytest.raises(ValueError, match=match):
        conv_transpose2d(x, w, **kwargs)
    if "padding" not in kwargs or kwargs["padding"] != 5:
        with pytest.raises(ValueError, match=match):
            conv_transpose2d_backward(np.zeros((1, 2, 5, 5)), x, w, **kwargs)


def test_transpose_shape_errors_name_the_argument():
    x = np.zeros((1, 6, 3, 3))
    with pytest.raises(ValueError, match="x has 6 channels .* this one has 4 input channels"):
        conv_transpose2d(x, np.zeros((4, 2, 3, 3)))
    with pytest.raises(ValueError, match=r"bias has shape \(3,\) but the output has 2 channels"):
        conv_transpose2d(x, np.zeros((6, 2, 3, 3)), np.zeros(3))
    with pytest.raises(ValueError, match=r"dout has shape \(1, 2, 4, 4\), .* gives \(1, 2, 5, 5\)"):
        conv_transpose2d_backward(np.zeros((1, 2, 4, 4)), x, np.zeros((6, 2, 3, 3)))
    with pytest.raises(ValueError, match="x must be 4-D"):
        conv_transpose2d(np.zeros((6, 3, 3)), np.zeros((6, 2, 3, 3)))


# --------------------------------------------------------------------------
# The layer
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", ALL_BACKENDS)
def test_conv_transpose2d_layer_vs_torch(backend):
    kw = dict(stride=2, padding=1, output_padding=1, groups=2, dilation=1)
    layer = ConvTranspose2d(4, 6, 3, rng=0, dtype=np.float64, **kw)
    layer.params["bias"][...] = np.linspace(-1, 1, 6)
    twin = torch.nn.ConvTranspose2d(4, 6, 3, **kw).double()
    with torch.no_grad():
        twin.weight.copy_(torch.from_numpy(layer.params["weight"]))
        twin.bias.copy_(torch.from_numpy(layer.params["bias"]))
    assert tuple(twin.weight.shape) == layer.params["weight"].shape == (4, 3, 3, 3)
    x = np.random.default_rng(1).standard_normal((2, 4, 5, 4))
    xt = t(x, True)
    yt = twin(xt)
    dout = np.random.default_rng(2).standard_normal(yt.shape)
    yt.backward(t(dout))
    with cnnlib.use_backend(backend):
        y = layer.forward(x)
        dx = layer.backward(dout)
    assert layer.output_shape((4, 5, 4)) == y.shape[1:] == (6, 10, 8)
    assert_close(y, yt.detach().numpy(), what="ConvTranspose2d layer forward")
    assert_close(dx, xt.grad.numpy(), what="ConvTranspose2d layer dx")
    assert_close(layer.grads["weight"], twin.weight.grad.numpy(), what="ConvTranspose2d layer dweight")
    assert_close(layer.grads["bias"], twin.bias.grad.numpy(), what="ConvTranspose2d layer dbias")
    # MACs: what torch's flop counter sees, halved (batch of one)
    with FlopCounterMode(display=False) as counter:
        twin(t(x[:1]))
    assert 2 * summary(layer, (4, 5, 4), show=False).total_macs == counter.get_total_flops() == 2 * 4 * 5 * 4 * 3 * 9


def test_conv_transpose2d_layer_checks_its_arguments():
    with pytest.raises(ValueError, match="must be smaller than either stride"):
        ConvTranspose2d(2, 2, 3, stride=2, output_padding=2)
    with pytest.raises(ValueError, match="divisible by groups"):
        ConvTranspose2d(3, 4, 3, groups=2)
    with pytest.raises(ValueError, match="expected a sample shape .* with 2 channels"):
        ConvTranspose2d(2, 2, 3).output_shape((3, 4, 4))
    assert ConvTranspose2d(2, 4, 4, stride=2, padding=1).describe() == "ConvTranspose2d 2->4, 4x4, stride 2, pad 1"
