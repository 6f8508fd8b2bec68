"""Labelled boxes and arrows on an axes measured in inches (block diagrams).

The diagrams of :mod:`cnnlib.viz.architecture` place every box by hand, so
they draw on one axes that covers the whole figure with one data unit per
inch (y pointing down). Text widths are measured with the Agg renderer at
72 dpi (one pixel = one point), so a box is made as wide as its longest line
instead of guessing from a character count.

Every box is a patch whose ``gid`` is ``"box:<kind>:<name>"`` and every arrow
one whose ``gid`` is ``"arrow"``, so a test can count what a diagram draws.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.patches import FancyArrowPatch, FancyBboxPatch
from matplotlib.path import Path

from ._grid import EDGE, KERNEL, OUTPUT, WINDOW

TEXT_PT = 9.5  # every label of a diagram; above MIN_FONT_PT with room for rounding
LINE_IN = TEXT_PT * 1.3 / 72  # one line of text, in inches
PAD_IN = 0.07  # inner margin of a box

# What each kind of layer looks like, in the book's palette (conv = kernel blue,
# pooling = window orange, fully connected = output green).
FILL = {
    "input": "white",
    "conv": KERNEL,
    "reduce": "#c9def2",  # a 1x1 reduction: a paler conv
    "pool": WINDOW,
    "fc": OUTPUT,
    "inception": "#c7b8e6",
    "concat": "#eeeeee",
    "other": "#eeeeee",
}

_RENDERER = RendererAgg(10, 10, 72)


def text_width_in(text: str, bold: bool = False, size: float = TEXT_PT) -> float:
    """Width of one line of text in inches, as Agg draws it."""
    prop = FontProperties(size=size, weight="bold" if bold else "normal")
    width, _, _ = _RENDERER.get_text_width_height_descent(text, prop, ismath=False)
    return width / 72


def wrap_to_width(text: str, width_in: float, size: float = TEXT_PT) -> list[str]:
    """Split `text` at spaces into lines no wider than `width_in` inches (as drawn)."""
    lines: list[str] = []
    for word in text.split():
        if lines and text_width_in(lines[-1] + " " + word, size=size) <= width_in:
            lines[-1] += " " + word
        else:
            lines.append(word)
    return lines


def box_size(lines: Sequence[str]) -> tuple[float, float]:
    """(width, height) in inches of a box holding `lines` (the first one bold)."""
    width = max(text_width_in(line, bold=(i == 0)) for i, line in enumerate(lines))
    return width + 2 * PAD_IN, len(lines) * LINE_IN + 2 * PAD_IN


def canvas(width: float, height: float) -> tuple[Figure, Axes]:
    """A figure of `width` x `height` inches with one axes in inch units, y down."""
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0, 0, 1, 1))
    ax.set_xlim(0, width)
    ax.set_ylim(height, 0)
    ax.axis("off")
    return fig, ax


def draw_box(ax: Axes, x: float, y: float, w: float, h: float, lines: Sequence[str], kind: str, name: str,
             dashed: bool = False) -> None:
    """A rounded box with top-left corner (x, y), its lines centred (the first bold)."""
    patch = FancyBboxPatch((x, y), w, h, boxstyle="round,pad=0,rounding_size=0.05", facecolor=FILL.get(kind, "#eeeeee"),
                           edgecolor=EDGE, linewidth=1.0, linestyle="--" if dashed else "-")
    patch.set_gid(f"box:{kind}:{name}")
    ax.add_patch(patch)
    top = y + (h - len(lines) * LINE_IN) / 2
    for i, line in enumerate(lines):
        ax.text(x + w / 2, top + (i + 0.5) * LINE_IN, line, ha="center", va="center", fontsize=TEXT_PT,
                fontweight="bold" if i == 0 else "normal")


def draw_arrow(ax: Axes, points: Sequence[tuple[float, float]]) -> None:
    """An arrow along a polyline (two points: straight; more: an elbow), head at the end."""
    codes = [Path.MOVETO] + [Path.LINETO] * (len(points) - 1)
    arrow = FancyArrowPatch(path=Path(points, codes), arrowstyle="-|>", mutation_scale=9, color=EDGE, linewidth=1.0,
                            shrinkA=0, shrinkB=0)
    arrow.set_gid("arrow")
    ax.add_patch(arrow)


def count_gids(fig: Figure, prefix: str) -> int:
    """How many patches of `fig` have a gid starting with `prefix` (for tests and alt text)."""
    return sum(1 for ax in fig.axes for p in ax.patches if (p.get_gid() or "").startswith(prefix))
