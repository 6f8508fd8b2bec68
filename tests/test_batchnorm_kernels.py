"""cnnlib.functional.norm on both of its paths (numba kernels, NumPy) against torch.

PATHS: ``"numba"`` runs the kernels of ``_numba_norm``, ``"im2col"`` (any
backend other than numba) the NumPy code. Each is checked against torch:
forward, dx, dweight, dbias, the batch statistics and, through the layers,
the running statistics.

Tolerances (``_tol``): float32 rtol 1e-4, float64 rtol 1e-10, with atol
1e-4 (float32) or 1e-12 (float64) times a scale: the largest |value| of the
reference for y, mean, var and dbias, and for dx and dweight the size of
the terms that cancel in them (``|weight| inv_std |dout|`` for dx, which
is a difference of such terms and can be far smaller than each; ``sum
|dout xhat|`` for dweight). In float32 the reference is torch in float64
on the same float32 inputs, the exact answer to the question asked: torch
in float32 carries its own rounding (its dx for a channel of two values at
mean 3 and std 0.02 is off by 3e-4) and is compared once, in the large-mean
case. The large-mean case (x = 1e4 + N(0, 1) in float32) has its own
bounds, stated there; finite differences in float64 to ``FD_TOL`` as in
``test_batchnorm.py``.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlib
from cnnlib.functional import norm
from cnnlib.gradcheck import numerical_gradient_array
from cnnlib.layers import BatchNorm1d, BatchNorm2d
from helpers import SETTINGS

DTYPES = [np.float32, np.float64]
PATHS = ["numba", "im2col"]
FD_TOL = dict(rtol=1e-6, atol=1e-8)
FEW = settings(max_examples=15, **SETTINGS)


def _tol(dtype, scale: float) -> dict:
    if np.dtype(dtype) == np.float32:
        return dict(rtol=1e-4, atol=1e-4 * scale)
    return dict(rtol=1e-10, atol=1e-12 * scale)


def _close(actual, expected, dtype, what, scale=None):
    expected = np.asarray(expected)
    assert actual.shape == expected.shape, f"{what}: shape {actual.shape}, expected {expected.shape}"
    if scale is None:
        scale = float(np.abs(expected).max()) if expected.size else 1.0
    np.testing.assert_allclose(actual, expected, **_tol(dtype, max(1.0, scale)), err_msg=what)


def _scales(x, dout, weight, eps, var=None) -> tuple[float, float]:
    """(dx scale, dweight scale): the magnitude of the terms that cancel in dx and in dweight."""
    axes = (0, *range(2, x.ndim))
    x = x.astype(np.float64)
    mean, var = (x.mean(axis=axes), x.var(axis=axes)) if var is None else (0.0, np.asarray(var, np.float64))
    inv_std = 1 / np.sqrt(var + eps)
    shape = (1, -1) + (1,) * (x.ndim - 2)
    xhat = np.abs(x - np.reshape(mean, shape if np.ndim(mean) else ())) * inv_std.reshape(shape)
    dx_scale = float(np.abs(np.asarray(weight, np.float64) * inv_std).max() * np.abs(dout).max(initial=0))
    dw_scale = float((np.abs(dout) * xhat).sum(axis=axes).max(initial=0))
    return dx_scale, dw_scale


@st.composite
def shapes(draw):
    """(N, C), (N, C, L) and (N, C, H, W), odd sizes, N = 1 and C = 1 included; > 1 value per channel."""
    ndim = draw(st.sampled_from([2, 3, 4]))
    c = draw(st.integers(1, 5))
    rest = [draw(st.integers(1, 9)) for _ in range(ndim - 2)]
    per_sample = int(np.prod(rest))
    n = draw(st.integers(2 if per_sample == 1 else 1, 5))
    return (n, c, *rest)


def _data(shape, dtype, seed, loc=0.0, scale=1.0):
    rng = np.random.default_rng(seed)
    c = shape[1]
    x = (loc + scale * rng.standard_normal(shape)).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    weight = rng.uniform(0.5, 2, c).astype(dtype) * rng.choice([-1, 1], c).astype(dtype)
    bias = rng.standard_normal(c).astype(dtype)
    return x, dout, weight, bias


def _torch_train(x, dout, weight, bias, eps, dtype=None):
    """torch's training-mode batch norm: y, dx, dweight, dbias, batch mean and biased var (optionally in `dtype`)."""
    tdtype = {None: None, np.float64: torch.float64, np.float32: torch.float32}[dtype]
    xt = torch.tensor(x, dtype=tdtype, requires_grad=True)
    wt = torch.tensor(weight, dtype=tdtype, requires_grad=True)
    bt = torch.tensor(bias, dtype=tdtype, requires_grad=True)
    yt = torch.nn.functional.batch_norm(xt, None, None, wt, bt, training=True, eps=eps)
    yt.backward(torch.tensor(dout, dtype=tdtype))
    dims = [0, *range(2, x.ndim)]
    with torch.no_grad():
        mean = xt.mean(dim=dims)
        var = xt.var(dim=dims, unbiased=False)
    return [v.detach().numpy() for v in (yt, xt.grad, wt.grad, bt.grad, mean, var)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(shape=shapes(), seed=st.integers(0, 2**32 - 1), scale=st.sampled_from([0.1, 1.0, 10.0]),
       eps=st.sampled_from([1e-5, 1e-3]))
def test_train_forward_backward_vs_torch(shape, seed, scale, eps, dtype, path):
    x, dout, weight, bias = _data(shape, dtype, seed, loc=3.0, scale=scale)
    y, mean, var = norm.batch_norm_train(x, weight, bias, eps, backend=path)
    dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, mean, var, eps, True, backend=path)
    ty, tdx, tdw, tdb, tmean, tvar = _torch_train(x, dout, weight, bias, eps, dtype=np.float64)
    dx_scale, dw_scale = _scales(x, dout, weight, eps)
    for ours, theirs, what, size in ((y, ty, "y", None), (dx, tdx, "dx", dx_scale), (dweight, tdw, "dweight", dw_scale),
                                     (dbias, tdb, "dbias", None)):
        assert ours.dtype == dtype, what
        _close(ours, theirs, dtype, what, size)
    assert mean.dtype == var.dtype == np.float64
    _close(mean, tmean, dtype, "mean")
    _close(var, tvar, dtype, "var")


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(shape=shapes(), seed=st.integers(0, 2**32 - 1))
def test_eval_forward_backward_vs_torch(shape, seed, dtype, path):
    x, dout, weight, bias = _data(shape, dtype, seed)
    c = shape[1]
    rng = np.random.default_rng(seed + 1)
    rm, rv = rng.standard_normal(c).astype(dtype), rng.uniform(0.2, 3, c).astype(dtype)
    y = norm.batch_norm_eval(x, rm, rv, weight, bias, 1e-5, backend=path)
    dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, rm, rv, 1e-5, False, backend=path)
    xt, wt, bt = (torch.tensor(a, requires_grad=True) for a in (x, weight, bias))
    yt = torch.nn.functional.batch_norm(xt, torch.tensor(rm), torch.tensor(rv), wt, bt, training=False, eps=1e-5)
    yt.backward(torch.tensor(dout))
    dx_scale, dw_scale = _scales(x, dout, weight, 1e-5, rv)
    for ours, theirs, what, size in ((y, yt, "y", None), (dx, xt.grad, "dx", dx_scale),
                                     (dweight, wt.grad, "dweight", dw_scale), (dbias, bt.grad, "dbias", None)):
        assert ours.dtype == dtype, what
        _close(ours, theirs.detach().numpy(), dtype, what, size)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("dtype", DTYPES)
