"""A multi-channel convolution drawn as volumes, with every number shown.

One row per input channel: the channel of the input x, then the same channel
of each filter w_f. On the right, the F output maps. One output position is
highlighted: its window on every channel, the filter that computes it, and
the sum written out channel by channel (the picture of CS231n's convolution
demo, drawn here as a figure and an animation). The numbers come from
:func:`cnnlib.functional.conv2d`; the figure only draws them.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.animation import FuncAnimation
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._validation import as_int
from ..functional import conv2d
from ..shapes import conv_output_size
from ._grid import CURRENT, KERNEL, OUTPUT, PADDING, WINDOW, draw_cells, format_number, outline
from ._style import MAX_WIDTH_IN, set_alt

__all__ = ["plot_conv_volumes", "conv_volumes_animation", "volume_example"]

_TEXT_PT = 9.5
_GAP = 1.0  # cells between columns
_LABEL = 0.9  # cells above each grid for its label
_MAX_CELL_IN = 0.3
_MAX_FRAMES = 50


def volume_example(in_channels: int = 3, size: int = 5, out_channels: int = 2, kernel_size: int = 3,
                   stride: int = 1, padding: int = 0, seed: int = 0):
    """The seeded integers the figures draw: ``x (C, H, W)``, ``w (F, C, K, K)``, ``b (F,)`` and ``y``.

    Inputs are 0, 1 or 2, weights -1, 0 or 1, biases 1, 0, 1, ..., so every sum
    can be checked by hand; ``y = conv2d(x, w, b, stride, padding)[0]`` has
    shape ``(F, O, O)``.
    """
    c = as_int(in_channels, "in_channels", 1)
    h = as_int(size, "size", 1)
    f = as_int(out_channels, "out_channels", 1)
    k = as_int(kernel_size, "kernel_size", 1)
    stride = as_int(stride, "stride", 1)
    padding = as_int(padding, "padding", 0)
    conv_output_size(h, k, stride, padding)  # raises a clear ValueError when the kernel does not fit
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 3, size=(c, h, h)).astype(np.float64)
    w = rng.integers(-1, 2, size=(f, c, k, k)).astype(np.float64)
    b = (np.arange(f) % 2 == 0).astype(np.float64)
    y = conv2d(x[None], w, b, stride=stride, padding=padding)[0]
    return x, w, b, y


class _Layout:
    """Where every grid goes, in cell units (x right, y down)."""

    def __init__(self, x, w, y, padding):
        self.c, self.h = x.shape[0], x.shape[1] + 2 * padding
        self.f, self.k, self.o = w.shape[0], w.shape[2], y.shape[1]
        self.row = max(self.h, self.k) + _LABEL + 0.5
        self.top = 1.6  # column headers
        self.x_in = 0.3
        self.x_filter = [self.x_in + self.h + _GAP + i * (self.k + _GAP) for i in range(self.f)]
        self.x_out = self.x_filter[-1] + self.k + _GAP
        self.width = self.x_out + self.o + 0.3
        out_rows = self.f * (self.o + _LABEL + 0.5)
        self.height = self.top + max(self.c * self.row, out_rows) + 1.6  # + the sum written out
        self.cell = min(_MAX_CELL_IN, MAX_WIDTH_IN / self.width)

    def grid_top(self, channel: int) -> float:
        return self.top + channel * self.row + _LABEL

    def out_top(self, f: int) -> float:
        return self.top + f * (self.o + _LABEL + 0.5) + _LABEL


def _draw(ax: Axes, x, w, b, y, stride: int, padding: int, step: int, upto: int) -> None:
    """Draw everything, highlighting output number `step` (filter-major) and showing outputs 0..upto."""
    lay = _Layout(x, w, y, padding)
    f_cur, rest = divmod(step, lay.o * lay.o)
    i, j = divmod(rest, lay.o)
    xp = np.pad(x, [(0, 0), (padding, padding), (padding, padding)])
    head = lay.top - 0.9
    ax.text(lay.x_in, head, f"input x: {x.shape[0]}×{x.shape[1]}×{x.shape[2]}" + (f", pad {padding}" if padding else ""),
            ha="left", va="center", fontsize=_TEXT_PT, fontweight="bold")
    for f in range(lay.f):
        ax.text(lay.x_filter[f], head, f"filter w{f}", ha="left", va="center", fontsize=_TEXT_PT, fontweight="bold")
    ax.text(lay.x_out, head, "output y", ha="left", va="center", fontsize=_TEXT_PT,
            fontweight="bold")
    for ch in range(lay.c):
        top = lay.grid_top(ch)
        colors = np.full(xp[ch].shape, "white", dtype=object)
        if padding:
            colors[:padding, :] = colors[-padding:, :] = colors[:, :padding] = colors[:, -padding:] = PADDING
        r0, c0 = i * stride, j * stride
        colors[r0:r0 + lay.k, c0:c0 + lay.k] = WINDOW
        ax.text(lay.x_in, top - 0.45, f"x[{ch}]", ha="left", va="center", fontsize=_TEXT_PT)
        draw_cells(ax, xp[ch], lay.x_in, top, colors=colors, fontsize=_TEXT_PT)
        outline(ax, lay.x_in + c0, top, lay.k, lay.k, CURRENT)
        for f in range(lay.f):
            face = np.full((lay.k, lay.k), KERNEL if f == f_cur else "white", dtype=object)
            ax.text(lay.x_filter[f], top - 0.45, f"w{f}[{ch}]", ha="left", va="center", fontsize=_TEXT_PT)
            draw_cells(ax, w[f, ch], lay.x_filter[f], top, colors=face, fontsize=_TEXT_PT)
    for f in range(lay.f):
        ax.text(lay.x_filter[f], lay.top + lay.c * lay.row - 0.2, f"b{f} = {format_number(b[f])}", ha="left",
                va="center", fontsize=_TEXT_PT)
        top = lay.out_top(f)
        index = f * lay.o * lay.o + np.arange(lay.o * lay.o).reshape(lay.o, lay.o)
        colors = np.where(index == step, CURRENT, np.where(index <= upto, OUTPUT, "white")).astype(object)
        ax.text(lay.x_out, top - 0.45, f"y[{f}]: {lay.o}×{lay.o}", ha="left", va="center", fontsize=_TEXT_PT)
        draw_cells(ax, y[f], lay.x_out, top, colors=colors, show=index <= upto, fontsize=_TEXT_PT)
    parts = [format_number(np.sum(xp[ch, i * stride:i * stride + lay.k, j * stride:j * stride + lay.k] * w[f_cur, ch]))
             for ch in range(lay.c)]
    ax.text(lay.x_in, lay.height - 0.8,
            f"y[{f_cur},{i},{j}] = " + " + ".join(f"({p})" for p in parts) + f" + b{f_cur} ({format_number(b[f_cur])})"
            f" = {format_number(y[f_cur, i, j])}", ha="left", va="center", fontsize=10)
    ax.set_xlim(0, lay.width)
    ax.set_ylim(lay.height, 0)
    ax.set_aspect("equal")
    ax.axis("off")


def _figure(x, w, y, padding, dpi) -> tuple[Figure, Axes]:
    lay = _Layout(x, w, y, padding)
    fig = plt.figure(figsize=(lay.width * lay.cell, lay.height * lay.cell), dpi=dpi)
    ax = fig.add_axes((0, 0, 1, 1))
    return fig, ax


def _alt(x, w, b, y, stride, padding, what: str) -> str:
    c, h, _ = x.shape
    f, _, k, _ = w.shape
    return (f"{what}: a {c}-channel {h}×{h} input (stride {stride}, padding {padding}), {f} filters of "
            f"{c}×{k}×{k} with biases {', '.join(format_number(v) for v in b)}, and the {f} output maps of "
            f"{y.shape[1]}×{y.shape[2]}; each output number is the sum over all {c} channels of the window times "
            f"the filter, plus the bias. Outputs: " +
            "; ".join(f"y[{i}] = " + " ".join(format_number(v) for v in y[i].ravel()) for i in range(f)) + ".")


def plot_conv_volumes(in_channels: int = 3, size: int = 5, out_channels: int = 2, kernel_size: int = 3, *,
                      stride: int = 1, padding: int = 0, position=(0, 0, 0), seed: int = 0, dpi: float = 100) -> Figure:
    """A C-channel input, F filters of C x K x K and F output maps, one output highlighted.

    Parameters
    ----------
    in_channels, size, out_channels, kernel_size : int
        C, H (= W), F and K of the example (drawn from :func:`volume_example`).
    stride, padding : int
    position : (f, i, j)
        The output number whose windows and sum are highlighted.
    seed : int
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        C rows (input channel, then that channel of every filter) and a
        column of F output maps with all their numbers.
    """
    x, w, b, y = volume_example(in_channels, size, out_channels, kernel_size, stride, padding, seed)
    f, i, j = (int(v) for v in position)
    if not (0 <= f < y.shape[0] and 0 <= i < y.shape[1] and 0 <= j < y.shape[2]):
        raise ValueError(f"position {tuple(position)} is outside the output of shape {y.shape}")
    fig, ax = _figure(x, w, y, padding, dpi)
    step = (f * y.shape[1] + i) * y.shape[2] + j
    _draw(ax, x, w, b, y, stride, padding, step, upto=y.size - 1)
    return set_alt(fig, _alt(x, w, b, y, stride, padding, f"Convolution as volumes, output y[{f},{i},{j}] highlighted"))


def conv_volumes_animation(in_channels: int = 3, size: int = 5, out_channels: int = 2, kernel_size: int = 3, *,
                           stride: int = 1, padding: int = 0, seed: int = 0, interval: int = 900,
                           dpi: float = 100) -> FuncAnimation:
    """The filters of :func:`plot_conv_volumes` sliding over the input, one output number per frame.

    Frames go filter by filter, row by row; each shows the outputs computed
    so far. Render it with :func:`cnnlib.viz.animation_html` (which plays
    offline), which takes the figure's alt text for the player.

    Returns
    -------
    matplotlib.animation.FuncAnimation
        ``F * O * O`` frames. The figure is closed before returning.
    """
    x, w, b, y = volume_example(in_channels, size, out_channels, kernel_size, stride, padding, seed)
    if y.size > _MAX_FRAMES:
        raise ValueError(f"the output has {y.size} numbers (shape {y.shape}), more frames than {_MAX_FRAMES}; "
                         "use a smaller size or fewer filters")
    fig, ax = _figure(x, w, y, padding, dpi)

    def update(step: int):
        ax.clear()
        _draw(ax, x, w, b, y, stride, padding, step, upto=step)
        return []

    update(0)
    set_alt(fig, _alt(x, w, b, y, stride, padding, f"Animation in {y.size} frames of a convolution as volumes, one "
                      "output number per frame"))
    anim = FuncAnimation(fig, update, frames=y.size, interval=interval, repeat=True)
    plt.close(fig)
    return anim
