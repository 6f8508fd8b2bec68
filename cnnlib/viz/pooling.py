"""Figures for pooling (chapter 6) and its backward pass (chapter 7).

:func:`plot_pooling` draws the windows over a small input and the pooled
output; :func:`plot_shift_robustness` shows what a one-pixel shift of a digit
changes before and after pooling; :func:`plot_pool_backward` shows where the
gradient of each window goes (to its maximum, or spread evenly).
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from ..functional import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from ..shapes import conv_output_size
from ._style import IMAGE_CMAP, SIGNED_CMAP, set_alt, signed_limits
from ._tables import PAGE_WIDTH_IN, canvas, color, draw_grid, matrix_text, tint, title

__all__ = ["plot_pooling", "plot_shift_robustness", "plot_pool_backward"]

_MODES = ("max", "avg")


def _check(x, kernel_size: int, stride: int | None, padding: int, mode: str):
    if mode not in _MODES:
        raise ValueError(f"mode must be 'max' or 'avg'; got {mode!r}")
    x = np.asarray(x, dtype=np.float64)
    if x.ndim != 2:
        raise ValueError(f"x must be one 2-D image (H, W); got shape {x.shape}")
    stride = kernel_size if stride is None else stride
    oh = conv_output_size(x.shape[0], kernel_size, stride, padding)
    ow = conv_output_size(x.shape[1], kernel_size, stride, padding)
    return x, stride, oh, ow


def _winners(xp: np.ndarray, kernel_size: int, stride: int, oh: int, ow: int) -> list[tuple[int, int]]:
    """Padded-input position of each window's maximum (first in row-major order, as torch)."""
    out = []
    for k in range(oh * ow):
        i, j = divmod(k, ow)
        window = xp[i * stride: i * stride + kernel_size, j * stride: j * stride + kernel_size]
        p, q = np.unravel_index(np.argmax(window), window.shape)
        out.append((i * stride + int(p), j * stride + int(q)))
    return out


def _draw_windows(ax, x0: float, y0: float, kernel_size: int, stride: int, oh: int, ow: int) -> None:
    for k in range(oh * ow):
        i, j = divmod(k, ow)
        inset = 0.06 + 0.08 * (k % 4)  # overlapping windows stay distinguishable
        ax.add_patch(Rectangle((x0 + j * stride + inset, y0 + i * stride + inset), kernel_size - 2 * inset,
                               kernel_size - 2 * inset, fill=False, edgecolor=color(k), linewidth=2.2))


def _padded(x: np.ndarray, padding: int, mode: str) -> tuple[np.ndarray, list]:
    fill_value = -np.inf if mode == "max" else 0.0
    xp = np.pad(x, padding, constant_values=fill_value)
    h, w = x.shape
    grey = [[("0.85" if (i < padding or i >= h + padding or j < padding or j >= w + padding) else None)
             for j in range(xp.shape[1])] for i in range(xp.shape[0])]
    return xp, grey


