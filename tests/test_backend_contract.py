"""The backend contract (cnnlib._backend.Backend), checked on every registered backend.

The numerical part of the contract -- every function against torch, finite
differences, ties, padding -- is the suite in test_conv_vs_torch.py,
test_pool_vs_torch.py, test_im2col.py and test_validation.py, parametrized
over ``helpers.BACKENDS`` (every registered backend). This file checks the
rest: the registry, the Protocol's signatures, the guarantees about dtypes,
memory and determinism, and that the default backend is per thread and per
asyncio task.

Tolerances: float16 results must equal cnnlib's own float32 result rounded
to float16 (the contract: computed in float32), and torch's float16 result
to within 2e-3 relative + 2e-3 absolute (one float16 rounding is 4.9e-4
relative, and torch rounds its float32 accumulator once too).
"""

from __future__ import annotations

import asyncio
import inspect
import threading
import types

import numpy as np
import pytest
import torch

import cnnlib
from cnnlib import _backend
from cnnlib.functional import (avg_pool2d, avg_pool2d_backward, conv1d, conv2d, conv2d_backward, conv3d, max_pool2d,
                               max_pool2d_backward, naive)
from cnnlib.im2col import col2im, im2col
from helpers import BACKENDS, EDGE_CONV_CASES, EDGE_POOL_CASES, torch_conv2d, torch_pool

HALF_TOL = dict(rtol=2e-3, atol=2e-3)


def test_every_backend_is_tested_and_satisfies_the_protocol():
    assert BACKENDS == cnnlib.registered_backends()
    assert {"naive", "im2col", "numba"} <= set(BACKENDS)
    for name in BACKENDS:
        backend = _backend.resolve(name)
        assert isinstance(backend, cnnlib.Backend), name
        for fn in _backend.CONTRACT:
            expected = list(inspect.signature(getattr(cnnlib.Backend, fn)).parameters)[1:]  # without self
            assert list(inspect.signature(getattr(backend, fn)).parameters) == expected, (name, fn)


def test_numba_is_the_library_default():
    assert _backend.LIBRARY_DEFAULT == "numba"
    result = {}
    thread = threading.Thread(target=lambda: result.setdefault("default", cnnlib.get_backend()))
    thread.start()
    thread.join()
    assert result["default"] == "numba"


@pytest.fixture
def scratch_backend():
    """A backend registered for one test: the naive one, counting its calls."""
    calls = []

    def counting(fn):
        def wrapper(*args):
            calls.append(fn.__name__)
            return fn(*args)
        wrapper.__signature__ = inspect.signature(fn)
        return wrapper

    backend = types.SimpleNamespace(**{fn: counting(getattr(naive, fn)) for fn in _backend.CONTRACT})
    cnnlib.register_backend("scratch", backend)
    try:
        yield calls
    finally:
        del _backend._REGISTRY["scratch"]


def test_register_backend_and_use_it(scratch_backend):
    x = np.random.default_rng(0).standard_normal((1, 2, 5, 5))
    w = np.random.default_rng(1).standard_normal((3, 2, 3, 3))
    y = conv2d(x, w, backend="scratch")
    assert scratch_backend == ["conv2d"]
    assert np.array_equal(y, conv2d(x, w, backend="naive"))
    with cnnlib.use_backend("scratch"):
        max_pool2d(x, 2)
        im2col(x, 3)
    assert scratch_backend == ["conv2d", "max_pool2d", "im2col"]
    assert "scratch" in cnnlib.registered_backends()


def test_register_backend_rejects_duplicates_and_incomplete_backends(scratch_backend):
    with pytest.raises(ValueError, match="a backend named 'scratch' is already registered"):
        cnnlib.register_backend("scratch", naive)
    incomplete = types.SimpleNamespace(conv2d=naive.conv2d)
    with pytest.raises(TypeError, match=r"backend 'broken' lacks \['conv2d_backward', 'max_pool2d'"):
        cnnlib.register_backend("broken", incomplete)
    assert "broken" not in cnnlib.registered_backends()
    with pytest.raises(TypeError, match="name must be a non-empty string"):
        cnnlib.register_backend("", naive)
    with pytest.raises(ValueError, match=r"backend must be one of \['naive', 'im2col', 'numba'"):
        cnnlib.set_backend("gpu")


# --------------------------------------------------------------------------
# The default backend: per thread and per asyncio task
# --------------------------------------------------------------------------


