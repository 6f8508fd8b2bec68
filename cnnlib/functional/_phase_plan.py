"""The phase-plane layout of the numba backend: plans, tap offsets, work buffers.

See :mod:`cnnlib.functional.numba_backend` for how a convolution becomes
contiguous loops: a :class:`Plan` holds, for one geometry, the output size
and the rows and pitch of the stride-phase planes; :func:`tap_offsets` where
each kernel tap starts reading in them; :func:`phase_planes` and
:func:`wide_dout` lay out an input and an upstream gradient that way.

Work buffers (the phase planes, the re-pitched ``dout``) are reused between
calls, per thread, because the allocator would otherwise hand large buffers
back to the operating system and page-fault them in again on every call.
:func:`release_buffers` frees them.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from functools import lru_cache

import numpy as np

from .._validation import Pair, output_hw
from . import _numba_layout

__all__ = ["Plan", "layout_plan", "tap_offsets", "phase_planes", "wide_dout", "work_buffer", "release_buffers"]

_local = threading.local()


def work_buffer(slot: str, shape: tuple[int, ...], dtype: np.dtype) -> np.ndarray:
    """A reusable, uninitialised C-contiguous work array (per thread, slot and dtype)."""
    pool = _local.__dict__.setdefault("pool", {})
    size = int(np.prod(shape))
    key = (slot, np.dtype(dtype).str)
    buf = pool.get(key)
    if buf is None or buf.size < size:
        buf = np.empty(max(size, 1), dtype=dtype)
        pool[key] = buf
    return buf[:size].reshape(shape)


def release_buffers() -> None:
    """Free the work buffers kept between calls by this thread."""
    _local.__dict__.pop("pool", None)


@dataclass(frozen=True, eq=False)  # hashed by identity: plans are cached, one per geometry
class Plan:
    """Phase-plane layout of one convolution (see the module docstring)."""

    out_hw: Pair
    stride: Pair
    rows: int  # rows per phase plane: OH + max p'
    pitch: int  # row pitch of the phase planes: OW + max q'
    phase_row: np.ndarray  # per kernel row p: (phase a, shift p')
    phase_col: np.ndarray  # per kernel column q: (phase b, shift q')


# A training loop asks for the same few geometries over and over: computing a
# plan and its offsets costs ~20 us, as much as a small kernel.
def layout_plan(in_hw, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Plan:
    """The (cached) plan of a geometry."""
    return _cached_plan(*(tuple(int(v) for v in pair) for pair in (in_hw, kernel, stride, padding, dilation)))


@lru_cache(maxsize=256)
def _cached_plan(in_hw: Pair, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> Plan:
    oh, ow = output_hw(in_hw, kernel, stride, padding, dilation)
    taps_h = np.arange(kernel[0]) * dilation[0]
    taps_w = np.arange(kernel[1]) * dilation[1]
    phase_row = np.stack([taps_h % stride[0], taps_h // stride[0]], axis=1)
    phase_col = np.stack([taps_w % stride[1], taps_w // stride[1]], axis=1)
    return Plan((oh, ow), stride, oh + int(phase_row[:, 1].max()), ow + int(phase_col[:, 1].max()),
                 phase_row, phase_col)


@lru_cache(maxsize=256)
def tap_offsets(plan: Plan, channels: int) -> np.ndarray:
    """(C*KH*KW,) start of each tap's run in one image's flattened phase planes."""
    rows, pitch, stride = plan.rows, plan.pitch, plan.stride
    a, p_shift = plan.phase_row[:, 0], plan.phase_row[:, 1]
    b, q_shift = plan.phase_col[:, 0], plan.phase_col[:, 1]
    phase = a[:, None] * stride[1] + b[None, :]
    per_channel = (phase * rows + p_shift[:, None]) * pitch + q_shift[None, :]
    image = stride[0] * stride[1] * rows * pitch
    return (np.arange(channels)[:, None] * image + per_channel.reshape(1, -1)).reshape(-1).astype(np.int64)


def phase_planes(x: np.ndarray, plan: Plan, stride: Pair, padding: Pair) -> np.ndarray:
    """x as (N, C * sh*sw*R*P) zero-padded phase planes; x itself when no copy is needed."""
    n, c, h, w = x.shape
    if stride == (1, 1) and padding == (0, 0) and (plan.rows, plan.pitch) == (h, w):
        return x.reshape(n, c * h * w)  # explicit sizes: -1 is ambiguous when N = 0
    planes = work_buffer("x", (n, c, stride[0], stride[1], plan.rows, plan.pitch), x.dtype)
    _numba_layout.to_phase_planes(x, planes, padding[0], padding[1], 0.0)
    return planes.reshape(n, c * stride[0] * stride[1] * plan.rows * plan.pitch)


def wide_dout(dout: np.ndarray, pitch: int) -> np.ndarray:
    """(N, F, OH*pitch): dout with row pitch `pitch`, zeros in the spare columns."""
    n, f, oh, ow = dout.shape
    if pitch == ow:
        return dout.reshape(n, f, oh * ow)
    wide = work_buffer("dout", (n, f, 1, 1, oh, pitch), dout.dtype)
    _numba_layout.to_phase_planes(dout, wide, 0, 0, 0.0)
    return wide.reshape(n, f, oh * pitch)
