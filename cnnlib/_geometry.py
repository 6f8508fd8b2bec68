"""The formulas of convolution arithmetic, written once, on already-validated ints.

Every other module (``shapes`` for learners, ``_validation`` for the
checks, the backends, ``conv3d``) calls these; none has a copy of its own.

    K_eff = D (K - 1) + 1                 (extent of a dilated kernel)
    O     = floor((H + 2P - K_eff) / S) + 1
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

__all__ = ["effective_length", "output_length", "output_hw", "avg_pool_divisors"]

Pair = tuple[int, int]


def effective_length(kernel: int, dilation: int = 1) -> int:
    """Pixels covered by a kernel of `kernel` taps spaced `dilation` apart: ``D (K - 1) + 1``."""
    return dilation * (kernel - 1) + 1


def output_length(size: int, kernel: int, stride: int = 1, padding: int = 0, dilation: int = 1) -> int:
    """``floor((H + 2P - K_eff) / S) + 1`` along one axis (negative when the kernel does not fit)."""
    return (size + 2 * padding - effective_length(kernel, dilation)) // stride + 1


def output_hw(in_hw: Sequence[int], kernel: Sequence[int], stride: Sequence[int], padding: Sequence[int],
              dilation: Sequence[int] = (1, 1)) -> Pair:
    """(OH, OW): :func:`output_length` along both axes."""
    return (output_length(in_hw[0], kernel[0], stride[0], padding[0], dilation[0]),
            output_length(in_hw[1], kernel[1], stride[1], padding[1], dilation[1]))


def avg_pool_divisors(in_hw: Sequence[int], kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool,
                      dtype) -> np.ndarray:
    """(OH, OW) divisors of average pooling, as arrays of `dtype`.

    With ``count_include_pad`` every window divides by ``KH * KW`` (padded
    zeros count, torch's default); without it, by the number of real pixels
    in the window: window ``i`` spans rows ``i*S - P .. i*S - P + K - 1``,
    clipped to ``0 .. H - 1``.
    """
    oh, ow = output_hw(in_hw, kernel, stride, padding)
    if count_include_pad:
        return np.full((oh, ow), kernel[0] * kernel[1], dtype=dtype)
    counts = []
    for axis, size in ((0, oh), (1, ow)):
        start = np.arange(size) * stride[axis] - padding[axis]
        counts.append(np.minimum(start + kernel[axis], in_hw[axis]) - np.maximum(start, 0))
    return (counts[0][:, None] * counts[1][None, :]).astype(dtype)
