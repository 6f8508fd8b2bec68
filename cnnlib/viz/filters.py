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
    """Non-negative maps in grey, signed maps in a diverging map centred on 0."""
    if image.min() < 0:
        limit = float(np.abs(image).max()) or 1.0
        ax.imshow(image, cmap="RdBu_r", vmin=-limit, vmax=limit)
    else:
        ax.imshow(image, cmap="gray")
    ax.set_title(title, fontsize=9)
    ax.set_xticks([])
    ax.set_yticks([])


def _show_kernel(ax: Axes, kernel: np.ndarray) -> None:
    limit = float(np.abs(kernel).max()) or 1.0
    ax.imshow(kernel, cmap="RdBu_r", vmin=-limit, vmax=limit)
    if kernel.shape[0] <= 3:
        for (r, c), v in np.ndenumerate(kernel):
            # White on the dark ends of the colour map, black in its pale middle.
            color = "white" if abs(v) > 0.55 * limit else "black"
            ax.text(c, r, format_number(v), ha="center", va="center", fontsize=8, color=color)
    ax.set_title(f"{kernel.shape[0]}×{kernel.shape[1]} kernel", fontsize=8)
    ax.set_xticks([])
    ax.set_yticks([])


def filter_gallery(image, kernels: dict[str, np.ndarray], *, dpi: float = 80) -> Figure:
    """An image and its cross-correlation with each kernel.

    Parameters
    ----------
    image : (H, W) array
    kernels : dict of str -> (KH, KW) array
        Titles and kernels, e.g. :func:`classic_kernels`.
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        Two rows of ``len(kernels) + 1`` axes: the kernels on top (the first
        top axes is blank), the input and the filtered images ('valid' size)
        below. Signed outputs are drawn red (positive) and blue (negative).
    """
    image = as_float_array(image, "image", 2, "(H, W)")
    if not kernels:
        raise ValueError("kernels is empty: give at least one kernel")
    n = len(kernels)
    fig, axes = plt.subplots(2, n + 1, figsize=(1.7 * (n + 1), 3.6), dpi=dpi,
                             gridspec_kw={"height_ratios": [1, 1.6]})
    axes[0, 0].axis("off")
    _show_map(axes[1, 0], image, "input")
    for col, (name, kernel) in enumerate(kernels.items(), start=1):
        kernel = as_float_array(kernel, f"kernels[{name!r}]", 2, "(KH, KW)")
        _show_kernel(axes[0, col], kernel)
        _show_map(axes[1, col], correlate2d(image, kernel), name)
    fig.tight_layout()
    return fig


def feature_map_grid(images, maps, *, channel_names=None, dpi: float = 80) -> Figure:
    """A batch of inputs beside the feature maps a conv layer made of them.

    Parameters
    ----------
    images : (N, H, W) or (N, 1, H, W) array
    maps : (N, F, OH, OW) array
        The output of the layer, one row per image.
    channel_names : list of F str, optional
        Column titles.
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
    maps = as_float_array(maps, "maps", 4, "(N, F, OH, OW)")
    if maps.shape[0] != images.shape[0]:
        raise ValueError(f"images has {images.shape[0]} images but maps has {maps.shape[0]}")
    n, f = maps.shape[:2]
    names = list(channel_names) if channel_names is not None else [f"channel {k}" for k in range(f)]
    if len(names) != f:
        raise ValueError(f"channel_names has {len(names)} names for {f} channels")
    fig, axes = plt.subplots(n, f + 1, figsize=(1.9 * (f + 1), 1.9 * n + 0.3), dpi=dpi, squeeze=False)
    for row in range(n):
        _show_map(axes[row, 0], images[row], f"image {row}")
        for col in range(f):
            _show_map(axes[row, col + 1], maps[row, col], names[col] if row == 0 else "")
    fig.tight_layout()
    return fig
