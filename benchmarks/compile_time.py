"""First-compile and cached-load time of every numba kernel of cnnlib.

Each measurement runs in a fresh Python process pointed at an empty numba
cache directory (``NUMBA_CACHE_DIR``), so the repository's own cache is
neither used nor disturbed: the first process compiles and fills the
cache, the second only loads it. ``python benchmarks/compile_time.py``
prints both; ``run.py`` calls :func:`measure`.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile

# Calls every kernel of the numba backend once per dtype. Printed as JSON:
# the import time of cnnlib.functional and the time of the first calls.
_CHILD = r"""
import json, time
t0 = time.perf_counter()
import numpy as np
import cnnlib.functional as F
from cnnlib.im2col import im2col, col2im
t1 = time.perf_counter()
per_dtype = {}
for dtype in (np.float32, np.float64):
    start = time.perf_counter()
    x = np.ones((2, 4, 9, 8), dtype)
    w = np.ones((5, 4, 3, 2), dtype)
    for size in (9, 24):  # a tiny output plane (im2col path) and a larger one (wide kernels)
        big = np.ones((2, 4, size, size), dtype)
        y = F.conv2d(big, w, np.ones(5, dtype), stride=2, padding=1, backend="numba")
        F.conv2d_backward(y, big, w, stride=2, padding=1, backend="numba")
    for pool, pool_backward in ((F.max_pool2d, F.max_pool2d_backward), (F.avg_pool2d, F.avg_pool2d_backward)):
        p = pool(x, 3, 2, 1, backend="numba")
        pool_backward(p, x, 3, 2, 1, backend="numba")
    col = im2col(x, (3, 2), 2, 1, backend="numba")
    col2im(col, x.shape, (3, 2), 2, 1, backend="numba")
    per_dtype[np.dtype(dtype).name] = time.perf_counter() - start
print(json.dumps({"import_s": t1 - t0, "first_calls_s": per_dtype, "total_s": time.perf_counter() - t0}))
"""


def _run_child(cache_dir: str) -> dict:
    env = dict(os.environ, NUMBA_CACHE_DIR=cache_dir)
    out = subprocess.run([sys.executable, "-c", _CHILD], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def measure() -> dict:
    """Compile every kernel into an empty cache, then load them from it, in two fresh processes."""
    with tempfile.TemporaryDirectory(prefix="cnnlib-numba-cache-") as cache_dir:
        cold = _run_child(cache_dir)
        warm = _run_child(cache_dir)
    return {
        "first_compile_s": round(sum(cold["first_calls_s"].values()), 3),
        "first_compile_by_dtype_s": {k: round(v, 3) for k, v in cold["first_calls_s"].items()},
        "cached_load_s": round(sum(warm["first_calls_s"].values()), 3),
        "cached_load_by_dtype_s": {k: round(v, 3) for k, v in warm["first_calls_s"].items()},
        "import_cnnlib_functional_s": round(warm["import_s"], 3),
    }


if __name__ == "__main__":
    print(json.dumps(measure(), indent=1))
