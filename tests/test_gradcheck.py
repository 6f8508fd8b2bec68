"""cnnlib.gradcheck: finite differences on functions whose gradient is known."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from cnnlib.functional import conv2d, conv2d_backward
from cnnlib.gradcheck import numerical_gradient, numerical_gradient_array, rel_error
from helpers import FAST


def test_numerical_gradient_of_sum_of_squares_is_2x():
    x = np.random.default_rng(0).standard_normal((3, 4))
    grad = numerical_gradient(lambda v: np.sum(v**2), x)
    # for a quadratic the centred difference is exact up to rounding
    np.testing.assert_allclose(grad, 2 * x, rtol=1e-8, atol=1e-9)
    assert rel_error(grad, 2 * x) < 1e-7


def test_numerical_gradient_has_second_order_error():
    x = np.linspace(-1.0, 2.0, 7)
    exact = 3 * x**2  # d/dx sum(x^3); the centred difference is off by h^2 (exactly, for a cubic)
    for h in (1e-2, 1e-3):
        grad = numerical_gradient(lambda v: np.sum(v**3), x, h=h)
        np.testing.assert_allclose(grad - exact, np.full_like(x, h**2), rtol=1e-4, atol=1e-12)


def test_numerical_gradient_restores_x_and_perturbs_in_place():
    x = np.arange(6, dtype=np.float64).reshape(2, 3)
    original = x.copy()
    seen = []

    def f(v):
        seen.append(v is x)
        return float(np.sum(np.sin(v)))

    grad = numerical_gradient(f, x)
    assert np.array_equal(x, original)
    assert all(seen) and len(seen) == 2 * x.size  # two evaluations per element
    np.testing.assert_allclose(grad, np.cos(x), rtol=1e-8, atol=1e-10)


def test_numerical_gradient_array_is_the_vector_jacobian_product():
    rng = np.random.default_rng(1)
    a = rng.standard_normal((4, 3))
    x = rng.standard_normal(3)
    dout = rng.standard_normal(4)
    np.testing.assert_allclose(numerical_gradient_array(lambda v: a @ v, x, dout), a.T @ dout, rtol=1e-8, atol=1e-10)
    # elementwise square: dout * 2x
    y = rng.standard_normal((2, 5))
    d = rng.standard_normal((2, 5))
    np.testing.assert_allclose(numerical_gradient_array(lambda v: v**2, y, d), 2 * y * d, rtol=1e-8, atol=1e-10)


def test_numerical_gradient_checks_the_conv2d_backward():
    rng = np.random.default_rng(2)
    x, w = rng.standard_normal((1, 2, 4, 4)), rng.standard_normal((2, 2, 2, 2))
    dout = rng.standard_normal((1, 2, 3, 3))
    dx, dw, _ = conv2d_backward(dout, x, w)
    assert rel_error(dx, numerical_gradient(lambda v: np.sum(conv2d(v, w) * dout), x.copy())) < 1e-7
    assert rel_error(dw, numerical_gradient(lambda v: np.sum(conv2d(x, v) * dout), w.copy())) < 1e-7
    # a wrong gradient (the kernel not rotated) is caught
    wrong = conv2d(np.pad(dout, [(0, 0), (0, 0), (1, 1), (1, 1)]), w.transpose(1, 0, 2, 3))
    assert rel_error(wrong, dx) > 1e-2


@pytest.mark.parametrize("x, error, message", [
    (np.zeros(3, np.float32), TypeError, "x must be a float64 NumPy array"),
    ([1.0, 2.0], TypeError, r"x must be a float64 NumPy array \(got list\)"),
    (np.zeros(3, np.int64), TypeError, "float64"),
])
def test_numerical_gradient_rejects_non_float64(x, error, message):
    with pytest.raises(error, match=message):
        numerical_gradient(np.sum, x)
    with pytest.raises(error, match=message):
        numerical_gradient_array(lambda v: v, x, np.zeros(3))


def test_numerical_gradient_rejects_read_only_and_shape_mismatch():
    x = np.zeros(3)
    x.flags.writeable = False
    with pytest.raises(ValueError, match="x must be writeable"):
        numerical_gradient(np.sum, x)
    with pytest.raises(ValueError, match=r"f\(x\) has shape \(3,\) but dout has shape \(4,\)"):
        numerical_gradient_array(lambda v: v * 2, np.zeros(3), np.zeros(4))


def test_rel_error_examples():
    assert rel_error(1.0, 1.0) == 0.0
    assert rel_error([1.0, 2.0], [1.0, 2.0]) == 0.0
    assert rel_error(1.0, 1.0 + 1e-7) == pytest.approx(1e-7 / (2 + 1e-7))
    assert rel_error(1.0, -1.0) == 1.0  # opposite signs: the largest possible
    assert rel_error(0.0, 0.0) == 0.0
    assert rel_error(0.0, 1e-10) == pytest.approx(1e-2)  # the 1e-8 floor keeps tiny values from dividing by ~0
    assert rel_error([1.0, 10.0], [1.0, 11.0]) == pytest.approx(1 / 21)  # the largest elementwise error
    assert rel_error(np.zeros((0, 3)), np.zeros((0, 3))) == 0.0
    assert isinstance(rel_error(1, 2), float)
    with pytest.raises(ValueError, match=r"shapes differ: \(2,\) vs \(3,\)"):
        rel_error(np.zeros(2), np.zeros(3))


finite = st.floats(-1e6, 1e6, allow_nan=False, allow_infinity=False)


@FAST
@given(a=arrays(np.float64, st.integers(1, 6), elements=finite), data=st.data())
def test_rel_error_properties(a, data):
    b = data.draw(arrays(np.float64, a.shape, elements=finite))
    e = rel_error(a, b)
    assert 0.0 <= e <= 1.0
    assert e == rel_error(b, a)
    assert rel_error(a, a) == 0.0
    assert rel_error(a, b) == rel_error(-a, -b)
    # scale invariant once the values are far above the 1e-8 floor
    if np.all(np.abs(a) + np.abs(b) > 1e-3):
        assert rel_error(3 * a, 3 * b) == pytest.approx(e, rel=1e-9, abs=1e-15)
