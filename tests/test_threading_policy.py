"""cnnlib's thread policy (``cnnlib/functional/_threads.py``), by what can be observed.

* numba's OpenMP runtime reports its own settings (``OMP_DISPLAY_ENV=verbose``
  makes libgomp print them when it loads): with cnnlib's policy its spin
  count is ``_threads.SPIN_COUNT`` (a short spin, then sleep), with the opt-out variable or a user's own setting
  it is what the environment says, and the environment is left as it was.
* threadpoolctl reports the BLAS thread count inside the Linear layers'
  matrix products (1) and outside them (unchanged).
* Results are bit-identical whatever the numba and BLAS thread counts.

No timing is asserted anywhere.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import numba
import numpy as np
import pytest
from threadpoolctl import threadpool_info

from cnnlib.functional import _threads, numba_backend
from cnnlib.layers import Linear, SoftmaxCrossEntropy
from cnnlib.models import SimpleConvNet

CHILD = r"""
import json, os
import cnnlib.functional.numba_backend as nb
print(json.dumps({"policy": nb.thread_policy(), "env": {k: os.environ.get(k) for k in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT")}}))
"""


def _child(**env_changes: str) -> tuple[dict, str]:
    """(report, libgomp's settings as printed on stderr) of a fresh process importing the numba backend."""
    env = {k: v for k, v in os.environ.items()
           if k not in ("OMP_WAIT_POLICY", "GOMP_SPINCOUNT", _threads.OPT_OUT_VARIABLE, "NUMBA_THREADING_LAYER")}
    env.update(env_changes, OMP_DISPLAY_ENV="verbose")
    out = subprocess.run([sys.executable, "-c", CHILD], env=env, capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    return json.loads(out.stdout.strip().splitlines()[-1]), out.stderr


def _gomp_setting(stderr: str, name: str) -> str:
    lines = [line.split("=", 1)[1].strip().strip("'") for line in stderr.splitlines()
             if line.strip().startswith(name + " ")]
    assert len(lines) == 1, f"libgomp printed {name} {len(lines)} times:\n{stderr}"
    return lines[0]


def test_numba_threads_spin_briefly_and_the_environment_is_restored():
    report, stderr = _child()
    assert report["policy"]["numba_wait_policy"] == f"spin {_threads.SPIN_COUNT}, then sleep"
    assert report["env"] == {"OMP_WAIT_POLICY": None, "GOMP_SPINCOUNT": None}  # nothing left behind
    assert report["policy"]["linear_blas_threads"] == 1
    assert report["policy"]["numba_threads"] == numba.config.NUMBA_DEFAULT_NUM_THREADS  # numba's own default
    if report["policy"]["numba_threading_layer"] == "omp":
        assert _gomp_setting(stderr, "GOMP_SPINCOUNT") == str(_threads.SPIN_COUNT)
        assert _gomp_setting(stderr, "OMP_WAIT_POLICY") == "PASSIVE"  # libgomp's name for "unset, spin then sleep"


def test_opting_out_leaves_openmp_and_blas_alone():
    report, stderr = _child(CNNLIB_THREAD_POLICY="off")
    assert report["policy"]["opted_out"] is True
    assert report["policy"]["linear_blas_threads"] is None
    assert report["policy"]["numba_wait_policy"].startswith("untouched")
    if report["policy"]["numba_threading_layer"] == "omp":
        assert _gomp_setting(stderr, "GOMP_SPINCOUNT") not in ("0", str(_threads.SPIN_COUNT))  # libgomp's default


def test_a_wait_policy_set_by_the_user_wins():
    report, stderr = _child(OMP_WAIT_POLICY="active")
    assert report["policy"]["numba_wait_policy"] == "from the environment (OMP_WAIT_POLICY=active)"
    assert report["env"]["OMP_WAIT_POLICY"] == "active"
    if report["policy"]["numba_threading_layer"] == "omp":
        assert _gomp_setting(stderr, "OMP_WAIT_POLICY") == "ACTIVE"


def _blas_threads() -> list[int]:
    return [lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas"]


class _Recording(np.ndarray):
    """An array that records the BLAS thread counts in force when it is matrix-multiplied."""

    seen: list[list[int]] = []

    def __matmul__(self, other):
        _Recording.seen.append(_blas_threads())
        return np.asarray(self) @ np.asarray(other)


@pytest.fixture
def linear_and_batch():
    layer = Linear(64, 8, rng=0, dtype=np.float64)
    x = np.random.default_rng(1).standard_normal((5, 64))
    return layer, x


def test_linear_products_run_with_one_blas_thread_and_restore_the_count(linear_and_batch):
    layer, x = linear_and_batch
    outside = _blas_threads()
    assert outside, "NumPy's BLAS is not visible to threadpoolctl"
    _Recording.seen = []
    y = layer.forward(x.view(_Recording))
    layer.backward(np.ones(y.shape).view(_Recording))
    assert _Recording.seen == [[1] * len(outside)] * 3  # forward, weight gradient, input gradient
    assert _blas_threads() == outside


def test_linear_blas_threads_can_be_left_alone(linear_and_batch):
    layer, x = linear_and_batch
    outside = _blas_threads()
    _Recording.seen = []
    try:
        numba_backend.set_linear_blas_threads(None)
        layer.forward(x.view(_Recording))
        assert numba_backend.thread_policy()["linear_blas_threads"] is None
    finally:
        numba_backend.set_linear_blas_threads(1)
    assert _Recording.seen == [outside]
    for bad in (0, -1, 1.5, "2", True):
        with pytest.raises(ValueError, match="count"):
            numba_backend.set_linear_blas_threads(bad)


def _training_step(threads: int, blas: int | None) -> list[np.ndarray]:
    """Loss and every gradient of one SimpleConvNet step with the given numba and BLAS thread counts."""
    from threadpoolctl import threadpool_limits

    rng = np.random.default_rng(0)
    x = rng.standard_normal((12, 1, 28, 28)).astype(np.float32)
    labels = rng.integers(0, 10, 12)
    net, loss = SimpleConvNet(seed=0), SoftmaxCrossEntropy()
    saved = numba.get_num_threads()
    try:
        numba.set_num_threads(threads)
        with threadpool_limits(limits=blas, user_api="blas"):
            value = loss.forward(net.forward(x), labels)
            dx = net.backward(loss.backward())
    finally:
        numba.set_num_threads(saved)
    return [np.asarray(value), dx] + [grad for _, _, grad in net.parameters()]


def test_a_training_step_is_bit_identical_for_any_thread_count():
    reference = _training_step(1, 1)
    for threads, blas in ((numba.config.NUMBA_NUM_THREADS, None), (1, None), (numba.config.NUMBA_NUM_THREADS, 1)):
        for got, want in zip(_training_step(threads, blas), reference):
            assert got.dtype == want.dtype and np.array_equal(got, want), (threads, blas)


def test_small_work_runs_on_one_thread_and_gives_the_same_result(monkeypatch):
    """serial_when_small: one thread below the limit, the caller's count restored after, identical results."""
    before = numba.get_num_threads()
    seen = []
    with _threads.serial_when_small(10):
        seen.append(numba.get_num_threads())
    with _threads.serial_when_small(_threads.SERIAL_ELEMENTS):
        seen.append(numba.get_num_threads())
    assert seen == [1, before] and numba.get_num_threads() == before
    rng = np.random.default_rng(3)
    x, w = rng.standard_normal((2, 3, 9, 9)).astype(np.float32), rng.standard_normal((4, 3, 3, 3)).astype(np.float32)
    small = numba_backend.conv2d(x, w, None, (1, 1), (1, 1), (1, 1))  # 17k MACs: one thread
    monkeypatch.setattr(_threads, "SERIAL_MACS", 0)
    monkeypatch.setattr(_threads, "serial_when_small", lambda work, limit=0: _nullcontext())
    np.testing.assert_array_equal(numba_backend.conv2d(x, w, None, (1, 1), (1, 1), (1, 1)), small)


def _nullcontext():
    from contextlib import nullcontext

    return nullcontext()