def test_each_thread_sees_its_own_default():
    barrier = threading.Barrier(2)
    seen: dict[str, list[str]] = {}

    def worker(name: str) -> None:
        with cnnlib.use_backend(name):
            barrier.wait()  # both threads are inside their block at once
            seen[name] = [cnnlib.get_backend()]
            barrier.wait()
        seen[name].append(cnnlib.get_backend())

    before = cnnlib.get_backend()
    with cnnlib.use_backend("im2col"):
        threads = [threading.Thread(target=worker, args=(n,)) for n in ("naive", "numba")]
        for th in threads:
            th.start()
        for th in threads:
            th.join()
        assert cnnlib.get_backend() == "im2col"  # neither thread changed this one's default
    assert cnnlib.get_backend() == before
    assert seen == {"naive": ["naive", "numba"], "numba": ["numba", "numba"]}


def test_set_backend_in_a_thread_does_not_leak():
    before = cnnlib.get_backend()
    thread = threading.Thread(target=cnnlib.set_backend, args=("naive",))
    thread.start()
    thread.join()
    assert cnnlib.get_backend() == before


def test_each_asyncio_task_sees_its_own_default():
    async def task(name: str) -> list[str]:
        with cnnlib.use_backend(name):
            await asyncio.sleep(0)  # the other task runs here, inside its own block
            inside = cnnlib.get_backend()
            x = np.arange(16.0).reshape(1, 1, 4, 4)
            y = max_pool2d(x, 2)
            await asyncio.sleep(0)
        return [inside, cnnlib.get_backend(), y.tolist()]

    async def main():
        return await asyncio.gather(task("naive"), task("im2col"))

    before = cnnlib.get_backend()
    a, b = asyncio.run(main())
    assert a[:2] == ["naive", before] and b[:2] == ["im2col", before]
    assert a[2] == b[2] == [[[[5.0, 7.0], [13.0, 15.0]]]]
    assert cnnlib.get_backend() == before


def test_set_backend_then_use_backend_restores():
    before = cnnlib.get_backend()
    try:
        cnnlib.set_backend("im2col")
        with cnnlib.use_backend("naive"):
            assert cnnlib.get_backend() == "naive"
        assert cnnlib.get_backend() == "im2col"
    finally:
        cnnlib.set_backend(before)


# --------------------------------------------------------------------------
# Guarantees: dtype, contiguity, no aliasing, inputs unchanged, determinism
# --------------------------------------------------------------------------


def _all_results(backend: str, dtype):
    case = EDGE_CONV_CASES["everything"]
    x, w, b, dout = case.arrays(dtype)
    kw = case.kwargs()
    pool = dict(kernel_size=3, stride=2, padding=1)
    pdout = np.ones(max_pool2d(x, **pool, backend="naive").shape, dtype=dtype)
    col = im2col(x, (3, 2), **kw, backend=backend)
    inputs = (x, w, b, dout, pdout, col)
    results = [conv2d(x, w, b, **kw, backend=backend), *conv2d_backward(dout, x, w, **kw, backend=backend),
               max_pool2d(x, **pool, backend=backend), max_pool2d_backward(pdout, x, **pool, backend=backend),
               avg_pool2d(x, **pool, backend=backend), avg_pool2d_backward(pdout, x, **pool, backend=backend),
               col, col2im(col, x.shape, (3, 2), **kw, backend=backend)]
    return inputs, results


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_results_are_fresh_contiguous_deterministic_and_inputs_unchanged(backend, dtype):
    inputs, results = _all_results(backend, dtype)
    saved = [a.copy() for a in inputs]
    again = _all_results(backend, dtype)[1]
    for i, r in enumerate(results):
        assert r.dtype == dtype and r.flags.c_contiguous and r.dtype.isnative, i
        assert not any(np.shares_memory(r, a) for a in inputs[:5]), i
        assert np.array_equal(r, again[i]), i  # bit-identical on a second call
    for a, s in zip(inputs, saved):
        assert np.array_equal(a, s)


# --------------------------------------------------------------------------
# float16 and big-endian input: what torch gives
# --------------------------------------------------------------------------