def plot_pooling(x, kernel_size: int, stride: int | None = None, padding: int = 0, mode: str = "max") -> Figure:
    """Draw max or average pooling of one small image.

    Parameters
    ----------
    x : (H, W) array
    kernel_size, stride, padding : int
        As in :func:`cnnlib.functional.max_pool2d`; stride defaults to the window.
    mode : {"max", "avg"}
        Max pooling pads with -inf (a padded cell never wins); average pooling
        pads with zeros that count in the divisor (torch's default).

    Returns
    -------
    Figure
        Left: the (padded) input with each window outlined in its own colour;
        for max pooling the winning pixel of each window is bold and marked.
        Right: the pooled output, each value tinted like its window.
    """
    x, stride, oh, ow = _check(x, kernel_size, stride, padding, mode)
    pool = max_pool2d if mode == "max" else avg_pool2d
    y = pool(x[None, None], kernel_size, stride, padding, backend="im2col")[0, 0]
    xp, grey = _padded(x, padding, mode)
    hp, wp = xp.shape
    bold = [[False] * wp for _ in range(hp)]
    winners = _winners(xp, kernel_size, stride, oh, ow) if mode == "max" else []
    for p, q in winners:
        bold[p][q] = True
    x_out = wp + 2.5
    fig, ax = canvas(x_out + max(ow, 4), max(hp, oh))
    draw_grid(ax, xp, 0.0, 0.0, fill=grey, bold=bold)
    _draw_windows(ax, 0.0, 0.0, kernel_size, stride, oh, ow)
    for k, (p, q) in enumerate(winners):  # a dot in the corner that belongs to window k
        dx, dy = [(0.2, 0.2), (0.8, 0.2), (0.2, 0.8), (0.8, 0.8)][k % 4]
        ax.plot(q + dx, p + dy, "o", color=color(k), markersize=5)
    what = "max" if mode == "max" else "average"
    title(ax, 0.0, 0.0, f"x ({kernel_size}x{kernel_size} windows, stride {stride}"
                        + (f", padding {padding}" if padding else "") + ")")
    y0 = (max(hp, oh) - oh) / 2
    draw_grid(ax, y, x_out, y0, fill=[[tint(color(i * ow + j)) for j in range(ow)] for i in range(oh)])
    title(ax, x_out, y0, f"{what} pooled")
    ax.text(x_out - 1.25, max(hp, oh) / 2, "\u2192", ha="center", va="center", fontsize=16)
    overlap = " The windows overlap, so a pixel can belong to several of them." if kernel_size > stride else ""
    pad_text = (f", padding {padding} (padded cells in grey, {'minus infinity' if mode == 'max' else 'zero'})"
                if padding else "")
    marks = " The maximum of each window is in bold." if mode == "max" else ""
    return set_alt(fig, (
        f"{what.capitalize()} pooling of a {x.shape[0]}x{x.shape[1]} input with {kernel_size}x{kernel_size} "
        f"windows, stride {stride}{pad_text}: each window is outlined in its own colour and its result is tinted "
        f"the same way in the {oh}x{ow} output.{marks}{overlap} Input rows: {matrix_text(x)}. "
        f"Output rows: {matrix_text(y)}."))


def plot_shift_robustness(digit, shift: int = 1, kernel_size: int = 2, stride: int | None = None) -> Figure:
    """What a one-pixel shift of an image changes, before and after max pooling.

    Parameters
    ----------
    digit : (H, W) array
    shift : int
        Pixels to the right (negative: to the left); the uncovered
        columns are filled with zeros, not wrapped around.
    kernel_size, stride : int
        The max pooling window.

    Returns
    -------
    Figure
        Top: the image, the shifted image, and the pixels that changed.
        Bottom: the same after max pooling. Captions count the changes.
    """
    digit = np.asarray(digit, dtype=np.float64)
    if digit.ndim != 2:
        raise ValueError(f"digit must be one 2-D image (H, W); got shape {digit.shape}")
    if not 0 < abs(shift) < digit.shape[1]:
        raise ValueError(f"shift must be non-zero and smaller than the width {digit.shape[1]}; got {shift}")
    shifted = np.roll(digit, shift, axis=1)
    if shift > 0:
        shifted[:, :shift] = 0.0
    else:
        shifted[:, shift:] = 0.0
    pooled = max_pool2d(digit[None, None], kernel_size, stride, backend="im2col")[0, 0]
    pooled_shifted = max_pool2d(shifted[None, None], kernel_size, stride, backend="im2col")[0, 0]
    fig, axes = plt.subplots(2, 3, figsize=(PAGE_WIDTH_IN, 5.0), layout="constrained")
    vmax = max(float(digit.max()), 1e-12)
    counts = []
    for row, (a, b, name) in enumerate(((digit, shifted, "pixels"), (pooled, pooled_shifted, "pooled values"))):
        changed = int((a != b).sum())
        counts.append((changed, a.size, name))
        for ax, img, caption in ((axes[row, 0], a, "original" if row == 0 else f"max pooled {kernel_size}\u00d7{kernel_size}"),
                                 (axes[row, 1], b, f"shifted {shift:+d} px" if row == 0 else "shifted, then pooled")):
            ax.imshow(img, cmap=IMAGE_CMAP, vmin=0, vmax=vmax)
            ax.set_title(caption, fontsize=10)
        low, high = signed_limits(b - a)  # a signed array: gained ink red, lost ink blue
        axes[row, 2].imshow(b - a, cmap=SIGNED_CMAP, vmin=low, vmax=high)
        axes[row, 2].set_title(f"{changed} of {a.size} {name} changed", fontsize=10)
    for ax in axes.flat:
        ax.set_xticks([])
        ax.set_yticks([])
    (raw, raw_n, _), (pool, pool_n, _) = counts
    return set_alt(fig, (
        f"Top row: a {digit.shape[0]}x{digit.shape[1]} image, the same image shifted {abs(shift)} "
        f"pixel{'s' if abs(shift) > 1 else ''} to the {'right' if shift > 0 else 'left'}, and their difference ({raw} of {raw_n} pixels changed; red where the shifted image is "
        f"larger, blue where it is smaller). Bottom row: the same after {kernel_size}x{kernel_size} max pooling: "
        f"{pool} of {pool_n} pooled values changed."))