@FEW
@given(shape=shapes(), seed=st.integers(0, 2**32 - 1), momentum=st.sampled_from([0.1, None]),
       affine=st.booleans())
def test_layers_on_each_path_vs_torch(shape, seed, momentum, affine, dtype, path):
    """Two training steps (running statistics included), then one in eval mode, through the layers."""
    c = shape[1]
    ours = (BatchNorm2d if len(shape) == 4 else BatchNorm1d)(c, momentum=momentum, affine=affine, dtype=dtype)
    theirs = (torch.nn.BatchNorm2d if len(shape) == 4 else torch.nn.BatchNorm1d)(c, momentum=momentum, affine=affine)
    theirs = theirs.to(torch.float64 if dtype == np.float64 else torch.float32)
    rng = np.random.default_rng(seed)
    if affine:
        ours.params["weight"][...] = rng.uniform(0.5, 2, c)
        ours.params["bias"][...] = rng.standard_normal(c)
        with torch.no_grad():
            theirs.weight.copy_(torch.from_numpy(ours.params["weight"]))
            theirs.bias.copy_(torch.from_numpy(ours.params["bias"]))
    for step in range(3):
        if step == 2:
            ours.eval(), theirs.eval()
        x = (rng.standard_normal(shape) * (1 + step) + 2 * step).astype(dtype)
        dout = rng.standard_normal(shape).astype(dtype)
        xt = torch.tensor(x, requires_grad=True)
        yt = theirs(xt)
        yt.backward(torch.tensor(dout))
        with cnnlib.use_backend(path):
            y = ours.forward(x)
            dx = ours.backward(dout)
        weight = ours.params["weight"] if affine else np.ones(c)
        dx_scale, dw_scale = _scales(x, dout, weight, ours.eps, None if step < 2 else ours.running_var)
        _close(y, yt.detach().numpy(), dtype, f"y step {step}")
        _close(dx, xt.grad.numpy(), dtype, f"dx step {step}", dx_scale)
        if affine:
            _close(ours.grads["weight"], theirs.weight.grad.numpy(), dtype, "dweight", dw_scale)
            _close(ours.grads["bias"], theirs.bias.grad.numpy(), dtype, "dbias")
            theirs.zero_grad()
        _close(ours.running_mean, theirs.running_mean.numpy(), dtype, "running_mean")
        _close(ours.running_var, theirs.running_var.numpy(), dtype, "running_var")
    assert int(ours.buffers["num_batches_tracked"]) == int(theirs.num_batches_tracked) == 2


