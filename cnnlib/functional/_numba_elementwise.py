"""numba kernels for elementwise steps of training: ReLU and the Adam update.

These steps are a few operations per element, so NumPy's cost is memory
traffic: each operation of an expression reads and writes a whole array
(Adam's update is nine of them, with four temporaries). One parallel loop
reads every input once and writes every output once.

The kernels compute exactly what the NumPy code next to them computes
(:class:`cnnlib.layers.ReLU`, :class:`cnnlib.train.Adam`): same operations,
same order, scalars already in the array's dtype, and no ``fastmath``, so
the results are bit-identical to NumPy's (a test checks it) and the same
for any number of threads (no element depends on another).
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file

CHUNK = 16384  # elements per parallel work item: long enough to vectorise, many items per core


@njit(parallel=True, cache=True)
def relu_forward(x, y):  # pragma: no cover - compiled
    """y = max(x, 0) elementwise; x, y : (L,), y written in full."""
    n = x.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            v = x[i]
            y[i] = v if v > 0 or v != v else 0  # NaN stays NaN, as in np.maximum
    return None


@njit(parallel=True, cache=True)
def relu_backward(dout, y, dx):  # pragma: no cover - compiled
    """dx = dout where y > 0, else dout * 0 (as NumPy's ``dout * (x > 0)``); all (L,)."""
    n = dout.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            d = dout[i]
            dx[i] = d if y[i] > 0 else d * 0
    return None


@njit(parallel=True, cache=True)
def adam_update(param, grad, m, v, b1, b2, one_minus_b1, one_minus_b2, step_size, sqrt_correction2,
                eps):  # pragma: no cover - compiled
    """One Adam step in place; arrays (L,) of one dtype.

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + ((1 - b2) g) g``,
    ``p -= (step_size m) / (sqrt(v) / sqrt_correction2 + eps)``.

    `b1`, `b2`, `one_minus_b1`, `one_minus_b2` and `step_size` have the
    arrays' dtype; `sqrt_correction2` and `eps` are float64, so the
    denominator and the division run in float64 before the result is
    rounded into `param` -- what NumPy does with the same expression.
    """
    n = param.shape[0]
    for c in prange((n + CHUNK - 1) // CHUNK):
        for i in range(c * CHUNK, min(n, (c + 1) * CHUNK)):
            g = grad[i]
            mi = m[i] * b1 + one_minus_b1 * g
            vi = v[i] * b2 + one_minus_b2 * g * g
            m[i] = mi
            v[i] = vi
            denom = np.float64(np.sqrt(vi)) / sqrt_correction2 + eps
            param[i] = param[i] - (step_size * mi) / denom
    return None

