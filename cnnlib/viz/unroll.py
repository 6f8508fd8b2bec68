"""Figures for chapter 5: im2col, col2im and the memory the unrolling costs.

:func:`plot_im2col` draws the unrolling itself (each patch becomes a row,
the filter becomes a column, the convolution becomes one matrix product);
:func:`plot_overlap_counts` shows how many patches contain each pixel, which
is what col2im must add up; :func:`plot_im2col_memory` plots the size of the
unrolled matrix against the size of the input, using :func:`unrolled_nbytes`.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Rectangle

from ..im2col import col2im, im2col
from ..shapes import conv_output_size
from ._style import IMAGE_CMAP, set_alt
from ._tables import PAGE_WIDTH_IN, SMALL_FONT_PT, canvas, color, draw_grid, format_value, matrix_text, tint, title

__all__ = ["plot_im2col", "overlap_counts", "plot_overlap_counts", "plot_im2col_memory", "unrolled_nbytes"]


def plot_im2col(x, weight, stride: int = 1, padding: int = 0) -> Figure:
    """Draw im2col on one small image: patches become rows, the filter a column.

    Parameters
    ----------
    x : (C, H, W) or (H, W) array
        One small image (a few pixels a side, one or two channels).
    weight : (C, K_H, K_W) or (K_H, K_W) array
        One filter.
    stride, padding : int

    Returns
    -------
    Figure
        Top: the image (each channel; zero padding in grey) with every patch
        outlined in its own colour, and the filter. Bottom: ``col`` with each
        row tinted like its patch, times the filter flattened to a column,
        equals the output as a column, which reshapes to (O_H, O_W).
    """
    x = np.asarray(x, dtype=np.float64)
    weight = np.asarray(weight, dtype=np.float64)
    if x.ndim == 2:
        x = x[None]
    if weight.ndim == 2:
        weight = weight[None]
    if x.ndim != 3 or weight.ndim != 3 or weight.shape[0] != x.shape[0]:
        raise ValueError(f"x must be (C, H, W) and weight (C, K_H, K_W) with the same C; got {x.shape} and {weight.shape}")
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
    x_col = 2.4  # room on the left for the row labels
    x_w = x_col + col.shape[1] + 1.5
    x_out = x_w + 2.5
    x_grid = x_out + 2.5
    width = max(top_width, x_grid + ow)
    height = y_bottom + max(col.shape[0], wcol.shape[0])
    fig, ax = canvas(width, height)

    for ch in range(c):
        x0 = ch * (wp + 1.5)
        pad_fill = [[("0.85" if (i < padding or i >= h + padding or j < padding or j >= w + padding) else None)
                     for j in range(wp)] for i in range(hp)]
        draw_grid(ax, xp[ch], x0, 0.0, fill=pad_fill)
        for k in range(oh * ow):
            i, j = divmod(k, ow)
            inset = 0.06 + 0.07 * (k % 6)  # shifted outlines stay visible where patches overlap
            ax.add_patch(Rectangle((x0 + j * stride + inset, i * stride + inset), kw - 2 * inset, kh - 2 * inset,
                                   fill=False, edgecolor=color(k), linewidth=2.2))
        title(ax, x0, 0.0, f"x, channel {ch}" + (f" (padding {padding})" if padding else ""))
    x0 = c * (wp + 1.5)
    for ch in range(c):
        draw_grid(ax, weight[ch], x0 + ch * (kw + 1.0), 0.0, fill=[["#eeeeee"] * kw] * kh)
    title(ax, x0, 0.0, "filter w" + (" (channel 0, 1, ...)" if c > 1 else ""))

    # Bottom: labels, col, x, w as a column, =, output column, reshape.
    rows = col.shape[0]
    y_col = y_bottom + (max(rows, wcol.shape[0]) - rows) / 2
    y_w = y_bottom + (max(rows, wcol.shape[0]) - wcol.shape[0]) / 2
    fills = [[tint(color(r))] * col.shape[1] for r in range(rows)]
    draw_grid(ax, col, x_col, y_col, fill=fills, fontsize=SMALL_FONT_PT)
    for r in range(rows):
        i, j = divmod(r, ow)
        ax.text(x_col - 0.2, y_col + r + 0.5, f"({i},{j})", ha="right", va="center",
                fontsize=SMALL_FONT_PT, color=color(r))
    ax.text(x_col - 0.2, y_col - 0.15, "patch", ha="right", va="bottom", fontsize=SMALL_FONT_PT)
    for cc in range(1, c):  # separate the channel blocks of each row
        ax.plot([x_col + cc * kh * kw] * 2, [y_col, y_col + rows], color="black", linewidth=1.8)
    title(ax, x_col, y_col, f"col = im2col(x): {rows} patches, {col.shape[1]} values each")
    draw_grid(ax, wcol, x_w, y_w, fill=[["#eeeeee"]] * wcol.shape[0], fontsize=SMALL_FONT_PT)
    title(ax, x_w, y_w, "w")
    draw_grid(ax, out, x_out, y_col, fill=[[tint(color(r))] for r in range(rows)], fontsize=SMALL_FONT_PT)
    title(ax, x_out, y_col, "y")
    y_grid = y_col + (rows - oh) / 2
    draw_grid(ax, out.reshape(oh, ow), x_grid, y_grid,
              fill=[[tint(color(i * ow + j)) for j in range(ow)] for i in range(oh)])
    title(ax, x_grid, y_grid, f"y as {oh}\u00d7{ow}")
    mid = y_col + rows / 2
    for xs, sign in ((x_w - 0.75, "\u00d7"), (x_out - 0.75, "="), (x_grid - 0.75, "\u2192")):
        ax.text(xs, mid, sign, ha="center", va="center", fontsize=16)
    channels = "1 channel" if c == 1 else f"{c} channels"
    return set_alt(fig, (
        f"im2col of a {h}x{w} image ({channels}) for a {kh}x{kw} filter, stride {stride}, padding {padding}. "
        f"Each of the {rows} patches is outlined in its own colour on the image and becomes one row of col, "
        f"a {rows} x {col.shape[1]} matrix; col times the filter flattened to a column of {wcol.shape[0]} values "
        f"gives the {rows} outputs {', '.join(format_value(v).replace(chr(0x2212), '-') for v in out[:, 0])}, "
        f"reshaped to {oh}x{ow}."))


def overlap_counts(height: int, width: int, kernel_size: int, stride: int = 1, padding: int = 0) -> np.ndarray:
    """How many patches contain each pixel of a (height, width) image.

    Computed as ``col2im(im2col(ones))``: unrolling an image of ones and
    folding it back adds one per copy of each pixel.

    Returns
    -------
    counts : (height, width) array of float64
    """
    ones = np.ones((1, 1, height, width))
    col = im2col(ones, kernel_size, stride, padding, backend="im2col")
    return col2im(col, ones.shape, kernel_size, stride, padding, backend="im2col")[0, 0]


def plot_overlap_counts(height: int, width: int, kernel_size: int, stride: int = 1, padding: int = 0) -> Figure:
    """How many patches contain each pixel: :func:`overlap_counts`, drawn as an image.

    This is what col2im must add up in the backward pass: a pixel inside
    ``n`` patches receives ``n`` gradient contributions. Counts are
    non-negative, so they use the book's image colour map (white is 0).
    """
    counts = overlap_counts(height, width, kernel_size, stride, padding)
    fig, ax = plt.subplots(figsize=(min(0.55 * width + 0.6, PAGE_WIDTH_IN), 0.55 * height + 0.9), layout="constrained")
    vmax = max(float(counts.max()), 1.0) * 1.6  # the darkest cell stays mid-grey, so black digits read on it
    ax.imshow(counts, cmap=IMAGE_CMAP, vmin=0, vmax=vmax)
    for i in range(height):
        for j in range(width):
            ax.text(j, i, f"{counts[i, j]:.0f}", ha="center", va="center", fontsize=10)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"patches containing each pixel\n({kernel_size}\u00d7{kernel_size} kernel, stride {stride}, "
                 f"padding {padding})", fontsize=10)
    grid = f" Row by row: {matrix_text(counts)}." if counts.size <= 64 else ""
    return set_alt(fig, (
        f"The number of {kernel_size}x{kernel_size} patches (stride {stride}, padding {padding}) that contain each "
        f"pixel of a {height}x{width} image, written in each cell and shaded darker for larger counts: "
        f"from {counts.min():.0f} to {counts.max():.0f}.{grid}"))


def unrolled_nbytes(x_shape: Sequence[int], kernel_size: int, stride: int = 1, padding: int = 0, itemsize: int = 4) -> int:
    """Bytes of ``im2col(x)`` for an input of shape (N, C, H, W).

    ``N * O_H * O_W`` rows of ``C * K * K`` values, ``itemsize`` bytes each
    (4 for float32, 8 for float64).
    """
    n, c, h, w = (int(s) for s in x_shape)
    oh = conv_output_size(h, kernel_size, stride, padding)
    ow = conv_output_size(w, kernel_size, stride, padding)
    return n * oh * ow * c * kernel_size * kernel_size * itemsize


def plot_im2col_memory(sizes: Sequence[int], channels: int = 3, kernel_sizes: Sequence[int] = (3, 5, 7),
                       batch: int = 1, itemsize: int = 4) -> Figure:
    """Bytes of the unrolled matrix against the side of a square input, stride 1.

    Left: MiB of the input and of ``col`` for each kernel size, with 'same'
    padding ``(K - 1) / 2`` (the output is as large as the input). Right:
    bytes of ``col`` over bytes of the *padded* input, with 'same' padding
    (solid) and without padding (dashed). Each pixel far enough from the
    border is copied ``K * K`` times; pixels near the border are copied
    fewer times, so the ratio stays below ``K * K`` and approaches it as the
    image grows.
    """
    sizes = [int(s) for s in sizes]
    fig, (ax_bytes, ax_ratio) = plt.subplots(1, 2, figsize=(PAGE_WIDTH_IN, 3.4), layout="constrained")
    input_bytes = [batch * channels * s * s * itemsize for s in sizes]
    ax_bytes.plot(sizes, [b / 2**20 for b in input_bytes], "k-o", markersize=3, label="x")
    finals = []
    for n, k in enumerate(kernel_sizes):
        line_color = color(n)
        pad = (k - 1) // 2
        same = [unrolled_nbytes((batch, channels, s, s), k, 1, pad, itemsize) for s in sizes]
        ax_bytes.plot(sizes, [b / 2**20 for b in same], "-o", color=line_color, markersize=3, label=f"col, {k}\u00d7{k}")
        padded = [batch * channels * (s + 2 * pad) ** 2 * itemsize for s in sizes]
        ratio_same = [cb / pb for cb, pb in zip(same, padded)]
        ax_ratio.plot(sizes, ratio_same, "-", color=line_color, label=f"{k}x{k}, 'same' padding")
        fits = [(s, i) for s, i in zip(sizes, input_bytes) if s >= k]
        valid = [unrolled_nbytes((batch, channels, s, s), k, 1, 0, itemsize) / i for s, i in fits]
        ax_ratio.plot([s for s, _ in fits], valid, "--", color=line_color, label=f"{k}x{k}, no padding")
        ax_ratio.axhline(k * k, color=line_color, linewidth=0.8, alpha=0.5)
        finals.append((k, same[-1] / 2**20, ratio_same[-1], valid[-1] if valid else float("nan")))
    ax_bytes.set_xlabel("height = width (pixels)")
    ax_bytes.set_ylabel("MiB")
    dtype = {4: "float32", 8: "float64"}.get(itemsize, f"{itemsize}-byte values")
    ax_bytes.set_title(f"batch {batch}, {channels} channels, {dtype}", fontsize=10)
    ax_bytes.legend(fontsize=9)
    ax_bytes.grid(alpha=0.3)
    ax_ratio.set_xlabel("height = width (pixels)")
    ax_ratio.set_ylabel("bytes of col / bytes of padded x")
    ax_ratio.set_title("below K\u00b7K, approaching it", fontsize=10)
    ax_ratio.set_ylim(0, max(kernel_sizes) ** 2 * 1.15)
    styles = [Line2D([], [], color="k", linestyle="-", label="'same' padding"),
              Line2D([], [], color="k", linestyle="--", label="no padding")]
    ax_ratio.legend(handles=styles, fontsize=9, loc="center right")
    ax_ratio.grid(alpha=0.3)
    last = sizes[-1]
    per_k = "; ".join(f"{k}x{k}: col {mb:.1f} MiB, ratio {rs:.2f} with 'same' padding and {rv:.2f} without"
                      for k, mb, rs, rv in finals)
    return set_alt(fig, (
        f"Two line plots against the side of a square input from {sizes[0]} to {last} pixels ({channels} channels, "
        f"batch {batch}, {dtype}, stride 1). Left: megabytes of the input x ({input_bytes[-1] / 2**20:.2f} MiB at "
        f"{last} pixels) and of col = im2col(x) with 'same' padding for kernels "
        f"{', '.join(f'{k}x{k}' for k in kernel_sizes)}. Right: bytes of col over bytes of the padded input, which "
        f"rise towards K*K = {', '.join(str(k * k) for k in kernel_sizes)} (thin horizontal lines) without reaching "
        f"it. At {last} pixels, {per_k}."))
