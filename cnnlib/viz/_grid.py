"""Drawing helpers shared by the figure modules: numbered grids of cells."""

from __future__ import annotations

import numpy as np
from matplotlib.axes import Axes
from matplotlib.patches import Rectangle

# One palette for the whole book, so that "window", "kernel", "output" and
# "padding" mean the same colour in every chapter.
WINDOW = "#f4a259"  # the receptive field under the kernel
KERNEL = "#8cb8e0"
OUTPUT = "#9fd3a4"
CURRENT = "#3c9d4f"  # the output cell being computed
PADDING = "#e3e3e3"
LOST = "#e07070"  # input pixels that no window ever covers
EDGE = "#4a4a4a"


def format_number(value: float) -> str:
    """Integers without a decimal point, other numbers with two decimals."""
    value = float(value)
    if np.isclose(value, round(value), rtol=0, atol=1e-9):
        return str(int(round(value)))
    return f"{value:.2f}"


def draw_cells(
    ax: Axes,
    values: np.ndarray,
    left: float,
    top: float,
    *,
    colors: np.ndarray | None = None,
    show: np.ndarray | None = None,
    fontsize: float = 11,
    cell: float = 1.0,
) -> None:
    """Draw a 2-D array as a grid of square cells with its numbers inside.

    The axes use y pointing *down* (matrix convention): row 0 is at `top`.

    Parameters
    ----------
    values : (R, C) array
    left, top : float
        Data coordinates of the top-left corner.
    colors : (R, C) array of colour strings, optional
        Face colour of each cell; white by default.
    show : (R, C) bool array, optional
        Which cells print their number; all by default.
    """
    values = np.asarray(values)
    rows, cols = values.shape
    for r in range(rows):
        for c in range(cols):
            face = "white" if colors is None else colors[r, c]
            ax.add_patch(Rectangle((left + c * cell, top + r * cell), cell, cell, facecolor=face, edgecolor=EDGE, linewidth=0.8))
            if show is None or show[r, c]:
                ax.text(left + (c + 0.5) * cell, top + (r + 0.5) * cell, format_number(values[r, c]),
                        ha="center", va="center", fontsize=fontsize)


def outline(ax: Axes, left: float, top: float, width: float, height: float, color: str, linewidth: float = 2.5) -> None:
    """A thick frame around a block of cells (the sliding window)."""
    ax.add_patch(Rectangle((left, top), width, height, fill=False, edgecolor=color, linewidth=linewidth, zorder=5))


def matrix_axes(ax: Axes, width: float, height: float) -> None:
    """Square cells, y pointing down, no ticks or frame."""
    ax.set_xlim(-0.2, width + 0.2)
    ax.set_ylim(height + 0.2, -0.2)
    ax.set_aspect("equal")
    ax.axis("off")
