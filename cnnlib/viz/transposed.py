"""Transposed convolution as Dumoulin and Visin draw it: a plain convolution of a spread-out input.

A transposed convolution with stride S and padding P equals an ordinary
stride-1 cross-correlation once the input is prepared:

1. insert S - 1 zeros between neighbouring input values;
2. pad the result with K - 1 - P zeros on every side ("full" padding);
3. slide the kernel, rotated by 180 degrees, over it.

The output has ``(H - 1) S - 2P + K`` values per axis
(:func:`cnnlib.shapes.conv_transpose_output_size`), the same numbers as
``torch.nn.functional.conv_transpose2d``.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from .._validation import as_float_array, as_int
from ..functional import correlate2d
from ..shapes import conv_transpose_output_size
from ._grid import CURRENT, KERNEL, OUTPUT, PADDING, WINDOW, draw_cells, format_number, outline
from ._style import MAX_WIDTH_IN, set_alt

__all__ = ["plot_transposed_conv", "transposed_conv_steps"]

_TEXT_PT = 9.5
_GAP = 1.3
_MAX_CELL_IN = 0.34


def transposed_conv_steps(x, weight, stride: int = 2, padding: int = 0):
    """The three steps of the picture, as arrays.

    Parameters
    ----------
    x : (H, W) array
    weight : (K_H, K_W) array
    stride, padding : int
        Need ``padding <= K - 1`` on both axes (more padding crops the
        output, which this picture does not show).

    Returns
    -------
    spread : (H', W') array
        `x` with ``stride - 1`` zeros between values and ``K - 1 - padding``
        zeros around.
    is_input : (H', W') bool array
        Where the values of `x` sit in `spread`.
    out : (O_H, O_W) array
        ``correlate2d(spread, weight rotated 180 degrees)``.
    """
    x = as_float_array(x, "x", ndim=2, shape_hint="(H, W)")
    weight = as_float_array(weight, "weight", ndim=2, shape_hint="(K_H, K_W)")
    stride = as_int(stride, "stride", 1)
    padding = as_int(padding, "padding", 0)
    kh, kw = weight.shape
    if padding > min(kh, kw) - 1:
        raise ValueError(f"padding ({padding}) must be at most kernel_size - 1 ({min(kh, kw) - 1}) for this picture")
    (h, w), ph, pw = x.shape, kh - 1 - padding, kw - 1 - padding
    spread = np.zeros(((h - 1) * stride + 1 + 2 * ph, (w - 1) * stride + 1 + 2 * pw))
    is_input = np.zeros(spread.shape, dtype=bool)
    spread[ph:ph + (h - 1) * stride + 1:stride, pw:pw + (w - 1) * stride + 1:stride] = x
    is_input[ph:ph + (h - 1) * stride + 1:stride, pw:pw + (w - 1) * stride + 1:stride] = True
    out = correlate2d(spread, weight[::-1, ::-1])
    expected = (conv_transpose_output_size(h, kh, stride, padding), conv_transpose_output_size(w, kw, stride, padding))
    assert out.shape == expected, (out.shape, expected)  # the picture and the formula agree
    return spread, is_input, out


def plot_transposed_conv(x, weight, stride: int = 2, padding: int = 0, *, position=(0, 0), dpi: float = 100) -> Figure:
    """Transposed convolution drawn as zeros inserted, full padding and a sliding kernel.

    Parameters
    ----------
    x : (H, W) array
        The input (small, e.g. 2 x 2).
    weight : (K, K) array
    stride, padding : int
        As in ``torch.nn.functional.conv_transpose2d``; ``padding <= K - 1``.
    position : (i, j)
        The output value whose kernel window is outlined.
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        Left to right: the input, the spread-out input (inserted zeros white,
        padding grey, input values orange) with the window of output
        `position`, the kernel and the kernel rotated by 180 degrees, and the
        output with every value.
    """
    spread, is_input, out = transposed_conv_steps(x, weight, stride, padding)
    x = np.asarray(x, dtype=float)
    weight = np.asarray(weight, dtype=float)
    i, j = (int(v) for v in position)
    if not (0 <= i < out.shape[0] and 0 <= j < out.shape[1]):
        raise ValueError(f"position {tuple(position)} is outside the output of shape {out.shape}")
    kh, kw = weight.shape
    lefts = [0.2]
    for width in (x.shape[1], spread.shape[1], kw, kw):
        lefts.append(lefts[-1] + width + _GAP)
    total_w = lefts[-1] + out.shape[1] + 0.2
    top = 2.6
    total_h = top + max(spread.shape[0], out.shape[0]) + 2.0
    cell = min(_MAX_CELL_IN, MAX_WIDTH_IN / total_w)
    fig, ax = plt.subplots(figsize=(total_w * cell, total_h * cell), dpi=dpi)
    fig.subplots_adjust(0, 0, 1, 1)

    ax.text(lefts[0], 0.45, f"Transposed convolution: stride S = {stride}, padding P = {padding}, kernel K = {kh}",
            ha="left", va="center", fontsize=10, fontweight="bold")
    ax.text(lefts[0], 1.15, f"output size (H − 1)S − 2P + K = ({x.shape[0]} − 1)·{stride} − {2 * padding} + {kh} = "
            f"{out.shape[0]}", ha="left", va="center", fontsize=10)
    labels = ["input x", f"{stride - 1} zero(s) between, {kh - 1 - padding} around", "kernel w",
              "w rotated 180°", "output"]
    for left, label in zip(lefts, labels):
        ax.text(left, top - 0.6, label, ha="left", va="center", fontsize=_TEXT_PT)
    draw_cells(ax, x, lefts[0], top, colors=np.full(x.shape, WINDOW, dtype=object), fontsize=_TEXT_PT)
    colors = np.where(is_input, WINDOW, "white").astype(object)
    q = kh - 1 - padding
    border = np.ones(spread.shape, dtype=bool)
    border[q:spread.shape[0] - q, kw - 1 - padding:spread.shape[1] - (kw - 1 - padding)] = False
    colors[border] = PADDING
    draw_cells(ax, spread, lefts[1], top, colors=colors, fontsize=_TEXT_PT)
    outline(ax, lefts[1] + j, top + i, kw, kh, CURRENT)
    draw_cells(ax, weight, lefts[2], top, colors=np.full(weight.shape, KERNEL, dtype=object), fontsize=_TEXT_PT)
    draw_cells(ax, weight[::-1, ::-1], lefts[3], top, colors=np.full(weight.shape, KERNEL, dtype=object),
               fontsize=_TEXT_PT)
    out_colors = np.full(out.shape, OUTPUT, dtype=object)
    out_colors[i, j] = CURRENT
    draw_cells(ax, out, lefts[4], top, colors=out_colors, fontsize=_TEXT_PT)
    for left in lefts[1:5]:
        ax.annotate("", xy=(left - 0.15, top + 0.5), xytext=(left - _GAP + 0.15, top + 0.5),
                    arrowprops=dict(arrowstyle="-|>", color="#4a4a4a", lw=1.0))
    window = spread[i:i + kh, j:j + kw]
    terms = [f"{format_number(a)}·{format_number(b)}" for a, b in zip(window.ravel(), weight[::-1, ::-1].ravel()) if a]
    ax.text(lefts[0], total_h - 1.0, f"output[{i},{j}] = " + (" + ".join(terms) if terms else "0") +
            f" = {format_number(out[i, j])} (the zeros add nothing)", ha="left", va="center", fontsize=10)
    ax.set_xlim(0, total_w)
    ax.set_ylim(total_h, 0)
    ax.set_aspect("equal")
    ax.axis("off")
    alt = (f"Transposed convolution of a {x.shape[0]}×{x.shape[1]} input with a {kh}×{kw} kernel, stride {stride}, "
           f"padding {padding}: the input with {stride - 1} zero(s) inserted between values and {kh - 1 - padding} "
           f"zeros of padding around becomes {spread.shape[0]}×{spread.shape[1]}; the kernel rotated by 180 degrees "
           f"slides over it with stride 1 and gives the {out.shape[0]}×{out.shape[1]} output "
           + " ".join(format_number(v) for v in out.ravel()) + ".")
    return set_alt(fig, alt)
