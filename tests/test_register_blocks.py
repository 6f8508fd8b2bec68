"""The forward kernel's register blocks, the vector width they are sized by, and the gather input gradient.

* ``correlate_planes`` sums chunks of ``CHUNK`` outputs in registers; the
  last chunk is moved back to end at the wide vector's end, and a vector
  shorter than a chunk takes a separate path. Every such boundary (length
  below, at and just above one chunk and two; 1 to 2 PLANES + 1 filters,
  i.e. full blocks of PLANES (six with AVX-512, four with AVX2), padded
  blocks and single planes) is checked against torch.
* A stride-1 input gradient is computed as a convolution of the padded dout
  (``GATHER_GROWTH``); both routes are checked against torch and each other.
* The vector width: what ``_kernel_cache`` reports in fresh processes with
  and without the opt-out and user settings, and that it leaves no variable
  behind.

Tolerances: float32 results within 2e-5 of torch's float64 result relative
to the largest magnitude (sums of at most 600 products of unit normals);
float64 within 1e-12.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numpy as np
import pytest
import torch
import torch.nn.functional as TF

from cnnlib.functional import _kernel_cache, _numba_conv, numba_backend

TOLERANCE = {np.float32: 2e-5, np.float64: 1e-12}


def _close(ours: np.ndarray, reference: torch.Tensor, dtype) -> None:
    expected = reference.detach().numpy()
    scale = max(1.0, float(np.abs(expected).max()))
    assert ours.dtype == dtype
    assert np.abs(ours - expected).max() <= TOLERANCE[dtype] * scale


def _widths_around_chunk() -> list[int]:
    """Output widths (one row, so the wide length is the width) around one and two chunks."""
    c = _numba_conv.CHUNK
    return sorted({1, 2, c // 2, c - 1, c, c + 1, 2 * c - 1, 2 * c, 2 * c + 3})


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
@pytest.mark.parametrize("n_filters", list(range(1, 2 * _numba_conv.PLANES + 2)))
def test_forward_at_every_chunk_boundary_matches_torch(dtype, n_filters):
    rng = np.random.default_rng(n_filters)
    for width in _widths_around_chunk():
        x = rng.standard_normal((2, 3, 3, width + 2)).astype(dtype)
        w = rng.standard_normal((n_filters, 3, 3, 3)).astype(dtype)
        b = rng.standard_normal(n_filters).astype(dtype)
        y = numba_backend.conv2d(x, w, b, (1, 1), (0, 0), (1, 1))
        assert y.shape == (2, n_filters, 1, width)
        ref = TF.conv2d(*(torch.from_numpy(a).double() for a in (x, w, b)))
        _close(y, ref, dtype)


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_forward_on_multi_row_planes_with_padding_and_dilation(dtype):
    rng = np.random.default_rng(7)
    for (h, w_, k, p, d, s) in [(5, 5, 3, 1, 1, 1), (9, 13, 3, 2, 2, 1), (17, 11, 5, 2, 1, 2), (30, 30, 3, 1, 1, 1)]:
        x = rng.standard_normal((3, 4, h, w_)).astype(dtype)
        w = rng.standard_normal((7, 4, k, k)).astype(dtype)
        y = numba_backend.conv2d(x, w, None, (s, s), (p, p), (d, d))
        ref = TF.conv2d(torch.from_numpy(x).double(), torch.from_numpy(w).double(), None, s, p, d)
        _close(y, ref, dtype)


def _input_grad_reference(dout, x, w, padding, dilation):
    xt = torch.from_numpy(x).double().requires_grad_()
    out = TF.conv2d(xt, torch.from_numpy(w).double(), None, 1, padding, dilation)
    out.backward(torch.from_numpy(dout).double())
    return xt.grad


@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_stride_one_input_gradient_by_gather_and_by_scatter_match_torch(dtype, monkeypatch):
    rng = np.random.default_rng(3)
    # (H, W, K, padding, dilation): "same" layers and valid ones, the ratio H*W / (OH*OW) from 1 to 2.
    cases = [(12, 12, 3, 1, 1), (14, 14, 5, 2, 1), (28, 28, 5, 0, 1), (10, 9, 3, 2, 2), (8, 8, 3, 0, 1)]
    for h, w_, k, p, d in cases:
        x = rng.standard_normal((2, 5, h, w_)).astype(dtype)
        w = rng.standard_normal((6, 5, k, k)).astype(dtype)
        y = numba_backend.conv2d(x, w, None, (1, 1), (p, p), (d, d))
        dout = rng.standard_normal(y.shape).astype(dtype)
        ref = _input_grad_reference(dout, x, w, p, d)
        results = {}
        for route, growth in (("gather", 1e9), ("scatter", 0.0)):
            monkeypatch.setattr(numba_backend, "GATHER_GROWTH", growth)
            dx, dw, db = numba_backend.conv2d_backward(dout, x, w, (1, 1), (p, p), (d, d))
            _close(dx, ref, dtype)
            results[route] = dx
        np.testing.assert_allclose(results["gather"], results["scatter"], rtol=0, atol=TOLERANCE[dtype] * 50)


def test_padding_wider_than_the_kernel_takes_the_scatter_route():
    """d*(K-1) - p < 0 has no gather form (it would need negative padding): the scatter must still be right."""
    rng = np.random.default_rng(4)
    x = rng.standard_normal((1, 2, 6, 6))
    w = rng.standard_normal((3, 2, 3, 3))
    y = numba_backend.conv2d(x, w, None, (1, 1), (3, 3), (1, 1))
    dout = rng.standard_normal(y.shape)
    dx, _, _ = numba_backend.conv2d_backward(dout, x, w, (1, 1), (3, 3), (1, 1))
    _close(dx, _input_grad_reference(dout, x, w, 3, 1), np.float64)


CHILD = r"""
import json, os
from cnnlib.functional import _kernel_cache as k
print(json.dumps({"report": k.VECTOR_WIDTH_REPORT, "lanes": k.VECTOR_LANES,
                  "chunk": __import__("cnnlib.functional._numba_conv", fromlist=["x"]).CHUNK,
                  "left": os.environ.get("NUMBA_CPU_FEATURES")}))
