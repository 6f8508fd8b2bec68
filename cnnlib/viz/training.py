"""Figures for training a network (chapters 8 and 9).

Learning curves from a :class:`cnnlib.train.Trainer` history, a grid of
first-layer filters, the feature maps of one image layer by layer, and the
digits a model got wrong.
"""

from __future__ import annotations

import math

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure

__all__ = ["plot_learning_curves", "plot_filter_grid", "plot_feature_maps", "plot_misclassified"]


def _blank(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def plot_learning_curves(history: dict, *, dpi: float = 80) -> Figure:
    """Loss and accuracy per epoch, training and held-out, side by side.

    Parameters
    ----------
    history : dict
        ``Trainer.history``: lists ``epoch``, ``train_loss``, ``train_acc``
        and, optionally, ``val_loss`` and ``val_acc`` (NaN entries are skipped).
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: cross-entropy loss (log scale) and accuracy.
    """
    for key in ("epoch", "train_loss", "train_acc"):
        if key not in history or not len(history[key]):
            raise ValueError(f"history has no {key!r} entries; pass Trainer.history after fit()")
    epochs = np.asarray(history["epoch"])
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(9, 3.4), dpi=dpi)
    for ax, key, label in ((ax_loss, "loss", "cross-entropy loss"), (ax_acc, "acc", "accuracy")):
        ax.plot(epochs, history[f"train_{key}"], "o-", label="training (mean over the epoch)")
        val = np.asarray(history.get(f"val_{key}", []), dtype=float)
        if val.size and not np.isnan(val).all():
            ax.plot(epochs, val, "s-", label="held out (after the epoch)")
        ax.set_xlabel("epoch")
        ax.set_ylabel(label)
        ax.set_xticks(epochs)
        ax.grid(alpha=0.3)
    ax_loss.set_yscale("log")
    ax_acc.legend(loc="lower right", fontsize=8)
    fig.tight_layout()
    return fig


def plot_filter_grid(weight, *, ncols: int = 10, title: str | None = None, dpi: float = 80) -> Figure:
    """The filters of a conv layer as small grey images.

    Parameters
    ----------
    weight : (F, C, KH, KW) array
        Only channel 0 of each filter is drawn (all of it for C = 1, as in
        a first layer on grey images).
    ncols : int
    title : str, optional
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        One cell per filter, each scaled from its own minimum (black) to
        its maximum (white), as in Saito's ``visualize_filter.py``.
    """
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4:
        raise ValueError(f"weight must be (F, C, KH, KW); got shape {weight.shape}")
    n = weight.shape[0]
    ncols = max(1, min(ncols, n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(0.8 * ncols, 0.8 * nrows + (0.4 if title else 0)), dpi=dpi,
                             squeeze=False)
    for k, ax in enumerate(axes.flat):
        _blank(ax)
        if k >= n:
            ax.axis("off")
            continue
        ax.imshow(weight[k, 0], cmap="gray", interpolation="nearest")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    return fig


def _as_image(values: np.ndarray) -> np.ndarray:
    """A (C, H, W) map stays; a vector of n values becomes a near-square image."""
    if values.ndim == 3:
        return values
    side = math.ceil(math.sqrt(values.size))
    padded = np.full(side * side, np.nan)
    padded[: values.size] = values.ravel()
    return padded.reshape(1, side, side)


def plot_feature_maps(image, activations, *, max_maps: int = 8, dpi: float = 80) -> Figure:
    """What one image becomes, layer by layer.

    Parameters
    ----------
    image : (H, W) or (1, H, W) array
        The input.
    activations : list of (name, array)
        One sample's output of each layer to draw, e.g. from
        ``[(n, a[0]) for n, a in model.trace(x[:1])]``. ``(C, H, W)`` maps
        show their first `max_maps` channels; vectors (``(n,)``) are drawn
        as one near-square image of n cells.
    max_maps : int
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        One row per layer, the input on the first row.
    """
    image = np.asarray(image, dtype=np.float64)
    image = image[0] if image.ndim == 3 else image
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W) or (1, H, W); got shape {np.shape(image)}")
    rows = [("input", image[None])]
    for name, values in activations:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim not in (1, 3):
            raise ValueError(f"activation {name!r} has shape {values.shape}; pass one sample, (C, H, W) or (n,)")
        rows.append((f"{name} {tuple(values.shape)}", _as_image(values)))
    ncols = min(max_maps, max(r[1].shape[0] for r in rows))
    fig, axes = plt.subplots(len(rows), ncols, figsize=(1.1 * ncols, 1.25 * len(rows)), dpi=dpi, squeeze=False)
    for r, (label, maps) in enumerate(rows):
        for c in range(ncols):
            ax = axes[r, c]
            _blank(ax)
            if c >= maps.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(maps[c], cmap="viridis", interpolation="nearest")
        axes[r, 0].set_ylabel(label, rotation=0, ha="right", va="center", fontsize=8)
    fig.tight_layout()
    return fig


def plot_misclassified(images, labels, predictions, *, max_images: int = 20, ncols: int = 10, dpi: float = 80) -> Figure:
    """The images a model got wrong, titled ``true -> predicted``.

    Parameters
    ----------
    images : (N, 1, H, W) or (N, H, W) array
    labels, predictions : (N,) int arrays
    max_images : int
        Draw the first `max_images` mistakes, in data order.
    ncols : int
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
    """
    images = np.asarray(images)
    images = images[:, 0] if images.ndim == 4 else images
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if images.ndim != 3 or not len(images) == len(labels) == len(predictions):
        raise ValueError(f"need N images (N, H, W) and N labels and predictions; got {images.shape}, "
                         f"{labels.shape}, {predictions.shape}")
    wrong = np.flatnonzero(labels != predictions)[:max_images]
    if wrong.size == 0:
        raise ValueError("no misclassified images: every prediction is right")
    ncols = max(1, min(ncols, wrong.size))
    nrows = math.ceil(wrong.size / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.0 * ncols, 1.15 * nrows), dpi=dpi, squeeze=False)
    for k, ax in enumerate(axes.flat):
        _blank(ax)
        if k >= wrong.size:
            ax.axis("off")
            continue
        i = wrong[k]
        ax.imshow(images[i], cmap="gray_r")
        ax.set_title(f"{labels[i]} → {predictions[i]}", fontsize=9, color="#b03030")
    fig.tight_layout()
    return fig
