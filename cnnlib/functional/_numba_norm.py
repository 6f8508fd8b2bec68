"""numba kernels for batch normalization: training and evaluation, forward and backward.

The NumPy formulas they compute, and their derivation, are in
:mod:`cnnlib.functional.norm`; read them first. Every kernel takes the
input viewed as ``(N, C, L)`` (L = H W, or 1 for ``(N, C)`` features), so
channel c is N contiguous runs of L values, ``x[i, c, :]``.

``batch_norm_train``
    Per channel: the mean and the biased variance, then
    ``y = weight * (x - mean) * inv_std + bias``.
``batch_norm_eval``
    The same map with given statistics (the running ones).
``batch_norm_backward``
    Per channel: ``dbias = sum(dy)`` and ``dweight = sum(dy * xhat)``, then
    ``dx``; in training mode through the batch statistics, in evaluation
    mode ``dx = weight * inv_std * dy``.

What is kept for backward, and why: the input x with the per-channel mean
and inv_std, not xhat. Storing xhat would cost a second full-size write in
forward (and the memory for it) only to save recomputing
``(x - mean) * inv_std``, two arithmetic operations per value in a loop
that waits on memory anyway. So forward reads x twice and writes y once;
backward reads dy and x twice and writes dx once. The two reads of a
channel run back to back in one thread, so the second one finds the
channel (N L values) in the cache, not in main memory.

The variance in one pass without cancellation: the sums are taken of
``d = x - shift`` with ``shift`` the mean of the channel's first run
``x[0, c, :]``, then ``var = mean(d^2) - mean(d)^2``. The textbook
one-pass ``E[x^2] - E[x]^2`` loses every digit when the mean is large
against the spread (x = 1e4 + N(0, 1): E[x^2] = 1e8 + 1, so float32 keeps
nothing of the 1); shifting by a value near the mean removes that. The
error bound: ``mean(d^2) = var + (mean - shift)^2`` and, since the first
run holds L of the m = N L values, ``(mean - shift)^2 <= N var``
(Cauchy-Schwarz), so the subtraction loses at most a factor N + 1 of
relative precision: about 1e-14 in float64 for N in the hundreds.

Dtypes: x, dy, y and dx are float32 or float64 (all of one dtype).
Every sum is accumulated in float64, and the per-element arithmetic
(``x - mean`` and the affine map) is done in float64 too, rounding once to
the array's dtype on the store: float32 results are then within an ulp of
the exact map even when the mean is large (``x*a + b`` with
``b = bias - mean*a``, in float32, would lose ~1e-3 at a mean of 1e4).
Measured on (16, 128, 28, 28) float32, 2 threads: the affine pass takes
0.222 ms in float64 against 0.219 ms in float32; the loops are bound by
memory, not arithmetic. The per-channel outputs and inputs (mean, var, inv_std,
weight, bias, dweight, dbias) are float64 arrays of shape ``(C,)``.

House rules as in :mod:`._numba_conv`: innermost loops run along a
contiguous run; ``fastmath`` lets LLVM reassociate the sums into vector
lanes; ``prange`` runs over channels, a thread owns its channel, and the
order of every sum depends only on the shapes, so results are bit-identical
for any number of threads.
"""

from __future__ import annotations

import numpy as np
from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file


@njit(fastmath=True, cache=True)
def _moments(x, c):  # pragma: no cover - compiled
    """(mean, biased var) of channel c of x (N, C, L), in float64, shifted by the first run's mean."""
    n, _, length = x.shape
    first = x[0, c]
    shift = 0.0
    for k in range(length):
        shift += np.float64(first[k])
    shift /= length
    s1 = 0.0
    s2 = 0.0
    for i in range(n):
        run = x[i, c]
        for k in range(length):
            d = np.float64(run[k]) - shift
            s1 += d
            s2 += d * d
    m = n * length
    mean_d = s1 / m
    var = s2 / m - mean_d * mean_d
    return shift + mean_d, max(var, 0.0)  # rounding can take a zero variance just below 0


@njit(fastmath=True, cache=True)
def _affine(x, y, c, mean, scale, shift):  # pragma: no cover - compiled
    """y[:, c] = (x[:, c] - mean) * scale + shift, in float64, rounded on the store."""
    n, _, length = x.shape
    for i in range(n):
        src = x[i, c]
        dst = y[i, c]
        for k in range(length):
            dst[k] = (np.float64(src[k]) - mean) * scale + shift


@njit(parallel=True, fastmath=True, cache=True)
def batch_norm_train(x, weight, bias, eps, y, mean, var, inv_std):  # pragma: no cover - compiled
    """Training forward: fills y (N, C, L) and the batch statistics mean, var (biased), inv_std (C,).

    ``weight`` and ``bias`` are float64 ``(C,)``; needs N L >= 1 (the caller
    asks for more than one value per channel).
    """
    for c in prange(x.shape[1]):
        mu, v = _moments(x, c)
        s = 1.0 / np.sqrt(v + eps)
        mean[c] = mu
        var[c] = v
        inv_std[c] = s
        _affine(x, y, c, mu, weight[c] * s, bias[c])


@njit(parallel=True, fastmath=True, cache=True)
def batch_norm_eval(x, weight, bias, mean, inv_std, y):  # pragma: no cover - compiled
    """Evaluation forward: y = weight * (x - mean) * inv_std + bias with given per-channel statistics."""
    for c in prange(x.shape[1]):
        _affine(x, y, c, mean[c], weight[c] * inv_std[c], bias[c])


@njit(parallel=True, fastmath=True, cache=True)
def batch_norm_backward(dy, x, weight, mean, inv_std, training, dx, dweight, dbias):  # pragma: no cover - compiled
    """Fills dx (N, C, L), dweight and dbias (C,) from dy and the statistics forward used.

    With ``xhat = (x - mean) * inv_std`` and m = N L, pass 1 sums
    ``dbias = sum(dy)`` and ``dweight = sum(dy * xhat)``, pass 2 writes

    * training: ``dx = weight * inv_std / m * (m dy - dbias - xhat dweight)``,
      expanded as ``a dy - b - g (x - mean)`` with per-channel
      ``a = weight inv_std``, ``b = a dbias / m``, ``g = a inv_std dweight / m``;
    * evaluation (fixed statistics): ``dx = a dy``.
    """
    n, channels, length = x.shape
    m = n * length
    for c in prange(channels):
        mu = mean[c]
        s1 = 0.0
        s2 = 0.0
        for i in range(n):
            g_run = dy[i, c]
            x_run = x[i, c]
            for k in range(length):
                g = np.float64(g_run[k])
                s1 += g
                s2 += g * (np.float64(x_run[k]) - mu)  # centred in float64: no cancellation at large means
        s = inv_std[c]
        dbias[c] = s1
        dweight[c] = s2 * s
        a = weight[c] * s
        b = 0.0
        slope = 0.0
        if training:
            b = a * s1 / m
            slope = a * s * s * s2 / m
        for i in range(n):
            g_run = dy[i, c]
            x_run = x[i, c]
            out = dx[i, c]
            for k in range(length):
                out[k] = a * np.float64(g_run[k]) - b - slope * (np.float64(x_run[k]) - mu)