EDGE_SHAPES = [(1, 1, 1, 2), (2, 1), (1, 3, 2), (2, 1, 1, 1), (1, 1, 7, 5), (3, 2, 1), (1, 2, 1, 13)]


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", EDGE_SHAPES)
def test_smallest_valid_batches_vs_torch(shape, path):
    """Two values per channel, N = 1 with H W > 1, C = 1: the fewest values the training formulas accept."""
    x, dout, weight, bias = _data(shape, np.float64, 7)
    y, mean, var = norm.batch_norm_train(x, weight, bias, backend=path)
    dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, mean, var, backend=path)
    dx_scale, dw_scale = _scales(x, dout, weight, 1e-5)
    for ours, theirs, what, size in zip((y, dx, dweight, dbias, mean, var), _torch_train(x, dout, weight, bias, 1e-5),
                                        ("y", "dx", "dweight", "dbias", "mean", "var"),
                                        (None, dx_scale, dw_scale, None, None, None)):
        _close(ours, theirs, np.float64, what, size)


@pytest.mark.parametrize("path", PATHS)
@pytest.mark.parametrize("shape", [(0, 3), (0, 3, 4, 4), (2, 3, 0, 4)])
def test_empty_batch_in_eval_mode(shape, path):
    """No values: valid in eval mode (fixed statistics); the gradient sums are 0, as torch's."""
    x = np.zeros(shape, np.float32)
    y = norm.batch_norm_eval(x, np.zeros(3), np.ones(3), np.ones(3), np.ones(3), backend=path)
    dx, dweight, dbias = norm.batch_norm_backward(x, x, np.ones(3), np.zeros(3), np.ones(3), training=False,
                                                  backend=path)
    assert y.shape == dx.shape == shape and y.dtype == np.float32
    np.testing.assert_array_equal(dweight, np.zeros(3))
    np.testing.assert_array_equal(dbias, np.zeros(3))
    with pytest.raises(ValueError, match="needs more than 1 value per channel"):
        norm.batch_norm_train(x, backend=path)


@pytest.mark.parametrize("path", PATHS)
def test_large_mean_float32(path):
    """x = 1e4 + N(0, 1) in float32: no cancellation in the variance.

    The truth is torch in float64 on the same float32 values. The kernels
    centre in float64 and round once: y and dx to 1e-5. The NumPy path,
    like torch in float32, centres in float32 with a mean rounded to
    float32, an error of up to an ulp of 1e4 (9.8e-4) in x - mean:
    y to 2e-3 (|weight| <= 2), dx to 1e-3 there. The variance (biased) to
    1e-5 relative on both: a naive E[x^2] - E[x]^2 in float32 would be off
    by ~100%.
    """
    shape = (8, 3, 9, 11)
    x, dout, weight, bias = _data(shape, np.float32, 3, loc=1e4)
    y, mean, var = norm.batch_norm_train(x, weight, bias, backend=path)
    dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, mean, var, backend=path)
    ty, tdx, tdw, tdb, tmean, tvar = _torch_train(x, dout, weight, bias, 1e-5, dtype=np.float64)
    np.testing.assert_allclose(var, tvar, rtol=1e-5)
    # the kernels' mean is float64; the NumPy path's a float32 sum, rounded to an ulp of 1e4 (9.8e-4)
    np.testing.assert_allclose(mean, tmean, rtol=1e-12 if path == "numba" else 1e-7)
    bound = 1e-5 if path == "numba" else 2e-3
    np.testing.assert_allclose(y, ty, rtol=0, atol=bound)
    np.testing.assert_allclose(dx, tdx, rtol=0, atol=bound / 2)
    np.testing.assert_allclose(dweight, tdw, rtol=1e-4, atol=bound * x[:, 0].size ** 0.5)
    np.testing.assert_allclose(dbias, tdb, rtol=1e-5)
    # and torch itself in float32, within the bounds of the NumPy path
    ty32, tdx32 = _torch_train(x, dout, weight, bias, 1e-5)[:2]
    np.testing.assert_allclose(y, ty32, rtol=0, atol=4e-3)
    np.testing.assert_allclose(dx, tdx32, rtol=0, atol=2e-3)
    # the running variance through the layer, against torch's float32 layer
    layer, twin = BatchNorm2d(3, momentum=1.0), torch.nn.BatchNorm2d(3, momentum=1.0)
    with cnnlib.use_backend(path):
        layer.forward(x)
    twin(torch.from_numpy(x))
    np.testing.assert_allclose(layer.running_var, twin.running_var.numpy(), rtol=1e-4)
    np.testing.assert_allclose(layer.running_mean, twin.running_mean.numpy(), rtol=1e-7)