def plot_pool_backward(x, dout, kernel_size: int, stride: int | None = None, mode: str = "max") -> Figure:
    """Where the gradient of each pooling window goes.

    Parameters
    ----------
    x : (H, W) array
        The input of the pooling layer.
    dout : (O_H, O_W) array
        The gradient arriving at the pooled output.
    kernel_size, stride : int
    mode : {"max", "avg"}

    Returns
    -------
    Figure
        x with its windows; dout tinted by window; dx from
        :func:`cnnlib.functional.max_pool2d_backward` (or the average
        version), each non-zero cell tinted like the window its gradient
        came from (grey where overlapping windows both send gradient).
    """
    x, stride, oh, ow = _check(x, kernel_size, stride, 0, mode)
    dout = np.asarray(dout, dtype=np.float64)
    if dout.shape != (oh, ow):
        raise ValueError(f"dout must have the pooled shape {(oh, ow)}; got {dout.shape}")
    backward = max_pool2d_backward if mode == "max" else avg_pool2d_backward
    dx = backward(dout[None, None], x[None, None], kernel_size, stride, backend="im2col")[0, 0]
    h, w = x.shape
    sources: list[list[list[int]]] = [[[] for _ in range(w)] for _ in range(h)]
    winners = _winners(x, kernel_size, stride, oh, ow) if mode == "max" else []
    for k in range(oh * ow):
        i, j = divmod(k, ow)
        if mode == "max":
            cells = [winners[k]]
        else:
            cells = [(i * stride + p, j * stride + q) for p in range(kernel_size) for q in range(kernel_size)]
        for p, q in cells:
            sources[p][q].append(k)
    fill = [[(None if not sources[p][q] else tint(color(sources[p][q][0])) if len(sources[p][q]) == 1 else "0.8")
             for q in range(w)] for p in range(h)]
    bold = [[bool(sources[p][q]) and mode == "max" for q in range(w)] for p in range(h)]

    x_dout = w + 2.0
    x_dx = x_dout + ow + 2.0
    fig, ax = canvas(x_dx + w, h)
    draw_grid(ax, x, 0.0, 0.0, bold=bold)
    _draw_windows(ax, 0.0, 0.0, kernel_size, stride, oh, ow)
    title(ax, 0.0, 0.0, "x (forward input)")
    y0 = (h - oh) / 2
    draw_grid(ax, dout, x_dout, y0, fill=[[tint(color(i * ow + j)) for j in range(ow)] for i in range(oh)])
    title(ax, x_dout, y0, "dout")
    draw_grid(ax, dx, x_dx, 0.0, fill=fill)
    title(ax, x_dx, 0.0, "dx: to the maximum" if mode == "max" else f"dx: dout / {kernel_size * kernel_size} everywhere")
    shared = sum(len(sources[p][q]) > 1 for p in range(h) for q in range(w))
    if shared:
        pixels = "1 pixel receives" if shared == 1 else f"{shared} pixels receive"
        shared_text = f" {pixels} gradient from more than one window (grey) and add it up."
    else:
        shared_text = " No pixel receives gradient from two windows."
    rule = ("each window sends its gradient to the position of its maximum (bold), the others get 0" if mode == "max"
            else f"each window spreads its gradient evenly, dout / {kernel_size * kernel_size} to each of its pixels")
    return set_alt(fig, (
        f"Backward pass of {'max' if mode == 'max' else 'average'} pooling with {kernel_size}x{kernel_size} windows, "
        f"stride {stride}, on a {h}x{w} input: {rule}.{shared_text} dout rows: {matrix_text(dout)}. "
        f"dx rows: {matrix_text(dx)}."))

