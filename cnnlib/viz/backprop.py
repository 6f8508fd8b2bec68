"""Figures for backpropagation through a convolution (chapter 7).

:func:`plot_conv1d_connections` draws the connections of a 1-D convolution,
coloured by the weight they share, so that the sum behind dL/dw_i can be
read off; :func:`plot_full_correlation` draws the input gradient as a
"full" correlation of the padded deltas with the kernel rotated by pi.
Indices start at 0, as in the book and in NumPy.
"""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..functional import correlate2d
from ._style import set_alt
from ._tables import canvas, color, draw_grid, format_value, matrix_text, tint, title

__all__ = ["plot_conv1d_connections", "plot_full_correlation"]


def _plain(v: float) -> str:
    return format_value(v).replace("\u2212", "-")


def plot_conv1d_connections(x, w, delta, highlight: int = 0) -> Figure:
    """The connections of ``o_j = sum_i w_i x_{i+j}``, one colour per weight.

    Parameters
    ----------
    x : (W,) array
        Input.
    w : (K,) array
        Kernel.
    delta : (W-K+1,) array
        dL/do_j, the gradient arriving at each output.
    highlight : int
        Index i (from 0) of the weight whose connections are drawn thick; the
        caption adds up ``delta_j x_{i+j}`` along them.

    Returns
    -------
    Figure
    """
    x = np.asarray(x, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    delta = np.asarray(delta, dtype=np.float64)
    if x.ndim != 1 or w.ndim != 1 or delta.shape != (x.size - w.size + 1,):
        raise ValueError(f"need x (W,), w (K,) and delta (W-K+1,); got {x.shape}, {w.shape}, {delta.shape}")
    if not 0 <= highlight < w.size:
        raise ValueError(f"highlight must be a weight index in [0, {w.size}); got {highlight}")
    length, k = x.size, w.size
    o = np.correlate(x, w, mode="valid")
    gap = 1.7  # centre-to-centre distance of the boxes
    shift = (k - 1) * gap / 2  # centre each output above the inputs it sees
    y_in, y_out = 5.2, 1.6
    fig, ax = canvas(length * gap + 2.6, y_in + 1.8, unit=0.62)

    def box(x0, y0, text):
        ax.add_patch(Rectangle((x0, y0), 1, 1, facecolor="white", edgecolor="0.4", zorder=2))
        ax.text(x0 + 0.5, y0 + 0.5, text, ha="center", va="center", fontsize=10, zorder=3)

    for j in range(o.size):
        for i in range(k):
            thick = i == highlight
            ax.plot([(i + j) * gap + 0.5, j * gap + shift + 0.5], [y_in, y_out + 1.0], color=color(i),
                    linewidth=3.0 if thick else 1.2, alpha=1.0 if thick else 0.5, zorder=1)
    for i in range(length):
        box(i * gap, y_in, format_value(x[i]))
        ax.text(i * gap + 0.5, y_in + 1.4, f"$x_{{{i}}}$", ha="center", va="center", fontsize=11)
    for j in range(o.size):
        box(j * gap + shift, y_out, format_value(o[j]))
        ax.text(j * gap + shift + 0.5, y_out - 0.35, f"$o_{{{j}}}$", ha="center", va="center", fontsize=11)
        ax.text(j * gap + shift + 0.5, y_out - 0.95, f"$\\delta_{{{j}}}={format_value(delta[j])}$",
                ha="center", va="center", fontsize=10)
    for i in range(k):
        ax.text(length * gap + 0.2, y_out + 1.2 + 0.7 * i, f"$w_{{{i}}}={format_value(w[i])}$", color=color(i),
                fontsize=11, va="center")

    def factor(v):
        return f"({format_value(v)})" if v < 0 else format_value(v)

    terms = " + ".join(f"{factor(delta[j])}\u00b7{factor(x[highlight + j])}" for j in range(o.size))
    grad = float(np.dot(delta, x[highlight: highlight + o.size]))
    ax.text(0.0, -0.6, f"$\\partial L/\\partial w_{{{highlight}}}$ = {terms} = {format_value(grad)}",
            fontsize=11, color=color(highlight))
    used = ", ".join(f"x_{highlight + j}" for j in range(o.size))
    return set_alt(fig, (
        f"A 1-D convolution drawn as connections: inputs x_0 to x_{length - 1} = {_plain_list(x)} on the bottom "
        f"row, outputs o_0 to o_{o.size - 1} = {_plain_list(o)} above them with their deltas {_plain_list(delta)}, "
        f"and one line colour per weight w_0 to w_{k - 1} = {_plain_list(w)}. The thick lines are the {o.size} uses "
        f"of w_{highlight}, which meets {used}; the caption adds them up: dL/dw_{highlight} = {_plain(grad)}."))


def _plain_list(values) -> str:
    return "(" + ", ".join(_plain(v) for v in values) + ")"


def plot_full_correlation(delta, w) -> Figure:
    """The input gradient of a convolution as a full correlation.

    Parameters
    ----------
    delta : (O_H, O_W) array
        dL/dy of a valid, stride-1 convolution ``y = correlate2d(x, w)``.
    w : (K_H, K_W) array
        Its kernel.

    Returns
    -------
    Figure
        delta padded with K_H-1, K_W-1 zeros on each side (zeros in grey) with
        the first window outlined; w rotated by pi; and
        ``dx = correlate2d(delta, rot180(w), mode="full")`` with the cell of
        the outlined window tinted.
    """
    delta = np.asarray(delta, dtype=np.float64)
    w = np.asarray(w, dtype=np.float64)
    if delta.ndim != 2 or w.ndim != 2:
        raise ValueError(f"delta and w must be 2-D; got shapes {delta.shape} and {w.shape}")
    kh, kw = w.shape
    padded = np.pad(delta, [(kh - 1, kh - 1), (kw - 1, kw - 1)])
    rotated = w[::-1, ::-1]
    dx = correlate2d(delta, rotated, mode="full")
    hp, wp = padded.shape
    grey = [[(None if (kh - 1 <= i < kh - 1 + delta.shape[0] and kw - 1 <= j < kw - 1 + delta.shape[1]) else "0.88")
             for j in range(wp)] for i in range(hp)]
    x_rot = wp + 2.0
    x_dx = x_rot + kw + 2.0
    fig, ax = canvas(x_dx + dx.shape[1] + 1.0, max(hp, dx.shape[0]))
    draw_grid(ax, padded, 0.0, 0.0, fill=grey)
    ax.add_patch(Rectangle((0.08, 0.08), kw - 0.16, kh - 0.16, fill=False, edgecolor=color(0), linewidth=2.4))
    title(ax, 0.0, 0.0, f"\u03b4 padded with ({kh - 1}, {kw - 1}) zeros")
    y_rot = (hp - kh) / 2
    draw_grid(ax, rotated, x_rot, y_rot, fill=[[tint(color(0))] * kw] * kh)
    title(ax, x_rot, y_rot, "w rotated by \u03c0")
    dx_fill = [[(tint(color(0)) if (i, j) == (0, 0) else None) for j in range(dx.shape[1])] for i in range(dx.shape[0])]
    y_dx = (hp - dx.shape[0]) / 2
    draw_grid(ax, dx, x_dx, y_dx, fill=dx_fill)
    title(ax, x_dx, y_dx, "dx (full correlation)")
    ax.text(x_rot - 1.0, hp / 2, "$\\star$", ha="center", va="center", fontsize=28)
    ax.text(x_dx - 1.0, hp / 2, "=", ha="center", va="center", fontsize=16)
    return set_alt(fig, (
        f"The input gradient of a {kh}x{kw} convolution as a full cross-correlation: the {delta.shape[0]}x"
        f"{delta.shape[1]} deltas (rows {matrix_text(delta)}) padded with {kh - 1} and {kw - 1} zeros on each side "
        f"(grey), cross-correlated with the kernel rotated by pi (rows {matrix_text(rotated)}), give the "
        f"{dx.shape[0]}x{dx.shape[1]} gradient dx (rows {matrix_text(dx)}); the outlined top-left window gives its "
        f"tinted top-left entry {_plain(dx[0, 0])}."))
