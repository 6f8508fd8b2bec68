"""Figures for chapter 5: im2col, col2im and the memory the unrolling costs.

:func:`plot_im2col` draws the unrolling itself (each patch becomes a row,
the filter becomes a column, the convolution becomes one matrix product);
:func:`plot_overlap_counts` shows why col2im must add; :func:`plot_im2col_memory`
plots the size of the unrolled matrix against the size of the input, using
:func:`unrolled_nbytes`.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..im2col import col2im, im2col
from ..shapes import conv_output_size
from ._tables import canvas as _canvas
from ._tables import color as _color
from ._tables import draw_grid as _draw_grid
from ._tables import tint as _tint
from ._tables import title as _title

__all__ = ["plot_im2col", "plot_overlap_counts", "plot_im2col_memory", "unrolled_nbytes"]

def plot_im2col(x, weight, stride: int = 1, padding: int = 0) -> Figure:
    """Draw im2col on one small image: patches become rows, the filter a column.

    Parameters
    ----------
    x : (C, H, W) or (H, W) array
        One small image (a few pixels a side, one or two channels).
    weight : (C, KH, KW) or (KH, KW) array
        One filter.
    stride, padding : int

    Returns
    -------
    Figure
        Top: the image (each channel; zero padding in grey) with every patch
        outlined in its own colour, and the filter. Bottom: ``col`` with each
        row tinted like its patch, times the filter flattened to a column,
        equals the output as a column, which reshapes to (OH, OW).
    """
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if weight.ndim == 2:
        weight = weight[None]
    if x.ndim != 3 or weight.ndim != 3 or weight.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (C, H, W) and weight (C, KH, KW) with the same C; got {x.shape} and {weight.shape}")
    c, h, w = x.shape
    kh, kw = weight.shape[1:]
    col = im2col(x[None], (kh, kw), stride, padding, backend="im2col")
    oh = conv_output_size(h, kh, stride, padding)
    ow = conv_output_size(w, kw, stride, padding)
    wcol = weight.reshape(-1, 1)
    out = col @ wcol
    xp = np.pad(x, [(0, 0), (padding, padding), (padding, padding)])
    hp, wp = xp.shape[1:]

    # Layout in cell units: top row images and filter, bottom row the product.
    top_width = c * (wp + 1.5) + c * (kw + 1.0) + 1.0
    y_bottom = max(hp, kh) + 1.8
    x_w = 3.0 + col.shape[1] + 1.5
    x_out = x_w + 2.5
    x_grid = x_out + 2.5
    width = max(top_width, x_grid + ow)
    height = y_bottom + max(col.shape[0], wcol.shape[0])
    fig, ax = _canvas(width, height)

    for ch in range(c):
        x0 = ch * (wp + 1.5)
        pad_fill = [[("0.85" if (i < padding or i >= h + padding or j < padding or j >= w + padding) else None)
                     for j in range(wp)] for i in range(hp)]
        _draw_grid(ax, xp[ch], x0, 0.0, fill=pad_fill)
        for k in range(oh * ow):
            i, j = divmod(k, ow)
            inset = 0.06 + 0.07 * (k % 6)  # shifted outlines stay visible where patches overlap
            ax.add_patch(Rectangle((x0 + j * stride + inset, i * stride + inset), kw - 2 * inset, kh - 2 * inset,
                                   fill=False, edgecolor=_color(k), linewidth=2.2))
        _title(ax, x0, 0.0, f"x, channel {ch}" + (f" (padding {padding})" if padding else ""))
    x0 = c * (wp + 1.5)
    for ch in range(c):
        _draw_grid(ax, weight[ch], x0 + ch * (kw + 1.0), 0.0, fill=[["#eeeeee"] * kw] * kh)
    _title(ax, x0, 0.0, "filter w" + (" (channel 0, 1, ...)" if c > 1 else ""))

    # Bottom: labels, col, x, w as a column, =, output column, reshape.
    rows = col.shape[0]
    y_col = y_bottom + (max(rows, wcol.shape[0]) - rows) / 2
    y_w = y_bottom + (max(rows, wcol.shape[0]) - wcol.shape[0]) / 2
    fills = [[_tint(_color(r))] * col.shape[1] for r in range(rows)]
    _draw_grid(ax, col, 3.0, y_col, fill=fills, fontsize=9)
    for r in range(rows):
        i, j = divmod(r, ow)
        ax.text(2.8, y_col + r + 0.5, f"patch ({i},{j})", ha="right", va="center", fontsize=8, color=_color(r))
    for cc in range(1, c):  # separate the channel blocks of each row
        ax.plot([3.0 + cc * kh * kw] * 2, [y_col, y_col + rows], color="black", linewidth=1.8)
    _title(ax, 3.0, y_col, f"col = im2col(x): {rows} patches, {col.shape[1]} values each")
    _draw_grid(ax, wcol, x_w, y_w, fill=[["#eeeeee"]] * wcol.shape[0], fontsize=9)
    _title(ax, x_w, y_w, "w")
    _draw_grid(ax, out, x_out, y_col, fill=[[_tint(_color(r))] for r in range(rows)], fontsize=9)
    _title(ax, x_out, y_col, "y")
    y_grid = y_col + (rows - oh) / 2
    _draw_grid(ax, out.reshape(oh, ow), x_grid, y_grid,
               fill=[[_tint(_color(i * ow + j)) for j in range(ow)] for i in range(oh)])
    _title(ax, x_grid, y_grid, f"y as {oh}x{ow}")
    mid = y_col + rows / 2
    for xs, sign in ((x_w - 0.75, "\u00d7"), (x_out - 0.75, "="), (x_grid - 0.75, "\u2192")):
        ax.text(xs, mid, sign, ha="center", va="center", fontsize=16)
    return fig


def plot_overlap_counts(height: int, width: int, kernel_size: int, stride: int = 1, padding: int = 0) -> Figure:
    """How many patches contain each pixel: ``col2im(im2col(ones))``.

    This is what col2im must add up in the backward pass: a pixel inside
    ``n`` patches receives ``n`` gradient contributions.
    """
    ones = np.ones((1, 1, height, width))
    counts = col2im(im2col(ones, kernel_size, stride, padding, backend="im2col"), ones.shape,
                    kernel_size, stride, padding, backend="im2col")[0, 0]
    fig, ax = plt.subplots(figsize=(0.55 * width + 1.6, 0.55 * height + 0.9), layout="constrained")
    image = ax.imshow(counts, cmap="Blues", vmin=0, vmax=counts.max() * 1.25)
    for i in range(height):
        for j in range(width):
            ax.text(j, i, f"{counts[i, j]:.0f}", ha="center", va="center", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"patches containing each pixel\n({kernel_size}x{kernel_size} kernel, stride {stride}, padding {padding})",
                 fontsize=10)
    fig.colorbar(image, ax=ax, shrink=0.8)
    return fig


def unrolled_nbytes(x_shape: Sequence[int], kernel_size: int, stride: int = 1, padding: int = 0, itemsize: int = 4) -> int:
    """Bytes of ``im2col(x)`` for an input of shape (N, C, H, W).

    ``N * OH * OW`` rows of ``C * K * K`` values, ``itemsize`` bytes each
    (4 for float32, 8 for float64).
    """
    n, c, h, w = (int(s) for s in x_shape)
    oh = conv_output_size(h, kernel_size, stride, padding)
    ow = conv_output_size(w, kernel_size, stride, padding)
    return n * oh * ow * c * kernel_size * kernel_size * itemsize


def plot_im2col_memory(sizes: Sequence[int], channels: int = 3, kernel_sizes: Sequence[int] = (3, 5, 7),
                       batch: int = 1, itemsize: int = 4) -> Figure:
    """Bytes of the unrolled matrix against the side of a square input.

    Stride 1. Left: MiB of the input and of ``col`` for each kernel size,
    with 'same' padding ``(K - 1) / 2`` (the output is as large as the input).
    Right: ``col`` bytes over input bytes -- exactly ``K * K`` with 'same'
    padding (solid: every pixel is copied once per patch that contains it),
    approaching ``K * K`` from below without padding (dashed: the border
    pixels sit in fewer patches).
    """
    sizes = [int(s) for s in sizes]
    fig, (ax_bytes, ax_ratio) = plt.subplots(1, 2, figsize=(10, 3.8), layout="constrained")
    input_bytes = [batch * channels * s * s * itemsize for s in sizes]
    ax_bytes.plot(sizes, [b / 2**20 for b in input_bytes], "k-o", markersize=3, label="input x")
    for n, k in enumerate(kernel_sizes):
        color = _color(n)
        same = [unrolled_nbytes((batch, channels, s, s), k, 1, (k - 1) // 2, itemsize) for s in sizes]
        ax_bytes.plot(sizes, [b / 2**20 for b in same], "-o", color=color, markersize=3, label=f"im2col(x), {k}x{k} kernel")
        ax_ratio.plot(sizes, [c / i for c, i in zip(same, input_bytes)], "-", color=color, label=f"{k}x{k}, 'same' padding")
        fits = [(s, i) for s, i in zip(sizes, input_bytes) if s >= k]
        valid = [unrolled_nbytes((batch, channels, s, s), k, 1, 0, itemsize) / i for s, i in fits]
        ax_ratio.plot([s for s, _ in fits], valid, "--", color=color, label=f"{k}x{k}, no padding")
    ax_bytes.set_xlabel("input height = width (pixels)")
    ax_bytes.set_ylabel("MiB")
    dtype = {4: "float32", 8: "float64"}.get(itemsize, f"{itemsize}-byte values")
    ax_bytes.set_title(f"memory: batch {batch}, {channels} channels, {dtype}, 'same' padding", fontsize=10)
    ax_bytes.legend(fontsize=8)
    ax_bytes.grid(alpha=0.3)
    ax_ratio.set_xlabel("input height = width (pixels)")
    ax_ratio.set_ylabel("bytes of im2col(x) / bytes of x")
    ax_ratio.set_title("the unrolled matrix is about K x K times the input", fontsize=10)
    ax_ratio.set_ylim(0, max(kernel_sizes) ** 2 * 1.5)
    ax_ratio.legend(fontsize=7, ncol=len(kernel_sizes), loc="upper center")
    ax_ratio.grid(alpha=0.3)
    return fig
