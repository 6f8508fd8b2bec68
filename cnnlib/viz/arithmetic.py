"""Convolution arithmetic as pictures: padding, stride, dilation, parameters.

A convolution treats its two spatial axes independently, so one axis tells
the whole story of the output-size formula: a strip of input pixels (with
the padding zeros at both ends) and, below it, one row per window position.
Pixels that no window reaches -- the border that the floor in
``floor((H + 2P - K_eff) / S) + 1`` throws away -- are drawn in red.
"""

from __future__ import annotations

from typing import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._validation import as_int
from ..shapes import conv_output_size
from ._grid import EDGE, LOST, OUTPUT, PADDING, WINDOW
from ._style import MAX_WIDTH_IN, MIN_FONT_PT, set_alt

__all__ = ["output_size_diagram", "output_size_gallery", "parameter_comparison"]

_MAX_WINDOWS = 12


def _formula(size: int, kernel: int, stride: int, padding: int, dilation: int, out: int) -> tuple[str, str]:
    """The two title lines: the configuration, then the formula with its numbers."""
    k_eff = dilation * (kernel - 1) + 1
    head = f"H = {size}, K = {kernel}, S = {stride}, P = {padding}"
    if dilation != 1:
        head += f", D = {dilation} (K_eff = {k_eff})"
    k_text = "K_eff" if dilation != 1 else "K"
    return head, f"O = ⌊(H + 2P − {k_text}) / S⌋ + 1 = ⌊{size + 2 * padding - k_eff}/{stride}⌋ + 1 = {out}"


def _checked(size, kernel_size, stride, padding, dilation) -> tuple[int, int, int, int, int, int]:
    size, kernel_size = as_int(size, "size", 1), as_int(kernel_size, "kernel_size", 1)
    stride, padding, dilation = as_int(stride, "stride", 1), as_int(padding, "padding", 0), as_int(dilation, "dilation", 1)
    out = conv_output_size(size, kernel_size, stride, padding, dilation)
    if out > _MAX_WINDOWS:
        raise ValueError(f"{out} window positions are too many to draw legibly (at most {_MAX_WINDOWS}); use a smaller size")
    return size, kernel_size, stride, padding, dilation, out


_CELL_IN = 0.38  # one cell of the drawing, in inches
_FONT_PT = 10.0
_CHAR_IN = 0.085  # generous width of one character at _FONT_PT (DejaVu Sans averages ~0.075)


def _height(out: int) -> float:
    """Data height of one diagram: two title lines, strip, gap, one row per window."""
    return out + 3.3


def _draw(ax: Axes, top: float, column: float, size: int, kernel_size: int, stride: int, padding: int,
          dilation: int, out: int) -> None:
    """Draw one diagram with its title at y = `top` (y points down)."""
    head, formula = _formula(size, kernel_size, stride, padding, dilation, out)
    ax.text(-0.2, top + 0.35, head, ha="left", va="center", fontsize=_FONT_PT)
    ax.text(-0.2, top + 1.05, formula, ha="left", va="center", fontsize=_FONT_PT)
    strip = top + 1.6
    length = size + 2 * padding
    covered = np.zeros(length, dtype=bool)
    for o in range(out):
        y = strip + 1.5 + o
        taps = [o * stride + k * dilation for k in range(kernel_size)]
        covered[taps] = True
        span = taps[-1] - taps[0] + 1
        ax.add_patch(Rectangle((taps[0], y), span, 0.8, facecolor="none", edgecolor=EDGE, linewidth=0.6, linestyle=":"))
        for t in taps:
            ax.add_patch(Rectangle((t, y), 1, 0.8, facecolor=WINDOW, edgecolor=EDGE, linewidth=0.8))
        ax.add_patch(Rectangle((column, y), 0.8, 0.8, facecolor=OUTPUT, edgecolor=EDGE, linewidth=0.8))
        ax.text(column + 0.4, y + 0.4, str(o), ha="center", va="center", fontsize=_FONT_PT)
    for t in range(length):
        is_pad = t < padding or t >= padding + size
        face = LOST if not covered[t] else (PADDING if is_pad else "white")
        ax.add_patch(Rectangle((t, strip), 1, 1, facecolor=face, edgecolor=EDGE, linewidth=0.8))
        # Real pixels show their index; padding cells show the zero they hold.
        ax.text(t + 0.5, strip + 0.5, "0" if is_pad else str(t - padding), ha="center", va="center", fontsize=_FONT_PT,
                color="#555555" if is_pad else "black", style="italic" if is_pad else "normal")
    ax.text(column + 0.4, strip + 1.2, "out", ha="center", va="center", fontsize=MIN_FONT_PT)


def _canvas(ax: Axes, width: float, height: float) -> None:
    ax.set_xlim(-0.3, width)
    ax.set_ylim(height, -0.1)
    ax.set_aspect("equal")
    ax.axis("off")


