"""Figures for training a network (chapters 8 and 9).

Learning curves from :class:`cnnlib.train.Trainer` histories, galleries of
first-layer filters, the feature maps of one image layer by layer, and the
digits a model got wrong. Colours follow :mod:`cnnlib.viz._style`: digits
and other non-negative maps as dark ink on white, signed arrays (filters,
pre-activation maps) red/blue around a white zero. Every figure is at most
``MAX_WIDTH_IN`` wide and carries alt text naming what it shows.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.axes import Axes
from matplotlib.figure import Figure
from matplotlib.ticker import FuncFormatter

from ._style import IMAGE_CMAP, MAX_WIDTH_IN, MIN_FONT_PT, SIGNED_CMAP, set_alt, signed_limits

__all__ = ["plot_learning_curves", "plot_filter_grid", "plot_feature_maps", "plot_misclassified"]

_DPI = 100  # the size a figure is shown at in the content column (see _style)
_LABEL_PT = 10.0
_SMALL_PT = max(MIN_FONT_PT, 9.0)


def _blank(ax: Axes) -> None:
    ax.set_xticks([])
    ax.set_yticks([])


def _pct(value: float) -> str:
    return f"{100 * value:.1f}%"


def _check_history(history: Mapping, label: str) -> None:
    if not isinstance(history, Mapping):
        raise TypeError(f"history {label!r} must be a dict (Trainer.history); got {type(history).__name__}")
    for key in ("epoch", "train_loss", "train_acc"):
        if key not in history or not len(history[key]):
            raise ValueError(f"history {label!r} has no {key!r} entries; pass Trainer.history after fit()")


def plot_learning_curves(histories: Mapping, *, dpi: float = _DPI) -> Figure:
    """Loss and accuracy per epoch, training and validation, side by side.

    Parameters
    ----------
    histories : dict
        One ``Trainer.history`` (lists ``epoch``, ``train_loss``,
        ``train_acc`` and, optionally, ``val_loss`` and ``val_acc``; NaN
        entries are skipped), or a dict ``{label: history}`` of several runs
        drawn on the same axes, one colour per run.
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        Two axes: cross-entropy loss (log scale) and accuracy. Training
        values (means over each epoch, while the weights changed) are solid
        lines with circles, validation values (after each epoch) dashed
        lines with squares.
    """
    if not isinstance(histories, Mapping):
        raise TypeError(f"histories must be a Trainer.history dict or {{label: history}}; got {type(histories).__name__}")
    runs = {"": histories} if "epoch" in histories else dict(histories)
    if not runs:
        raise ValueError("histories is empty: pass Trainer.history after fit(), or {label: history}")
    for label, history in runs.items():
        _check_history(history, label)
    fig, (ax_loss, ax_acc) = plt.subplots(1, 2, figsize=(MAX_WIDTH_IN, 3.0), dpi=dpi)
    colours = plt.get_cmap("tab10").colors
    finals = []
    for k, (label, history) in enumerate(runs.items()):
        epochs = np.asarray(history["epoch"])
        colour = colours[k % len(colours)]
        prefix = f"{label}: " if label else ""
        for ax, key in ((ax_loss, "loss"), (ax_acc, "acc")):
            ax.plot(epochs, history[f"train_{key}"], "o-", color=colour, label=f"{prefix}training")
            val = np.asarray(history.get(f"val_{key}", []), dtype=float)
            if val.size and not np.isnan(val).all():
                ax.plot(epochs, val, "s--", color=colour, label=f"{prefix}validation")
        val_acc = np.asarray(history.get("val_acc", []), dtype=float)
        shown = val_acc[-1] if val_acc.size and not np.isnan(val_acc[-1]) else history["train_acc"][-1]
        kind = "validation" if val_acc.size and not np.isnan(val_acc[-1]) else "training"
        finals.append(f"{prefix}{kind} accuracy {_pct(shown)} after epoch {int(epochs[-1])}")
    all_epochs = sorted({int(e) for h in runs.values() for e in h["epoch"]})
    for ax, ylabel in ((ax_loss, "cross-entropy loss"), (ax_acc, "accuracy")):
        ax.set_xlabel("epoch", fontsize=_LABEL_PT)
        ax.set_ylabel(ylabel, fontsize=_LABEL_PT)
        ax.set_xticks(all_epochs)
        ax.tick_params(labelsize=_SMALL_PT)
        ax.grid(alpha=0.3)
    ax_loss.set_yscale("log")
    # Plain numbers (0.2, not 2x10^-1); between decades only 2, 3 and 5 are
    # labelled, so that the labels never overlap.
    ax_loss.yaxis.set_major_formatter(FuncFormatter(lambda value, _: f"{value:g}"))
    ax_loss.yaxis.set_minor_formatter(FuncFormatter(
        lambda value, _: f"{value:g}" if f"{value:.0e}"[0] in "235" else ""))
    ax_loss.tick_params(which="minor", labelsize=_SMALL_PT)
    ax_acc.legend(loc="best", fontsize=_SMALL_PT)
    fig.tight_layout()
    return set_alt(fig, f"Learning curves over {len(all_epochs)} epochs: cross-entropy loss on a log scale "
                        f"(left) and accuracy (right), training solid and validation dashed; "
                        + "; ".join(finals) + ".")


def _as_filters(weight, name: str) -> np.ndarray:
    weight = np.asarray(weight, dtype=np.float64)
    if weight.ndim != 4 or weight.shape[0] == 0:
        raise ValueError(f"{name} must be (F, C, K_H, K_W) with F >= 1; got shape {weight.shape}")
    return weight


def plot_filter_grid(weight, *, ncols: int = 10, title: str | None = None, dpi: float = _DPI) -> Figure:
    """The filters of a conv layer as small signed images, one gallery or several.

    Parameters
    ----------
    weight : (F, C, K_H, K_W) array, or dict {label: (F, C, K_H, K_W) array}
        Only channel 0 of each filter is drawn (all of it for C = 1, as in a
        first layer on grey images). A dict draws one titled gallery per
        entry, one under the other, e.g. before and after training.
    ncols : int
        Filters per row.
    title : str, optional
        Title of a single gallery (with a dict, the keys are the titles).
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        One cell per filter in ``SIGNED_CMAP``: white is 0, red positive,
        blue negative, each filter scaled to its own largest ``|w|`` (as
        Saito's ``visualize_filter.py`` scales each filter to its own
        range), so that the pattern of a filter shows whatever its size.
    """
    galleries = {str(k): _as_filters(v, f"weight[{k!r}]") for k, v in weight.items()} if isinstance(weight, Mapping) \
        else {title or "": _as_filters(weight, "weight")}
    if not isinstance(ncols, int) or ncols < 1:
        raise ValueError(f"ncols must be a positive int; got {ncols!r}")
    ncols = min(ncols, max(w.shape[0] for w in galleries.values()))
    cell = min(0.62, MAX_WIDTH_IN / ncols)
    heights = [math.ceil(w.shape[0] / ncols) for w in galleries.values()]
    title_rows = [0.35 if label else 0.0 for label in galleries]
    fig = plt.figure(figsize=(cell * ncols, sum(cell * h + t for h, t in zip(heights, title_rows))), dpi=dpi)
    subfigs = fig.subfigures(len(galleries), 1, height_ratios=[cell * h + t for h, t in zip(heights, title_rows)],
                             squeeze=False)[:, 0]
    described = []
    for sub, (label, filters), nrows in zip(subfigs, galleries.items(), heights):
        axes = sub.subplots(nrows, ncols, squeeze=False)
        for k, ax in enumerate(axes.flat):
            _blank(ax)
            if k >= filters.shape[0]:
                ax.axis("off")
                continue
            vmin, vmax = signed_limits(filters[k, 0])
            ax.imshow(filters[k, 0], cmap=SIGNED_CMAP, vmin=vmin, vmax=vmax, interpolation="nearest")
        if label:
            sub.suptitle(label, fontsize=_LABEL_PT)
        sub.subplots_adjust(left=0.01, right=0.99, bottom=0.02, top=1 - (0.3 / (cell * nrows + 0.35) if label else 0.02),
                            wspace=0.08, hspace=0.08)
        f, _, kh, kw = filters.shape
        largest = np.abs(filters[:, 0]).max(axis=(1, 2))
        described.append(f"{label + ': ' if label else ''}{f} filters of {kh}x{kw}, largest |weight| per filter "
                         f"from {largest.min():.2g} to {largest.max():.2g}")
    return set_alt(fig, "Gallery of conv filters drawn red for positive and blue for negative weights, white for 0, "
                        "each scaled to its own largest |weight|. " + "; ".join(described) + ".")


def _as_image(values: np.ndarray) -> np.ndarray:
    """A (C, H, W) map stays; a vector of n values becomes a near-square image."""
    if values.ndim == 3:
        return values
    side = math.ceil(math.sqrt(values.size))
    padded = np.full(side * side, np.nan)
    padded[: values.size] = values.ravel()
    return padded.reshape(1, side, side)


def plot_feature_maps(image, activations, *, max_maps: int = 8, dpi: float = _DPI) -> Figure:
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
        One row per layer, the input on the first row, each labelled with
        the layer's name and output shape. Rows with negative values (before
        a ReLU) are signed (red/blue around a white 0, one scale per row);
        non-negative rows (the digit, ReLU and pooling outputs) are dark ink
        on white, from 0 to the row's largest value.
    """
    image = np.asarray(image, dtype=np.float64)
    image = image[0] if image.ndim == 3 else image
    if image.ndim != 2:
        raise ValueError(f"image must be (H, W) or (1, H, W); got shape {np.shape(image)}")
    if not isinstance(max_maps, int) or max_maps < 1:
        raise ValueError(f"max_maps must be a positive int; got {max_maps!r}")
    rows = [("input", tuple(image.shape), image[None])]
    for name, values in activations:
        values = np.asarray(values, dtype=np.float64)
        if values.ndim not in (1, 3):
            raise ValueError(f"activation {name!r} has shape {values.shape}; pass one sample, (C, H, W) or (n,)")
        rows.append((str(name), tuple(values.shape), _as_image(values)))
    ncols = min(max_maps, max(r[2].shape[0] for r in rows))
    label_in = 1.35
    cell = min(0.8, (MAX_WIDTH_IN - label_in) / ncols)
    fig, axes = plt.subplots(len(rows), ncols + 1, figsize=(label_in + cell * ncols, cell * len(rows) + 0.1), dpi=dpi,
                             squeeze=False, gridspec_kw={"width_ratios": [label_in / cell] + [1] * ncols})
    kinds = []
    for r, (name, shape, maps) in enumerate(rows):
        label_ax = axes[r, 0]
        label_ax.axis("off")
        shape_text = "×".join(str(s) for s in shape)
        label_ax.text(1.0, 0.5, f"{name}\n{shape_text}", ha="right", va="center", fontsize=_SMALL_PT,
                      transform=label_ax.transAxes)
        finite = maps[np.isfinite(maps)]
        signed = finite.size > 0 and finite.min() < 0
        if signed:
            vmin, vmax, cmap = *signed_limits(finite), SIGNED_CMAP
        else:
            vmin, vmax, cmap = 0.0, (float(finite.max()) if finite.size and finite.max() > 0 else 1.0), IMAGE_CMAP
        kinds.append(f"{name} {shape_text} ({'signed' if signed else 'non-negative'})")
        for c in range(ncols):
            ax = axes[r, c + 1]
            _blank(ax)
            if c >= maps.shape[0]:
                ax.axis("off")
                continue
            ax.imshow(maps[c], cmap=cmap, vmin=vmin, vmax=vmax, interpolation="nearest")
    fig.subplots_adjust(left=0.0, right=0.995, bottom=0.01, top=0.99, wspace=0.06, hspace=0.12)
    return set_alt(fig, f"Feature maps of one digit, layer by layer, up to {ncols} maps per row: "
                        + ", ".join(kinds) + ". Signed rows are red/blue around white 0, "
                        "non-negative rows dark ink on white.")


