"""Drawing small arrays as tables of numbers (shared by the chapter 5-7 figures).

Everything is drawn on one Axes whose data unit is one table cell, so that
tables side by side share a cell size and arrows or labels can be placed in
cell coordinates (x to the right, y downwards). :func:`canvas` shrinks the
cell so that no figure is wider than :data:`PAGE_WIDTH_IN` (a wider figure
would be scaled down on the page, and its text with it); the
text keeps its size in points, never below :data:`~cnnlib.viz._style.MIN_FONT_PT`.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.patches import Rectangle

from ._style import MAX_WIDTH_IN, MIN_FONT_PT

_PATCH_COLORS = plt.get_cmap("tab10").colors
# Below this cell size (inches, 14 pt) a 10 pt number such as "-3" no longer fits in its cell.
_MIN_UNIT_IN = 0.2
# Width the figures of chapters 5-7 aim for. The inline backend saves with a
# tight bounding box (about 0.1 in of margin each side), and the content
# column measured 688 CSS px at a 1280 px window: 6.6 in (about 680 px saved)
# is shown at its own size, where 7.2 in (740 px) was scaled to 93 %, and
# 9 pt text with it to 8.4 pt.
PAGE_WIDTH_IN = min(MAX_WIDTH_IN, 6.6)
CELL_FONT_PT = 10.0
SMALL_FONT_PT = max(9.0, MIN_FONT_PT)  # long tables (im2col's col) and row labels


def color(k: int):
    """The k-th of ten distinct colours (cycling)."""
    return _PATCH_COLORS[k % len(_PATCH_COLORS)]


def tint(rgb, alpha: float = 0.35):
    """A pale version of `rgb`, for cell backgrounds that keep text readable."""
    r, g, b = rgb[:3]
    return (1 - alpha + alpha * r, 1 - alpha + alpha * g, 1 - alpha + alpha * b)


def format_value(v: float) -> str:
    """Short text for a table cell: integers without a decimal point, -inf as a minus infinity sign."""
    if np.isneginf(v):
        return "\u2212\u221e"
    if float(v).is_integer():
        return f"{v:.0f}".replace("-", "\u2212")
    return f"{v:.3g}".replace("-", "\u2212")


def draw_grid(ax, values: np.ndarray, x0: float = 0.0, y0: float = 0.0, fill=None, fontsize: float = CELL_FONT_PT,
              bold=None) -> None:
    """Draw a 2-D array as a table with its top-left corner at (x0, y0).

    ``fill[i][j]`` colours a cell (None: white); ``bold[i][j]`` sets its text in bold.
    """
    rows, cols = values.shape
    for i in range(rows):
        for j in range(cols):
            face = "white" if fill is None or fill[i][j] is None else fill[i][j]
            ax.add_patch(Rectangle((x0 + j, y0 + i), 1, 1, facecolor=face, edgecolor="0.6", linewidth=0.8))
            weight = "bold" if bold is not None and bold[i][j] else "normal"
            ax.text(x0 + j + 0.5, y0 + i + 0.5, format_value(values[i, j]), ha="center", va="center",
                    fontsize=max(fontsize, MIN_FONT_PT), fontweight=weight)


def canvas(width: float, height: float, unit: float = 0.42):
    """A figure with one Axes of `width` x `height` cells (plus a margin for titles).

    `unit` is the preferred cell size in inches; it shrinks so that the
    figure is at most ``PAGE_WIDTH_IN`` wide. A table too wide to fit with
    readable cells (0.2 in) is refused rather than drawn illegibly.
    """
    unit = min(unit, PAGE_WIDTH_IN / (width + 0.6))
    if unit < _MIN_UNIT_IN:
        raise ValueError(f"a figure {width:.0f} cells wide does not fit {MAX_WIDTH_IN} in with readable cells; "
                         "draw a smaller example")
    fig, ax = plt.subplots(figsize=((width + 0.6) * unit, (height + 1.3) * unit))
    fig.subplots_adjust(0, 0, 1, 1)
    ax.set_xlim(-0.3, width + 0.3)
    ax.set_ylim(height + 0.3, -1.0)  # room above for the titles
    ax.set_aspect("equal")
    ax.axis("off")
    return fig, ax


def title(ax, x: float, y: float, text: str, fontsize: float = CELL_FONT_PT) -> None:
    """A left-aligned caption just above the table whose top-left corner is (x, y)."""
    ax.text(x, y - 0.15, text, fontsize=max(fontsize, MIN_FONT_PT), ha="left", va="bottom")


def matrix_text(values: np.ndarray) -> str:
    """A small array as text for alt descriptions: rows separated by semicolons."""
    return "; ".join(" ".join(format_value(v).replace("\u2212", "-") for v in row) for row in np.atleast_2d(values))