@pytest.mark.parametrize("backend", BACKENDS)
def test_float16_in_float16_out_computed_in_float32(backend):
    case = EDGE_CONV_CASES["everything"]
    x, w, b, dout = case.arrays(np.float16)
    kw = case.kwargs()
    y = conv2d(x, w, b, **kw, backend=backend)
    assert y.dtype == np.float16
    f32 = conv2d(x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), **kw, backend=backend)
    assert np.array_equal(y, f32.astype(np.float16))
    expected = torch_conv2d(x, w, b, **kw)
    assert expected.dtype == np.float16
    np.testing.assert_allclose(y.astype(np.float32), expected.astype(np.float32), **HALF_TOL)
    grads = conv2d_backward(dout, x, w, **kw, backend=backend)
    assert [g.dtype for g in grads] == [np.float16] * 3
    pool = EDGE_POOL_CASES["overlapping 3x3 stride 2 pad 1"]
    xp, _ = pool.arrays(np.float16)
    for kind, fn in (("max", max_pool2d), ("avg", avg_pool2d)):
        got = fn(xp, backend=backend, **pool.kwargs())
        assert got.dtype == np.float16
        np.testing.assert_allclose(got.astype(np.float32), torch_pool(kind, xp, **pool.kwargs()).astype(np.float32),
                                   **HALF_TOL)
    assert im2col(x, 2, backend=backend).dtype == np.float16


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("backend", BACKENDS)
def test_big_endian_input_gives_native_output(backend, dtype):
    case = EDGE_CONV_CASES["everything"]
    x, w, b, dout = case.arrays(dtype)
    big = [a.astype(a.dtype.newbyteorder(">")) for a in (x, w, b, dout)]
    assert not big[0].dtype.isnative  # this machine is little-endian
    kw = case.kwargs()
    y = conv2d(*big[:3], **kw, backend=backend)
    assert y.dtype == dtype and y.dtype.isnative
    assert np.array_equal(y, conv2d(x, w, b, **kw, backend=backend))
    for got, want in zip(conv2d_backward(big[3], big[0], big[1], **kw, backend=backend),
                         conv2d_backward(dout, x, w, **kw, backend=backend)):
        assert got.dtype == dtype and np.array_equal(got, want)
    assert np.array_equal(max_pool2d(big[0], 2, backend=backend), max_pool2d(x, 2, backend=backend))
    with torch.no_grad():  # torch refuses non-native arrays; compare with the native copy
        assert np.array_equal(max_pool2d(big[0], 2, backend=backend), torch.nn.functional.max_pool2d(
            torch.from_numpy(x), 2).numpy())


def test_float16_and_big_endian_outside_the_backends():
    rng = np.random.default_rng(4)
    x1, w1 = rng.standard_normal((2, 3, 9)).astype(np.float16), rng.standard_normal((2, 3, 3)).astype(np.float16)
    assert conv1d(x1, w1).dtype == np.float16
    x3 = rng.standard_normal((1, 2, 4, 4, 4))
    w3 = rng.standard_normal((2, 2, 2, 2, 2))
    y3 = conv3d(x3.astype(">f8"), w3.astype(">f8"))
    assert y3.dtype == np.float64 and y3.dtype.isnative and np.array_equal(y3, conv3d(x3, w3))
    half = conv3d(x3.astype(np.float16), w3.astype(np.float16))
    with torch.no_grad():
        expected = torch.nn.functional.conv3d(torch.from_numpy(x3.astype(np.float16)),
                                              torch.from_numpy(w3.astype(np.float16))).numpy()
    assert half.dtype == np.float16
    np.testing.assert_allclose(half.astype(np.float32), expected.astype(np.float32), **HALF_TOL)


@pytest.mark.parametrize("backend", BACKENDS)
def test_pooling_defaults_are_torchs(backend):
    """stride defaults to the window, padding to 0, count_include_pad to True, in every function."""
    x = np.random.default_rng(6).standard_normal((1, 2, 5, 7))
    dout = np.random.default_rng(7).standard_normal((1, 2, 2, 3))
    assert np.array_equal(max_pool2d(x, 2, backend=backend), max_pool2d(x, 2, 2, 0, backend=backend))
    assert np.array_equal(max_pool2d_backward(dout, x, 2, backend=backend),
                          max_pool2d_backward(dout, x, 2, 2, 0, backend=backend))
    assert np.array_equal(avg_pool2d(x, 2, backend=backend), avg_pool2d(x, 2, 2, 0, True, backend=backend))
    assert np.array_equal(avg_pool2d_backward(dout, x, 2, backend=backend),
                          avg_pool2d_backward(dout, x, 2, 2, 0, True, backend=backend))
    np.testing.assert_allclose(avg_pool2d(x, 2, backend=backend), torch_pool("avg", x, 2), rtol=1e-12, atol=1e-12)
