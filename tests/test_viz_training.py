"""Figures of chapters 8 and 9 (cnnlib.viz.training) draw what they claim, in the book's style.

Each test reads the figure back: the number of image panels and what each
shows (array, colour map, limits), the titles and labels, the plotted
lines, and checks the book's rules: width at most MAX_WIDTH_IN, no text
smaller than MIN_FONT_PT, alt text that names the figure's key numbers.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.text import Text  # noqa: E402

from cnnlib.viz import plot_feature_maps, plot_filter_grid, plot_learning_curves, plot_misclassified  # noqa: E402
from cnnlib.viz._style import IMAGE_CMAP, MAX_WIDTH_IN, MIN_FONT_PT, SIGNED_CMAP, get_alt  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _texts(fig) -> list[Text]:
    """Every visible, non-empty text artist of the figure (titles, labels, ticks, legends)."""
    fig.canvas.draw()  # tick labels exist only after a draw
    return [t for t in fig.findobj(Text) if t.get_visible() and t.get_text().strip()]


def _check_style(fig) -> None:
    width, _ = fig.get_size_inches()
    assert width <= MAX_WIDTH_IN + 1e-9, f"figure is {width:.2f} in wide"
    assert fig.dpi == 100
    small = [(t.get_text(), t.get_fontsize()) for t in _texts(fig) if t.get_fontsize() < MIN_FONT_PT]
    assert not small, f"text below {MIN_FONT_PT} pt: {small}"
    alt = get_alt(fig)
    assert alt and len(alt) > 40 and not alt.endswith(".png")


def _images(fig):
    """(axes, AxesImage) of every panel that shows an image, in drawing order."""
    return [(ax, ax.images[0]) for ax in fig.get_axes() if ax.images]


def _history(epochs, start_loss, acc0):
    e = np.arange(1, epochs + 1)
    return {"epoch": list(e), "train_loss": list(start_loss / e), "train_acc": list(1 - (1 - acc0) / e),
            "val_loss": list(1.5 * start_loss / e), "val_acc": list(1 - 1.2 * (1 - acc0) / e)}


# ---------------------------------------------------------------- learning curves

def test_learning_curves_one_history():
    history = _history(4, 0.8, 0.8)
    fig = plot_learning_curves(history)
    _check_style(fig)
    ax_loss, ax_acc = fig.get_axes()
    assert ax_loss.get_yscale() == "log" and ax_acc.get_yscale() == "linear"
    assert len(ax_loss.lines) == len(ax_acc.lines) == 2  # training and validation
    np.testing.assert_allclose(ax_loss.lines[0].get_ydata(), history["train_loss"])
    np.testing.assert_allclose(ax_acc.lines[1].get_ydata(), history["val_acc"])
    np.testing.assert_array_equal(ax_acc.lines[0].get_xdata(), [1, 2, 3, 4])
    assert [t.get_text() for t in ax_acc.get_legend().get_texts()] == ["training", "validation"]
    assert ax_loss.get_ylabel() == "cross-entropy loss" and ax_acc.get_xlabel() == "epoch"
    alt = get_alt(fig)
    assert "4 epochs" in alt and f"{100 * history['val_acc'][-1]:.1f}%" in alt


def test_learning_curves_several_runs_share_the_axes():
    runs = {"He": _history(5, 0.5, 0.9), "std 0.01": _history(5, 1.2, 0.7)}
    fig = plot_learning_curves(runs)
    _check_style(fig)
    ax_loss, ax_acc = fig.get_axes()
    assert len(ax_loss.lines) == len(ax_acc.lines) == 4
    labels = [t.get_text() for t in ax_acc.get_legend().get_texts()]
    assert labels == ["He: training", "He: validation", "std 0.01: training", "std 0.01: validation"]
    # one colour per run, training and validation of a run in the same colour
    colours = [line.get_color() for line in ax_acc.lines]
    assert colours[0] == colours[1] != colours[2] == colours[3]
    np.testing.assert_allclose(ax_loss.lines[2].get_ydata(), runs["std 0.01"]["train_loss"])
    alt = get_alt(fig)
    assert "He: validation accuracy" in alt and "std 0.01: validation accuracy" in alt


def test_learning_curves_without_validation():
    history = _history(3, 0.5, 0.9)
    history["val_loss"] = history["val_acc"] = [float("nan")] * 3
    fig = plot_learning_curves(history)
    assert all(len(ax.lines) == 1 for ax in fig.get_axes())
    assert "training accuracy" in get_alt(fig)


def test_learning_curves_errors():
    with pytest.raises(ValueError, match="train_loss"):
        plot_learning_curves({"epoch": [1], "train_acc": [0.5]})
    with pytest.raises(TypeError, match="histories"):
        plot_learning_curves([1, 2])
    with pytest.raises(ValueError, match="empty"):
        plot_learning_curves({})


# ---------------------------------------------------------------- filter galleries

def test_filter_grid_draws_every_filter_signed_on_its_own_scale():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((30, 1, 5, 5)) * np.linspace(0.01, 1, 30)[:, None, None, None]
    fig = plot_filter_grid(weight, title="conv1 filters")
    _check_style(fig)
    panels = _images(fig)
    assert len(panels) == 30
    for k, (_, image) in enumerate(panels):
        np.testing.assert_array_equal(image.get_array(), weight[k, 0])
        assert image.get_cmap().name == SIGNED_CMAP
        low, high = image.get_clim()
        assert low == -high == -np.abs(weight[k, 0]).max()  # symmetric, white at 0, per filter
    titles = [t.get_text() for t in _texts(fig)]
    assert titles == ["conv1 filters"]
    alt = get_alt(fig)
    assert "30 filters of 5x5" in alt and "red for positive" in alt


def test_filter_grid_stacks_titled_galleries():
    rng = np.random.default_rng(1)
    galleries = {"before training": rng.standard_normal((12, 1, 3, 3)),
                 "after training": rng.standard_normal((12, 2, 3, 3))}
    fig = plot_filter_grid(galleries, ncols=6)
    _check_style(fig)
    panels = _images(fig)
    assert len(panels) == 24
    np.testing.assert_array_equal(panels[12][1].get_array(), galleries["after training"][0, 0])  # channel 0
    assert [t.get_text() for t in _texts(fig)] == ["before training", "after training"]
    assert get_alt(fig).count("12 filters of 3x3") == 2


def test_filter_grid_errors():
    with pytest.raises(ValueError, match=r"\(F, C, K_H, K_W\)"):
        plot_filter_grid(np.zeros((5, 5)))
    with pytest.raises(ValueError, match="ncols"):
        plot_filter_grid(np.zeros((2, 1, 3, 3)), ncols=0)


# ---------------------------------------------------------------- feature maps

def test_feature_maps_rows_labels_and_colours():
    rng = np.random.default_rng(2)
    image = rng.random((28, 28))
    conv = rng.standard_normal((8, 24, 24))
    relu = np.maximum(conv, 0)
    pooled = relu[:, ::2, ::2]
    scores = rng.standard_normal(10)
    fig = plot_feature_maps(image, [("conv1", conv), ("relu1", relu), ("pool1", pooled), ("fc", scores)], max_maps=6)
    _check_style(fig)
    panels = _images(fig)
    assert len(panels) == 1 + 6 + 6 + 6 + 1  # input, three rows of 6 maps, the scores as one square
    labels = [t.get_text() for t in _texts(fig)]
    assert labels == ["input\n28×28", "conv1\n8×24×24", "relu1\n8×24×24", "pool1\n8×12×12", "fc\n10"]
    cmaps = [image.get_cmap().name for _, image in panels]
    assert cmaps == [IMAGE_CMAP] + [SIGNED_CMAP] * 6 + [IMAGE_CMAP] * 12 + [SIGNED_CMAP]
    np.testing.assert_array_equal(panels[1][1].get_array(), conv[0])
    assert panels[1][1].get_clim() == (-np.abs(conv).max(), np.abs(conv).max())  # one scale per row
    assert panels[7][1].get_clim() == (0.0, relu.max())
    square = np.ma.filled(panels[-1][1].get_array().astype(float), np.nan)
    assert square.shape == (4, 4)  # 10 scores in a 4x4 square, the last 6 cells empty
    np.testing.assert_array_equal(square.ravel()[:10], scores)
    assert np.isnan(square.ravel()[10:]).all()
    alt = get_alt(fig)
    assert "conv1 8×24×24 (signed)" in alt and "pool1 8×12×12 (non-negative)" in alt


def test_feature_maps_errors():
    with pytest.raises(ValueError, match="image"):
        plot_feature_maps(np.zeros((2, 2, 2, 2)), [])
    with pytest.raises(ValueError, match="one sample"):
        plot_feature_maps(np.zeros((28, 28)), [("conv1", np.zeros((1, 8, 24, 24)))])


# ---------------------------------------------------------------- mistakes

def test_misclassified_titles_and_order():
    rng = np.random.default_rng(3)
    images = rng.random((50, 1, 28, 28))
    labels = rng.integers(0, 10, 50)
    predictions = labels.copy()
    wrong = [3, 7, 8, 20, 41]
    predictions[wrong] = (labels[wrong] + 1) % 10
    fig = plot_misclassified(images, labels, predictions, max_images=4, ncols=10)
    _check_style(fig)
    panels = _images(fig)
    assert len(panels) == 4
    for (ax, image), i in zip(panels, wrong):
        np.testing.assert_array_equal(image.get_array(), images[i, 0])
        assert image.get_cmap().name == IMAGE_CMAP
        assert ax.get_title() == f"{labels[i]} → {predictions[i]}"
    assert get_alt(fig).startswith("The first 4 of 5 misclassified digits")


def test_misclassified_wide_grid_fits_the_column():
    images = np.zeros((40, 28, 28))
    labels = np.zeros(40, dtype=int)
    fig = plot_misclassified(images, labels, np.ones(40, dtype=int), max_images=40, ncols=20)
    _check_style(fig)
    assert len(_images(fig)) == 40


def test_misclassified_errors():
    with pytest.raises(ValueError, match="every prediction is right"):
        plot_misclassified(np.zeros((3, 28, 28)), np.arange(3), np.arange(3))
    with pytest.raises(ValueError, match="N labels"):
        plot_misclassified(np.zeros((3, 28, 28)), np.arange(2), np.arange(3))


def test_learning_curve_tick_labels_do_not_overlap():
    # A loss falling over two decades: the log axis labels 2, 3 and 5 between
    # decades in plain numbers, and no two labels collide.
    history = _history(8, 1.6, 0.6)
    history["train_loss"] = list(np.geomspace(1.6, 0.02, 8))
    fig = plot_learning_curves(history)
    fig.canvas.draw()
    ax_loss = fig.get_axes()[0]
    renderer = fig.canvas.get_renderer()
    lo, hi = ax_loss.get_ylim()
    labels = [t for t in ax_loss.get_yticklabels(minor=False) + ax_loss.get_yticklabels(minor=True)
              if t.get_text() and lo <= t.get_position()[1] <= hi]
    texts = {t.get_text() for t in labels}
    assert {"0.1", "1", "0.05", "0.2", "0.3", "0.5"} <= texts and not any("10^" in s or "times" in s for s in texts)
    boxes = sorted((t.get_window_extent(renderer) for t in labels), key=lambda b: b.y0)
    for below, above in zip(boxes, boxes[1:]):
        assert below.y1 <= above.y0 + 0.5, (below, above)
