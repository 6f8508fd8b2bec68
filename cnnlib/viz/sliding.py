"""The sliding window: a kernel moving over an input, one output at a time.

Chapters 2 and 3 draw every step of a small 2-D cross-correlation: the
(padded) input with the window under the kernel, the kernel, and the output
filled in so far, with the multiply-accumulate sum that produced the current
output written out. The numbers come from :func:`cnnlib.functional.conv2d`,
so a figure can never show a value the library did not compute.
"""

from __future__ import annotations

from dataclasses import dataclass

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._validation import as_float_array, as_pair
from ..functional import conv2d
from ._grid import CURRENT, KERNEL, OUTPUT, PADDING, WINDOW, draw_cells, format_number, matrix_axes, outline
from ._style import MAX_WIDTH_IN, set_alt

__all__ = ["sliding_window_figure", "sliding_window_animation"]

_MAX_TERMS_SHOWN = 9  # longer multiply-accumulate sums are summarised


@dataclass(frozen=True)
class _Setup:
    """Everything a frame needs: the padded input, kernel, output and geometry."""

    xpad: np.ndarray
    kernel: np.ndarray
    out: np.ndarray
    stride: tuple[int, int]
    padding: tuple[int, int]
    dilation: tuple[int, int]

    @property
    def positions(self) -> list[tuple[int, int]]:
        return [(i, j) for i in range(self.out.shape[0]) for j in range(self.out.shape[1])]

    def taps(self, i: int, j: int) -> list[tuple[int, int]]:
        """Padded-input coordinates read by output (i, j), in kernel order."""
        kh, kw = self.kernel.shape
        top, left = i * self.stride[0], j * self.stride[1]
        return [(top + p * self.dilation[0], left + q * self.dilation[1]) for p in range(kh) for q in range(kw)]


def _setup(x, kernel, stride, padding, dilation) -> _Setup:
    x = as_float_array(x, "x", 2, "(H, W)")
    kernel = as_float_array(kernel, "kernel", 2, "(K_H, K_W)")
    stride, padding, dilation = as_pair(stride, "stride", 1), as_pair(padding, "padding", 0), as_pair(dilation, "dilation", 1)
    out = conv2d(x[None, None], kernel[None, None], stride=stride, padding=padding, dilation=dilation)[0, 0]
    xpad = np.pad(x, [(padding[0], padding[0]), (padding[1], padding[1])])
    return _Setup(xpad, kernel, out, stride, padding, dilation)


def _fma_text(s: _Setup, i: int, j: int) -> str:
    """The multiply-accumulate sum of output (i, j), e.g. '1×2 + 2×0 + ... = 15'."""
    terms = [(s.xpad[r, c], w) for (r, c), w in zip(s.taps(i, j), s.kernel.ravel())]
    result = format_number(s.out[i, j])
    if len(terms) > _MAX_TERMS_SHOWN:
        return f"sum of {len(terms)} products (input × kernel) = {result}"
    return " + ".join(f"{format_number(a)}×{format_number(w)}" for a, w in terms) + f" = {result}"


def _draw_frame(ax: Axes, s: _Setup, step: int) -> None:
    """Draw output number `step` (row-major) being computed."""
    i, j = s.positions[step]
    hp, wp = s.xpad.shape
    kh, kw = s.kernel.shape
    oh, ow = s.out.shape
    height = max(hp, kh, oh)

    colors = np.full(s.xpad.shape, "white", dtype=object)
    ph, pw = s.padding
    colors[:ph, :], colors[hp - ph:, :], colors[:, :pw], colors[:, wp - pw:] = PADDING, PADDING, PADDING, PADDING
    for r, c in s.taps(i, j):
        colors[r, c] = WINDOW
    draw_cells(ax, s.xpad, 0, (height - hp) / 2, colors=colors)
    top, left = i * s.stride[0], j * s.stride[1]
    span_h, span_w = s.dilation[0] * (kh - 1) + 1, s.dilation[1] * (kw - 1) + 1
    outline(ax, left, (height - hp) / 2 + top, span_w, span_h, "#c0392b")

    k_left = wp + 1.2
    # The book's symbol for cross-correlation (true convolution is *).
    ax.text(wp + 0.6, height / 2, "⋆", ha="center", va="center", fontsize=30)  # a small glyph: set large
    draw_cells(ax, s.kernel, k_left, (height - kh) / 2, colors=np.full(s.kernel.shape, KERNEL, dtype=object))

    o_left = k_left + kw + 1.2
    ax.text(k_left + kw + 0.6, height / 2, "=", ha="center", va="center", fontsize=16)
    done = np.zeros(s.out.shape, dtype=bool)
    done.ravel()[: step + 1] = True
    out_colors = np.where(done, OUTPUT, "white").astype(object)
    out_colors[i, j] = CURRENT
    draw_cells(ax, s.out, o_left, (height - oh) / 2, colors=out_colors, show=done)

    ax.text((o_left + ow) / 2, height + 0.6, _fma_text(s, i, j), ha="center", va="center", fontsize=10)
    ax.set_title(f"output ({i}, {j}): window at row {top}, column {left}", fontsize=11)
    matrix_axes(ax, o_left + ow, height + 1.1)


