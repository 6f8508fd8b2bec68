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


class _Drawing:
    """Every grid drawn once; :meth:`show` recolours it for one output number.

    An animation frame only moves the window outlines, recolours cells and
    shows one more output number, so the artists are made once (drawing
    them anew for every frame cost about a second per frame).
    """

    def __init__(self, ax: Axes, x, w, b, y, stride: int, padding: int) -> None:
        self.ax, self.w, self.b, self.y, self.stride, self.padding = ax, w, b, y, stride, padding
        self.lay = lay = _Layout(x, w, y, padding)
        self.xp = np.pad(x, [(0, 0), (padding, padding), (padding, padding)])
        head = lay.top - 0.9
        ax.text(lay.x_in, head, f"input x: {x.shape[0]}×{x.shape[1]}×{x.shape[2]}" + (f", pad {padding}" if padding else ""),
                ha="left", va="center", fontsize=_TEXT_PT, fontweight="bold")
        for f in range(lay.f):
            ax.text(lay.x_filter[f], head, f"filter w{f}", ha="left", va="center", fontsize=_TEXT_PT, fontweight="bold")
        ax.text(lay.x_out, head, "output y", ha="left", va="center", fontsize=_TEXT_PT, fontweight="bold")
        self.inputs, self.outlines, self.filters = [], [], [[] for _ in range(lay.f)]
        for ch in range(lay.c):
            top = lay.grid_top(ch)
            ax.text(lay.x_in, top - 0.45, f"x[{ch}]", ha="left", va="center", fontsize=_TEXT_PT)
            self.inputs.append(self._cells(self.xp[ch], lay.x_in, top))
            outline(ax, lay.x_in, top, lay.k, lay.k, CURRENT)
            self.outlines.append(ax.patches[-1])
            for f in range(lay.f):
                ax.text(lay.x_filter[f], top - 0.45, f"w{f}[{ch}]", ha="left", va="center", fontsize=_TEXT_PT)
                self.filters[f].append(self._cells(w[f, ch], lay.x_filter[f], top))
        self.outputs, self.output_texts = [], []
        for f in range(lay.f):
            ax.text(lay.x_filter[f], lay.top + lay.c * lay.row - 0.2, f"b{f} = {format_number(b[f])}", ha="left",
                    va="center", fontsize=_TEXT_PT)
            top = lay.out_top(f)
            ax.text(lay.x_out, top - 0.45, f"y[{f}]: {lay.o}×{lay.o}", ha="left", va="center", fontsize=_TEXT_PT)
            n_texts = len(ax.texts)
            self.outputs.append(self._cells(y[f], lay.x_out, top))
            self.output_texts.append(list(ax.texts)[n_texts:])
        self.formula = ax.text(lay.x_in, lay.height - 0.8, "", ha="left", va="center", fontsize=10)
        ax.set_xlim(0, lay.width)
        ax.set_ylim(lay.height, 0)
        ax.set_aspect("equal")
        ax.axis("off")

    def _cells(self, values, left: float, top: float) -> list:
        """Draw a grid; return its cell patches, row by row."""
        n_patches = len(self.ax.patches)
        draw_cells(self.ax, values, left, top, fontsize=_TEXT_PT)
        return list(self.ax.patches)[n_patches:]

    def show(self, step: int, upto: int) -> None:
        """Highlight output number `step` (filter-major order) and show outputs 0..`upto`."""
        lay, s, p = self.lay, self.stride, self.padding
        f_cur, rest = divmod(step, lay.o * lay.o)
        i, j = divmod(rest, lay.o)
        r0, c0 = i * s, j * s
        for ch in range(lay.c):
            colors = np.full(self.xp[ch].shape, "white", dtype=object)
            if p:
                colors[:p, :] = colors[-p:, :] = colors[:, :p] = colors[:, -p:] = PADDING
            colors[r0:r0 + lay.k, c0:c0 + lay.k] = WINDOW
            for patch, color in zip(self.inputs[ch], colors.ravel()):
                patch.set_facecolor(color)
            self.outlines[ch].set_xy((lay.x_in + c0, lay.grid_top(ch) + r0))
            for f in range(lay.f):
                for patch in self.filters[f][ch]:
                    patch.set_facecolor(KERNEL if f == f_cur else "white")
        for f in range(lay.f):
            index = f * lay.o * lay.o + np.arange(lay.o * lay.o)
            for patch, text, k in zip(self.outputs[f], self.output_texts[f], index):
                patch.set_facecolor(CURRENT if k == step else OUTPUT if k <= upto else "white")
                text.set_visible(bool(k <= upto))
        parts = [format_number(np.sum(self.xp[ch, r0:r0 + lay.k, c0:c0 + lay.k] * self.w[f_cur, ch]))
                 for ch in range(lay.c)]
        self.formula.set_text(f"y[{f_cur},{i},{j}] = " + " + ".join(f"({q})" for q in parts)
                              + f" + b{f_cur} ({format_number(self.b[f_cur])}) = {format_number(self.y[f_cur, i, j])}")


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
    _Drawing(ax, x, w, b, y, stride, padding).show(step, upto=y.size - 1)
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
    drawing = _Drawing(ax, x, w, b, y, stride, padding)

    def update(step: int):
        drawing.show(step, upto=step)
        return []

    update(0)
    set_alt(fig, _alt(x, w, b, y, stride, padding, f"Animation in {y.size} frames of a convolution as volumes, one "
                      "output number per frame"))
    anim = FuncAnimation(fig, update, frames=y.size, interval=interval, repeat=True)
    plt.close(fig)
    return anim