def output_size_diagram(size: int, kernel_size: int, stride: int = 1, padding: int = 0, dilation: int = 1,
                        *, dpi: float = 100) -> Figure:
    """One axis of a convolution: padded input strip and every window position.

    Parameters
    ----------
    size, kernel_size, stride, padding, dilation : int
        As in :func:`cnnlib.shapes.conv_output_size` (padding on each side).
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        One axes: the formula with its numbers, the input strip (grey:
        padding zeros, red: pixels no window reads), one row of window taps
        per output position and the output index on the right.
    """
    return output_size_gallery([dict(size=size, kernel_size=kernel_size, stride=stride, padding=padding,
                                     dilation=dilation)], dpi=dpi)


def output_size_gallery(configs: Sequence[Mapping[str, int]], *, dpi: float = 100) -> Figure:
    """Several :func:`output_size_diagram` drawings stacked on one scale.

    Parameters
    ----------
    configs : sequence of dict
        Keyword arguments for :func:`output_size_diagram` (``size``,
        ``kernel_size`` and optionally ``stride``, ``padding``, ``dilation``).

    Returns
    -------
    matplotlib.figure.Figure
        One axes holding every diagram, so that cells have the same size and
        the strips and output columns line up.
    """
    if not configs:
        raise ValueError("configs is empty: give at least one configuration")
    checked = [_checked(c["size"], c["kernel_size"], c.get("stride", 1), c.get("padding", 0), c.get("dilation", 1))
               for c in configs]
    widest = max(size + 2 * padding for size, _, _, padding, _, _ in checked)
    column = widest + 0.6
    # Leave room for the longest title line.
    longest = max(len(line) for c in checked for line in _formula(*c))
    width = max(column + 1.0, longest * _CHAR_IN / _CELL_IN)
    if (width + 0.3) * _CELL_IN > MAX_WIDTH_IN:
        raise ValueError(f"a padded input of {widest} cells is too wide to draw legibly; use a smaller size")
    height = sum(_height(c[-1]) for c in checked)
    fig, ax = plt.subplots(figsize=(_CELL_IN * (width + 0.3), _CELL_IN * (height + 0.1)), dpi=dpi)
    top = 0.0
    for c in checked:
        _draw(ax, top, column, *c)
        top += _height(c[-1])
    _canvas(ax, width, height - 0.3)
    fig.subplots_adjust(left=0.01, right=0.99, top=0.99, bottom=0.01)
    return set_alt(fig, "; ".join(_describe(*c) for c in checked))


def _describe(size: int, kernel_size: int, stride: int, padding: int, dilation: int, out: int) -> str:
    """Alt text of one diagram: configuration, window count and lost pixels."""
    head, formula = _formula(size, kernel_size, stride, padding, dilation, out)
    reach = (out - 1) * stride + dilation * (kernel_size - 1) + 1  # cells up to the end of the last window
    lost = size + 2 * padding - reach
    text = (f"One axis of a convolution with {head}: a strip of {size} input pixels"
            + (f" with {padding} padding zero(s) at each end" if padding else "")
            + f", and below it the {out} window positions, so {formula}")
    if lost:
        text += f"; the last {lost} cell(s) of the strip are never read (red)"
    return text


def parameter_comparison(counts: Mapping[str, int], *, title: str = "learnable parameters", dpi: float = 100) -> Figure:
    """Horizontal bars of parameter counts on a logarithmic axis, each labelled.

    Parameters
    ----------
    counts : dict of str -> int
        Layer description -> number of parameters (all >= 1). Bars
        alternate between two colours, so list alternatives in pairs
        (e.g. a dense layer, then the conv layer that replaces it).
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        One axes.
    """
    if not counts:
        raise ValueError("counts is empty")
    names = list(counts)
    values = [as_int(counts[k], f"counts[{k!r}]", 1) for k in names]
    fig, ax = plt.subplots(figsize=(min(7.0, MAX_WIDTH_IN), 0.55 * len(names) + 1.0), dpi=dpi)
    ypos = np.arange(len(names))
    ax.barh(ypos, values, color=[WINDOW if i % 2 == 0 else OUTPUT for i in range(len(names))], edgecolor=EDGE)
    ax.set_xscale("log")
    ax.set_yticks(ypos, names, fontsize=9)
    ax.invert_yaxis()
    # Room on the right of the longest bar for its label, on the log scale.
    ax.set_xlim(0.5, max(values) * 40)
    for y, v in zip(ypos, values):
        ax.text(v * 1.3, y, f"{v:,}", va="center", fontsize=9)
    ax.set_xlabel("number of parameters (log scale)", fontsize=10)
    ax.tick_params(axis="x", labelsize=MIN_FONT_PT)
    ax.set_title(title, fontsize=10)
    for side in ("top", "right"):
        ax.spines[side].set_visible(False)
    fig.tight_layout()
    bars = "; ".join(f"{name}: {value:,}" for name, value in zip(names, values))
    return set_alt(fig, f"Horizontal bars on a logarithmic axis, {title}: {bars}.")