def plot_misclassified(images, labels, predictions, *, max_images: int = 20, ncols: int = 10,
                       dpi: float = _DPI) -> Figure:
    """The images a model got wrong, titled ``true → predicted``.

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
        Digits as dark ink on white, one per cell.
    """
    images = np.asarray(images)
    images = images[:, 0] if images.ndim == 4 else images
    labels, predictions = np.asarray(labels), np.asarray(predictions)
    if images.ndim != 3 or not len(images) == len(labels) == len(predictions):
        raise ValueError(f"need N images (N, H, W) and N labels and predictions; got {images.shape}, "
                         f"{labels.shape}, {predictions.shape}")
    all_wrong = np.flatnonzero(labels != predictions)
    wrong = all_wrong[:max_images]
    if wrong.size == 0:
        raise ValueError("no misclassified images: every prediction is right")
    ncols = max(1, min(ncols, wrong.size))
    nrows = math.ceil(wrong.size / ncols)
    cell = min(0.72, MAX_WIDTH_IN / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(cell * ncols, (cell + 0.25) * nrows), dpi=dpi, squeeze=False)
    for k, ax in enumerate(axes.flat):
        _blank(ax)
        if k >= wrong.size:
            ax.axis("off")
            continue
        i = wrong[k]
        ax.imshow(images[i], cmap=IMAGE_CMAP, vmin=0, vmax=max(float(images.max()), 1e-12))
        ax.set_title(f"{labels[i]} → {predictions[i]}", fontsize=_LABEL_PT, color="#b03030", pad=2)
    fig.subplots_adjust(left=0.01, right=0.99, bottom=0.01, top=1 - 0.25 / ((cell + 0.25) * nrows) - 0.005,
                        wspace=0.08, hspace=0.35)
    pairs = ", ".join(f"{labels[i]}→{predictions[i]}" for i in wrong)
    return set_alt(fig, f"The first {wrong.size} of {all_wrong.size} misclassified digits, dark ink on white, "
                        f"each titled true → predicted: {pairs}.")
