"""The numba kernels of ReLU and Adam give exactly the NumPy expressions' results.

They replace NumPy code for speed only, so the test is equality, bit for
bit (signs of zeros and NaN included), in float32 and float64, and for one
and two threads; the NumPy path itself is tested against torch elsewhere
(tests/test_layers.py, tests/test_train.py).
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

import cnnlib
from cnnlib.layers import ReLU
from cnnlib.train import Adam
from helpers import SETTINGS, assert_same_bits

DTYPES = [np.float32, np.float64]


@pytest.mark.parametrize("dtype", DTYPES)
@settings(max_examples=25, **SETTINGS)
@given(shape=st.lists(st.integers(1, 40), min_size=1, max_size=4), seed=st.integers(0, 2**32 - 1))
def test_relu_kernels_equal_numpy(shape, seed, dtype):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal(shape).astype(dtype)
    dout = rng.standard_normal(shape).astype(dtype)
    flat = x.reshape(-1)
    flat[: min(4, flat.size)] = [np.nan, 0.0, -0.0, np.inf][: min(4, flat.size)]
    dout.reshape(-1)[-1] = -np.inf
    kernel, reference = ReLU(), ReLU()
    y, dx = kernel.forward(x), kernel.backward(dout)
    with cnnlib.use_backend("im2col"), np.errstate(invalid="ignore"):  # inf * 0 is NaN, on purpose
        y_ref, dx_ref = reference.forward(x), reference.backward(dout)
        assert_same_bits(dx_ref, dout * (x > 0))
    assert_same_bits(y, y_ref)
    assert_same_bits(dx, dx_ref)
    assert_same_bits(y_ref, np.maximum(x, 0))


class _OneParameter:
    """A stand-in model with one parameter and a fixed gradient (what Adam reads)."""

    def __init__(self, param, grad):
        self.param, self.grad = param, grad

    def parameters(self):
        return [("w", self.param, self.grad)]


@pytest.mark.parametrize("threads", [1, 2])
@pytest.mark.parametrize("dtype", DTYPES)
def test_adam_kernel_equals_numpy(dtype, threads):
    rng = np.random.default_rng(7)
    start = rng.standard_normal(50_000).astype(dtype)
    fused, reference = _OneParameter(start.copy(), None), _OneParameter(start.copy(), None)
    adam_fused = Adam(fused, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    adam_reference = Adam(reference, lr=0.01, betas=(0.8, 0.99), eps=1e-6)
    before = numba.get_num_threads()
    numba.set_num_threads(threads)
    try:
        for _ in range(6):
            fused.grad = reference.grad = rng.standard_normal(start.shape).astype(dtype)
            adam_fused.step()
            with cnnlib.use_backend("naive"):
                adam_reference.step()
    finally:
        numba.set_num_threads(before)
    assert_same_bits(fused.param, reference.param)
    for key in ("m", "v"):
        assert_same_bits(adam_fused.state["w"][key], adam_reference.state["w"][key])
    assert not np.array_equal(fused.param, start)  # it moved