@pytest.mark.parametrize("path", PATHS)
def test_large_mean_float64(path):
    """x = 1e6 + N(0, 1) in float64: the variance to 1e-10 relative, as every float64 result.

    A one-pass ``E[x^2] - E[x]^2``, even accumulated in float64, subtracts
    two numbers of size 1e12 and keeps ~1e-4 of the unit variance. y and dx
    to an atol of 1e-9: x - mean itself carries half an ulp of 1e6 (1.2e-10)
    of rounding, times |weight| inv_std <= 2, in torch's answer and in ours.
    """
    x, dout, weight, bias = _data((6, 4, 7, 9), np.float64, 4, loc=1e6)
    y, mean, var = norm.batch_norm_train(x, weight, bias, backend=path)
    dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, mean, var, backend=path)
    ty, tdx, tdw, tdb, tmean, tvar = _torch_train(x, dout, weight, bias, 1e-5)
    np.testing.assert_allclose(var, tvar, rtol=1e-10)
    np.testing.assert_allclose(mean, tmean, rtol=1e-15)
    np.testing.assert_allclose(y, ty, rtol=0, atol=1e-9)
    np.testing.assert_allclose(dx, tdx, rtol=0, atol=1e-9)
    np.testing.assert_allclose(dweight, tdw, rtol=1e-10, atol=1e-9 * x[:, 0].size)
    np.testing.assert_allclose(dbias, tdb, rtol=1e-10, atol=1e-12 * x[:, 0].size)


@pytest.mark.parametrize("dtype", DTYPES)
def test_kernel_results_do_not_depend_on_the_number_of_threads(dtype):
    x, dout, weight, bias = _data((5, 7, 13, 11), dtype, 11, loc=2.0)
    before = numba.get_num_threads()
    results = []
    try:
        for threads in (1, 2):
            numba.set_num_threads(threads)
            y, mean, var = norm.batch_norm_train(x, weight, bias, backend="numba")
            grads = norm.batch_norm_backward(dout, x, weight, mean, var, backend="numba")
            y_eval = norm.batch_norm_eval(x, mean, var, weight, bias, backend="numba")
            grads_eval = norm.batch_norm_backward(dout, x, weight, mean, var, training=False, backend="numba")
            results.append((y, mean, var, *grads, y_eval, *grads_eval))
    finally:
        numba.set_num_threads(before)
    for one, two in zip(*results):
        np.testing.assert_array_equal(one, two)


def test_kernel_and_numpy_paths_agree_in_float64():
    x, dout, weight, bias = _data((4, 6, 5, 3), np.float64, 5, loc=-1.5, scale=2.0)
    outs = {}
    for path in PATHS:
        y, mean, var = norm.batch_norm_train(x, weight, bias, backend=path)
        outs[path] = (y, mean, var, *norm.batch_norm_backward(dout, x, weight, mean, var, backend=path))
    for a, b in zip(outs["numba"], outs["im2col"]):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-13)


