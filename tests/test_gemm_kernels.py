"""The numba matrix products (``_numba_gemm``) and the Linear layer that runs on them.

* ``matmul`` (register blocks of ROWS x COLS) at every block boundary: row
  counts 1 to 2 ROWS + 1 (blocks padded by repeating the last row), column
  counts around COLS and its multiples (the last block moved back), and
  products narrower than one block (rows kept in memory); ``start`` added.
* ``matmul_transposed`` (``a @ b.T`` as dot products) with row counts not a
  multiple of 4 and depths across several k tiles.
* Tolerances, against the float64 product: float64 1e-12, float32 2e-5,
  relative to the largest |a| |b| sum of a row (the size of the rounding).
* Results do not depend on the number of threads (bit for bit).
* A Linear layer large enough for the kernels (SimpleConvNet's 4320 -> 100)
  against torch, forward and both gradients, float32 and float64; its
  products do go through the kernels, and small ones stay in BLAS.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest
import torch

from cnnlib.functional import _numba_gemm, _products
from cnnlib.layers import Linear
from helpers import assert_close

ROWS, COLS = _numba_gemm.ROWS, _numba_gemm.COLS
REL = {np.float32: 2e-5, np.float64: 1e-12}


def _check(actual: np.ndarray, a: np.ndarray, b_rows: np.ndarray, start: np.ndarray | None, dtype) -> None:
    """actual vs start + a @ b_rows in float64, relative to the sum of |products| per row."""
    a64, b64 = a.astype(np.float64), b_rows.astype(np.float64)
    expected = a64 @ b64 + (0 if start is None else start.astype(np.float64))
    scale = np.abs(a64) @ np.abs(b64) + (0 if start is None else np.abs(start.astype(np.float64)))
    error = np.abs(actual.astype(np.float64) - expected) / np.maximum(scale, 1e-300)
    assert actual.dtype == dtype and actual.shape == expected.shape
    assert error.max() <= REL[dtype], f"largest relative error {error.max():.3g}"


def _matmul_case(rows: int, cols: int, depth: int, dtype, seed: int) -> None:
    rng = np.random.default_rng(seed)
    a = rng.standard_normal((rows, depth)).astype(dtype)
    b = rng.standard_normal((depth, cols)).astype(dtype)
    start = rng.standard_normal(cols).astype(dtype)
    out = np.full((rows, cols), np.nan, dtype=dtype)
    _numba_gemm.matmul(a, b, start, out)
    _check(out, a, b, start, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows", list(range(1, 2 * ROWS + 2)))
def test_matmul_every_row_remainder(rows, dtype):
    for cols in (COLS, COLS + 1, 2 * COLS - 1, 3 * COLS + 3):
        _matmul_case(rows, cols, 37, dtype, seed=rows * cols)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("cols", [1, 2, COLS // 2, COLS - 1])
def test_matmul_narrower_than_one_block(cols, dtype):
    for rows in (1, 3, 4, 9):  # blocks of four rows and single rows
        _matmul_case(rows, cols, 20, dtype, seed=rows * cols)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("rows, cols, depth", [(1, 1, 1), (3, 7, 5), (4, 4, 64), (5, 9, 1025), (13, 100, 4320),
                                               (8, 3, 2049)])
def test_matmul_transposed(rows, cols, depth, dtype):
    rng = np.random.default_rng(rows * cols)
    a = rng.standard_normal((rows, depth)).astype(dtype)
    b = rng.standard_normal((cols, depth)).astype(dtype)
    out = np.full((rows, cols), np.nan, dtype=dtype)
    _numba_gemm.matmul_transposed(a, b, out)
    _check(out, a, b.T, None, dtype)


def test_products_do_not_depend_on_the_thread_count():
    rng = np.random.default_rng(5)
    a = rng.standard_normal((100, 4320)).astype(np.float32)
    w = rng.standard_normal((100, 4320)).astype(np.float32)
    d = rng.standard_normal((100, 100)).astype(np.float32)
    before = numba.get_num_threads()
    results = []
    for threads in sorted({1, before}):
        numba.set_num_threads(threads)
        try:
            results.append([_products.matmul(a, w.T), _products.matmul(d.T, a), _products.matmul(d, w)])
        finally:
            numba.set_num_threads(before)
    for first, other in zip(results[0], results[-1]):
        np.testing.assert_array_equal(first, other)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_a_large_linear_layer_runs_on_the_kernels_and_matches_torch(dtype, monkeypatch):
    used = []
    for name in ("matmul", "matmul_transposed"):
        kernel = getattr(_numba_gemm, name)
        monkeypatch.setattr(_numba_gemm, name, lambda *args, _k=kernel, _n=name: used.append(_n) or _k(*args))
    layer = Linear(4320, 100, rng=0, dtype=dtype)
    layer.params["bias"][:] = np.linspace(-1, 1, 100)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((100, 4320)).astype(dtype)
    dout = rng.standard_normal((100, 100)).astype(dtype)
    y = layer.forward(x)
    dx = layer.backward(dout)
    assert used == ["matmul_transposed", "matmul", "matmul"]  # forward, weight gradient, input gradient

    tx = torch.tensor(x, requires_grad=True)
    tw = torch.tensor(layer.params["weight"], requires_grad=True)
    tb = torch.tensor(layer.params["bias"], requires_grad=True)
    ty = torch.nn.functional.linear(tx.double(), tw.double(), tb.double())
    ty.backward(torch.tensor(dout).double())
    assert_close(y, ty.detach().numpy(), dtype, "linear forward")
    assert_close(dx, tx.grad.numpy(), dtype, "linear dx")
    assert_close(layer.grads["weight"], tw.grad.numpy(), dtype, "linear dweight")
    assert_close(layer.grads["bias"], tb.grad.numpy(), dtype, "linear dbias")
    assert y.dtype == dx.dtype == layer.grads["weight"].dtype == dtype


def test_small_products_stay_in_blas(monkeypatch):
    monkeypatch.setattr(_numba_gemm, "matmul", lambda *args: pytest.fail("a small product reached the kernel"))
    monkeypatch.setattr(_numba_gemm, "matmul_transposed", lambda *args: pytest.fail("a small product reached the kernel"))
    layer = Linear(100, 10, rng=0)  # SimpleConvNet's second layer: 0.1 million multiply-adds per batch of 100
    x = np.random.default_rng(2).standard_normal((100, 100)).astype(np.float32)
    y = layer.forward(x)
    dx = layer.backward(np.ones_like(y))
    weight = layer.params["weight"]
    np.testing.assert_allclose(y, x @ weight.T + layer.params["bias"], rtol=1e-6, atol=1e-6)
    np.testing.assert_allclose(dx, np.ones_like(y) @ weight, rtol=1e-6, atol=1e-6)


def test_products_that_do_not_align_raise_numpys_error_instead_of_reaching_a_kernel(monkeypatch):
    monkeypatch.setattr(_numba_gemm, "matmul", lambda *args: pytest.fail("a misaligned product reached the kernel"))
    monkeypatch.setattr(_numba_gemm, "matmul_transposed",
                        lambda *args: pytest.fail("a misaligned product reached the kernel"))
    a = np.ones((100, 4320), dtype=np.float32)
    w = np.ones((100, 4321), dtype=np.float32)
    with pytest.raises(ValueError, match="mismatch"):
        _products.matmul(a, w.T)
    with pytest.raises(ValueError, match="mismatch"):
        _products.matmul(np.ones((100, 101), dtype=np.float32), w)
