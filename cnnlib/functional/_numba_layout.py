"""Memory layout for the numba kernels: zero-padded, stride-phase planes with a row pitch.

:func:`to_phase_planes` copies an (N, C, H, W) array into planes that make
every kernel tap of a strided, dilated, padded convolution (or pooling)
read a *contiguous* run of memory: phase (a, b) of a stride (sh, sw) keeps
rows ``a, a+sh, ...`` and columns ``b, b+sw, ...`` of the padded image, and
each phase is stored row by row with a chosen pitch (row length), so that
``P - OW`` spare columns per row let a whole output plane be computed as one
long vector. See :mod:`cnnlib.functional.numba_backend` for the geometry.
"""

from __future__ import annotations

from numba import prange

from ._kernel_cache import njit  # numba.njit, its disk cache keyed by every kernel file


# No fastmath: this is a pure copy, and max pooling fills the padding with
# -inf, which fastmath code may assume never occurs.
@njit(cache=True)
def split_phases(image, phases, top, left, fill):  # pragma: no cover - compiled
    """``phases[a, b, u, v] = image[u*sh + a - top, v*sw + b - left]``, `fill` outside.

    ``image`` is (H, W); ``phases`` is (sh, sw, R, P) and is written completely.
    """
    height, width = image.shape
    sh, sw, rows, pitch = phases.shape
    for a in range(sh):
        for b in range(sw):
            # Columns v whose source column v*sw + b - left lies in [0, W),
            # clipped to the pitch: [lo, hi).
            lo = min(pitch, (left - b + sw - 1) // sw if left > b else 0)
            hi = max(lo, min(pitch, (width - 1 + left - b) // sw + 1))
            phase = phases[a, b]
            for u in range(rows):
                r = u * sh + a - top
                row = phase[u]
                if r < 0 or r >= height:
                    for v in range(pitch):
                        row[v] = fill
                    continue
                # Explicit loops over views that start at 0: slice
                # assignments and negative-looking indices cost 3x here.
                for v in range(lo):
                    row[v] = fill
                source = image[r, lo * sw + b - left :]
                target = row[lo:hi]
                for v in range(hi - lo):
                    target[v] = source[v * sw]
                for v in range(hi, pitch):
                    row[v] = fill


@njit(parallel=True, cache=True)
def to_phase_planes(src, dst, top, left, fill):  # pragma: no cover - compiled
    """:func:`split_phases` of every (image, channel) plane: ``src`` (N, C, H, W), ``dst`` (N, C, sh, sw, R, P)."""
    n_images, channels = src.shape[0], src.shape[1]
    for plane in prange(n_images * channels):
        n = plane // channels
        c = plane - n * channels
        split_phases(src[n, c], dst[n, c], top, left, fill)
