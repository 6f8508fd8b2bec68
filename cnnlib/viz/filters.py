"""Filters on real images: what a kernel amplifies and what it attenuates.

Chapter 2 runs classic hand-made kernels (edge detectors and blurs) over an
MNIST digit; chapter 4 runs a bank of them over a batch. The filtering is
done by :mod:`cnnlib.functional`; these functions only draw.
"""

from __future__ import annotations

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

from .._validation import as_float_array
from ..functional import correlate2d
from ._grid import format_number
from ._style import IMAGE_CMAP, MAX_WIDTH_IN, MIN_FONT_PT, SIGNED_CMAP, set_alt, signed_limits

__all__ = ["classic_kernels", "filter_gallery", "feature_map_grid"]


def classic_kernels() -> dict[str, np.ndarray]:
    """Hand-made 2-D kernels, by name (cross-correlation convention).

    Returns
    -------
    dict of str -> (K, K) float64 array
        Two edge detectors (Sobel, differences across columns and across
        rows; each sums to 0), a Laplacian outline detector (sums to 0), a
        3x3 box blur and a 5x5 binomial (Gaussian-like) blur (each sums to 1).
    """
    sobel_x = np.array([[-1, 0, 1], [-2, 0, 2], [-1, 0, 1]], dtype=np.float64)
    binomial = np.array([1, 4, 6, 4, 1], dtype=np.float64)
    return {
        "vertical edges": sobel_x,
        "horizontal edges": sobel_x.T.copy(),
        "outline": np.array([[0, 1, 0], [1, -4, 1], [0, 1, 0]], dtype=np.float64),
        "box blur": np.full((3, 3), 1 / 9),
        "Gaussian blur": np.outer(binomial, binomial) / binomial.sum() ** 2,
    }


def _show_map(ax: Axes, image: np.ndarray, title: str) -> None:
    """The book's colour convention: non-negative maps as dark ink on white,
    signed maps in the diverging map centred on 0 (blue < 0 < red)."""
    if image.min() < 0:
        vmin, vmax = signed_limits(image)
        ax.imshow(image, cmap=SIGNED_CMAP, vmin=vmin, vmax=vmax)
    else:
        ax.imshow(image, cmap=IMAGE_CMAP, vmin=0)
    ax.set_title(title, fontsize=MIN_FONT_PT)
    ax.set_xticks([])
    ax.set_yticks([])


def _show_kernel(ax: Axes, kernel: np.ndarray) -> None:
    vmin, vmax = signed_limits(kernel)
    ax.imshow(kernel, cmap=SIGNED_CMAP, vmin=vmin, vmax=vmax)
    if kernel.shape[0] <= 3:
        for (r, c), v in np.ndenumerate(kernel):
            # White on the dark ends of the colour map, black in its pale middle.
            color = "white" if abs(v) > 0.55 * vmax else "black"
            ax.text(c, r, format_number(v), ha="center", va="center", fontsize=MIN_FONT_PT, color=color)
    ax.set_title(f"{kernel.shape[0]}×{kernel.shape[1]} kernel", fontsize=MIN_FONT_PT)
    ax.set_xticks([])
    ax.set_yticks([])


def _panel_width(columns: int, preferred: float) -> float:
    """Width of one panel so that `columns` of them fit the content column."""
    return min(preferred, MAX_WIDTH_IN / columns)


def filter_gallery(image, kernels: dict[str, np.ndarray], *, dpi: float = 100) -> Figure:
    """An image and its cross-correlation with each kernel.

    Parameters
    ----------
    image : (H, W) array
    kernels : dict of str -> (K_H, K_W) array
        Titles and kernels, e.g. :func:`classic_kernels`.
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of ``len(kernels) + 1`` axes: the kernels on top (the first
        top axes is blank), the input and the filtered images ('valid' size)
        below. Signed outputs are drawn red (positive) and blue (negative),
        non-negative ones as dark ink on white.
    """
    image = as_float_array(image, "image", 2, "(H, W)")
    if not kernels:
        raise ValueError("kernels is empty: give at least one kernel")
    n = len(kernels)
    panel = _panel_width(n + 1, 1.7)
    fig, axes = plt.subplots(2, n + 1, figsize=(panel * (n + 1), 2.2 * panel + 0.6), dpi=dpi,
                             gridspec_kw={"height_ratios": [1, 1.6]})
    axes[0, 0].axis("off")
    _show_map(axes[1, 0], image, "input")
    described = []
    for col, (name, kernel) in enumerate(kernels.items(), start=1):
        kernel = as_float_array(kernel, f"kernels[{name!r}]", 2, "(K_H, K_W)")
        _show_kernel(axes[0, col], kernel)
        filtered = correlate2d(image, kernel)
        _show_map(axes[1, col], filtered, name)
        described.append(f"{name} ({kernel.shape[0]}×{kernel.shape[1]} kernel, values "
                         f"{format_number(filtered.min())} to {format_number(filtered.max())})")
    fig.tight_layout()
    h, w = image.shape
    return set_alt(fig, f"A {h}×{w} image (dark ink on white) and, beside it, its valid "
                        f"cross-correlation with {n} kernels, each drawn above its output: "
                        + "; ".join(described)
                        + ". Signed outputs are red where positive and blue where negative.")


def feature_map_grid(images, maps, *, channel_names=None, alt: str | None = None, dpi: float = 100) -> Figure:
    """A batch of inputs beside the feature maps a conv layer made of them.

    Parameters
    ----------
    images : (N, H, W) or (N, 1, H, W) array
    maps : (N, F, O_H, O_W) array
        The output of the layer, one row per image.
    channel_names : list of F str, optional
        Column titles.
    alt : str, optional
        Alt text, for a caller that puts something other than a layer's
        feature maps in `maps`; by default it is written from the shapes and
        channel names.
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        An N x (F + 1) grid of axes.
    """
    images = np.asarray(images)
    if images.ndim == 4 and images.shape[1] == 1:
        images = images[:, 0]
    images = as_float_array(images, "images", 3, "(N, H, W)")
    maps = as_float_array(maps, "maps", 4, "(N, F, O_H, O_W)")
    if maps.shape[0] != images.shape[0]:
        raise ValueError(f"images has {images.shape[0]} images but maps has {maps.shape[0]}")
    n, f = maps.shape[:2]
    names = list(channel_names) if channel_names is not None else [f"channel {k}" for k in range(f)]
    if len(names) != f:
        raise ValueError(f"channel_names has {len(names)} names for {f} channels")
    panel = _panel_width(f + 1, 1.9)
    fig, axes = plt.subplots(n, f + 1, figsize=(panel * (f + 1), panel * n + 0.3), dpi=dpi, squeeze=False)
    for row in range(n):
        _show_map(axes[row, 0], images[row], f"image {row}")
        for col in range(f):
            _show_map(axes[row, col + 1], maps[row, col], names[col] if row == 0 else "")
    fig.tight_layout()
    h, w = images.shape[1:]
    oh, ow = maps.shape[2:]
    if alt is not None:
        return set_alt(fig, alt)
    return set_alt(fig, f"A grid of {n} row(s): each row is one {h}×{w} input image (dark ink on white) "
                        f"followed by its {f} feature map(s) of {oh}×{ow}, one column per output channel: "
                        + ", ".join(names)
                        + ". Signed maps are red where positive and blue where negative.")