@pytest.mark.parametrize("training", [True, False])
@pytest.mark.parametrize("shape", [(3, 2), (1, 2, 5), (2, 3, 3, 2), (1, 1, 2, 3)])
def test_kernel_path_vs_finite_differences(shape, training):
    """dx, dweight and dbias of the kernels against centred differences of the kernels' forward (float64)."""
    x, dout, weight, bias = _data(shape, np.float64, 2, loc=0.5)
    c = shape[1]
    rm, rv = np.linspace(-1, 1, c), np.linspace(0.5, 2, c)

    def forward(x_, w_, b_):
        if training:
            return norm.batch_norm_train(x_, w_, b_, backend="numba")[0]
        return norm.batch_norm_eval(x_, rm, rv, w_, b_, backend="numba")

    if training:
        _, mean, var = norm.batch_norm_train(x, weight, bias, backend="numba")
    else:
        mean, var = rm, rv
    dx, dweight, dbias = norm.batch_norm_backward(dout, x, weight, mean, var, training=training, backend="numba")
    np.testing.assert_allclose(dx, numerical_gradient_array(lambda v: forward(v, weight, bias), x.copy(), dout),
                               **FD_TOL)
    np.testing.assert_allclose(dweight, numerical_gradient_array(lambda v: forward(x, v, bias), weight.copy(), dout),
                               **FD_TOL)
    np.testing.assert_allclose(dbias, numerical_gradient_array(lambda v: forward(x, weight, v), bias.copy(), dout),
                               **FD_TOL)


@pytest.mark.parametrize("path", PATHS)
def test_dtypes_and_layouts(path):
    """float16 comes back float16, integers float64; a non-contiguous view gives the contiguous copy's answer."""
    x = np.random.default_rng(0).standard_normal((4, 3, 5, 6))
    ref, _, _ = norm.batch_norm_train(x, backend=path)
    y16, mean16, _ = norm.batch_norm_train(x.astype(np.float16), backend=path)
    assert y16.dtype == np.float16 and mean16.dtype == np.float64
    np.testing.assert_allclose(y16, ref, rtol=1e-2, atol=1e-2)
    yi, _, _ = norm.batch_norm_train(np.arange(24).reshape(2, 3, 4), backend=path)
    assert yi.dtype == np.float64
    view = np.swapaxes(np.ascontiguousarray(np.swapaxes(x, 2, 3)), 2, 3)  # same values, strided
    assert not view.flags.c_contiguous
    np.testing.assert_array_equal(norm.batch_norm_train(view, backend=path)[0], ref)
    big_endian = x.astype(">f8")
    np.testing.assert_array_equal(norm.batch_norm_train(big_endian, backend=path)[0], ref)


@pytest.mark.parametrize("path", PATHS)
def test_bad_arguments_name_the_argument(path):
    x = np.ones((2, 3, 4), np.float32)
    cases = [
        (lambda: norm.batch_norm_train(np.ones(3), backend=path), ValueError, r"x must be \(N, C\)"),
        (lambda: norm.batch_norm_train(x, np.ones(4), backend=path), ValueError, r"weight must have shape \(3,\)"),
        (lambda: norm.batch_norm_train(x, None, np.ones((3, 1)), backend=path), ValueError, "bias must be 1-D"),
        (lambda: norm.batch_norm_train(x, eps=0, backend=path), ValueError, "eps must be positive"),
        (lambda: norm.batch_norm_train(x, eps="1", backend=path), TypeError, "eps must be a real number"),
        (lambda: norm.batch_norm_train(x, backend="gpu"), ValueError, "backend must be one of"),
        (lambda: norm.batch_norm_train(np.ones((1, 3)), backend=path), ValueError, "more than 1 value per channel"),
        (lambda: norm.batch_norm_train(np.where(np.eye(2, 4)[:, None, :] > 0, np.nan, x), backend=path),
         ValueError, "x contains NaN or infinite"),
        (lambda: norm.batch_norm_train(x.astype(bool), backend=path), TypeError, "x has dtype bool"),
        (lambda: norm.batch_norm_eval(x, np.zeros(3), -np.ones(3), backend=path), ValueError, "running_var must be >= 0"),
        (lambda: norm.batch_norm_eval(x, None, np.ones(3), backend=path), TypeError, "running_mean must be an array"),
        (lambda: norm.batch_norm_backward(np.ones((2, 3, 5)), x, None, np.zeros(3), np.ones(3), backend=path),
         ValueError, r"dout has shape \(2, 3, 5\)"),
        (lambda: norm.batch_norm_backward(np.full_like(x, np.inf), x, None, np.zeros(3), np.ones(3), backend=path),
         ValueError, "dout contains NaN or infinite"),
        (lambda: norm.batch_norm_backward(x, x, None, np.zeros(3), np.ones(3), training=1, backend=path),
         TypeError, "training must be True or False"),
    ]
    for call, error, message in cases:
        with pytest.raises(error, match=message):
            call()