"""


def _child(prelude: str = "", **env_changes: str) -> dict:
    env = {k: v for k, v in os.environ.items()
           if k not in ("NUMBA_CPU_NAME", "NUMBA_CPU_FEATURES", _kernel_cache.WIDE_VECTORS_VARIABLE)}
    env.update(env_changes)
    out = subprocess.run([sys.executable, "-c", prelude + CHILD], env=env, capture_output=True, text=True,
                         timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1])


def _host_has_avx512() -> bool:
    import llvmlite.binding as llvm

    return "+avx512f" in llvm.get_host_cpu_features().flatten().split(",")


def test_wide_vectors_on_avx512_hosts_and_the_environment_is_left_as_it_was():
    report = _child()
    assert report["left"] is None
    if _host_has_avx512():
        assert report["report"].startswith("512-bit vectors")
        assert report["lanes"] == 16 and report["chunk"] == 64
    else:
        assert report["report"] == "untouched (no AVX-512)"
        assert report["lanes"] == 8 and report["chunk"] == 16


def test_opt_out_user_settings_and_earlier_numba_code_are_respected():
    off = _child(CNNLIB_WIDE_VECTORS="off")
    assert off["report"] == "untouched (CNNLIB_WIDE_VECTORS=off)" and off["lanes"] == 8 and off["chunk"] == 16
    user = _child(NUMBA_CPU_NAME="haswell", NUMBA_CPU_FEATURES="")
    assert user["report"] == "from the environment (NUMBA_CPU_NAME)" and user["lanes"] == 8
    assert user["left"] == ""  # the user's own variable stays
    earlier = _child(prelude="import numba\nnumba.njit(lambda a: a)\n")
    assert earlier["report"] == "untouched (numba compiled code before cnnlib was imported)"
    assert earlier["lanes"] == 8


def test_this_process_compiles_with_the_width_it_reports():
    features = _kernel_cache._codegen_features().split(",")
    assert _kernel_cache.VECTOR_LANES == (16 if "+avx512f" in features and "-prefer-256-bit" in features else 8)
    assert _numba_conv.CHUNK == (64 if _kernel_cache.VECTOR_LANES == 16 else 16)
    assert _numba_conv.PLANES == (6 if _kernel_cache.VECTOR_LANES == 16 else 4)