def _figure_size(s: _Setup) -> tuple[float, float]:
    hp, wp = s.xpad.shape
    kh, kw = s.kernel.shape
    width = wp + kw + s.out.shape[1] + 2.6
    height = max(hp, kh, s.out.shape[0]) + 2.0
    scale = 0.4
    return (min(max(width * scale, 5.0), MAX_WIDTH_IN), height * scale)


def _describe(s: _Setup, positions: list[tuple[int, int]]) -> str:
    """Alt text: the geometry, then the multiply-accumulate sum of each panel."""
    h, w = s.xpad.shape[0] - 2 * s.padding[0], s.xpad.shape[1] - 2 * s.padding[1]
    kh, kw = s.kernel.shape
    oh, ow = s.out.shape
    geometry = f"stride {_pair_text(s.stride)}, padding {_pair_text(s.padding)}"
    if s.dilation != (1, 1):
        geometry += f", dilation {_pair_text(s.dilation)}"
    sums = "; ".join(f"output ({i}, {j}) = {_fma_text(s, i, j)}" for i, j in positions)
    return (f"Cross-correlation of a {h}×{w} input with a {kh}×{kw} kernel ({geometry}), "
            f"giving a {oh}×{ow} output; the window under the kernel is shaded orange. {sums}.")


def _pair_text(pair: tuple[int, int]) -> str:
    return str(pair[0]) if pair[0] == pair[1] else f"{pair[0]}×{pair[1]}"


def sliding_window_figure(x, kernel, stride=1, padding=0, dilation=1, positions=None, *, dpi: float = 100) -> Figure:
    """Static panels of a 2-D cross-correlation, one per output position.

    Parameters
    ----------
    x : (H, W) array
        The input (one channel of one image).
    kernel : (K_H, K_W) array
    stride, padding, dilation : int or (h, w)
        As in :func:`cnnlib.functional.conv2d`; padded cells are grey.
    positions : list of (i, j), optional
        Output positions to draw, one panel each (default: all of them).
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        One axes per position, stacked vertically, with alt text listing
        each panel's multiply-accumulate sum.
    """
    s = _setup(x, kernel, stride, padding, dilation)
    order = s.positions
    positions = order if positions is None else [tuple(int(v) for v in p) for p in positions]
    for p in positions:
        if p not in order:
            raise ValueError(f"position {p} is outside the output of shape {s.out.shape}")
    w, h = _figure_size(s)
    fig, axes = plt.subplots(len(positions), 1, figsize=(w, h * len(positions)), dpi=dpi, squeeze=False)
    for ax, p in zip(axes[:, 0], positions):
        _draw_frame(ax, s, order.index(p))
    fig.tight_layout()
    return set_alt(fig, _describe(s, positions))


def sliding_window_animation(
    x, kernel, stride=1, padding=0, dilation=1, *, max_frames: int = 12, interval: int = 1000, dpi: float = 90
) -> FuncAnimation:
    """An animation of the window visiting every output position in turn.

    One frame per output value, row by row. The figure is closed before
    returning (only the animation is meant to be shown); render it with
    :func:`cnnlib.viz.animation_html`.

    Parameters
    ----------
    x, kernel, stride, padding, dilation
        As in :func:`sliding_window_figure`.
    max_frames : int
        Refuse outputs with more positions than this, to keep pages light.
    interval : int
        Milliseconds between frames.
    dpi : float

    Returns
    -------
    matplotlib.animation.FuncAnimation
    """
    s = _setup(x, kernel, stride, padding, dilation)
    n_frames = len(s.positions)
    if n_frames > max_frames:
        raise ValueError(
            f"the output has {n_frames} positions (shape {s.out.shape}) but max_frames is {max_frames}; "
            "use a smaller input, a larger stride, or raise max_frames"
        )
    fig, ax = plt.subplots(figsize=_figure_size(s), dpi=dpi)

    def update(step: int):
        ax.clear()
        _draw_frame(ax, s, step)
        return []

    update(0)
    fig.tight_layout()
    set_alt(fig, "Animation, one frame per output: " + _describe(s, s.positions))
    anim = FuncAnimation(fig, update, frames=n_frames, interval=interval, repeat=True)
    plt.close(fig)
    return anim
