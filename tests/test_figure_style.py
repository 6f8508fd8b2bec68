"""Every figure function of cnnlib.viz follows the book's figure rules (cnnlib/viz/_style.py).

For each public function of :mod:`cnnlib.viz` that returns a figure (or an
animation, whose figure is checked), a small sample call in :data:`SAMPLES`
draws it and the test asserts:

* alt text is set (:func:`get_alt`), at least 10 characters, not a file path,
  and names at least one number of the figure (a digit);
* the figure is at most ``MAX_WIDTH_IN`` (7.2 in) wide;
* no text is smaller than ``MIN_FONT_PT`` (9 pt) *at the size shown*: the
  notebooks show a figure at ``dpi`` CSS pixels per inch (the 2x PNG is
  displayed at half its pixels), and the 7.2-in content column is 720 px,
  so a text of ``s`` points is shown at ``s * dpi / 100`` points, reduced
  further when the figure is wider than the column.

A public function missing from the table fails :func:`test_every_figure_function_has_a_sample`,
so a new figure cannot skip these checks.
"""

from __future__ import annotations

import inspect

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.animation import Animation  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

import cnnlib.viz as viz  # noqa: E402
from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential  # noqa: E402
from cnnlib.models import AlexNet, GoogLeNet, LeNet5  # noqa: E402
from cnnlib.viz._style import MAX_WIDTH_IN, MIN_FONT_PT, get_alt  # noqa: E402

COLUMN_PX = 720  # the content column at 1280 px (MAX_WIDTH_IN at 100 dpi)
REFERENCE_DPI = 100

_rng = np.random.default_rng(0)
_DIGIT = np.zeros((28, 28))
_DIGIT[6:22, 12:16] = 1.0
_X44 = np.arange(16.0).reshape(4, 4) % 5
_K3 = np.array([[1.0, 0, -1], [2, 0, -2], [1, 0, -1]])
_HISTORY = {"epoch": [1, 2, 3], "train_loss": [1.2, 0.6, 0.4], "train_acc": [0.6, 0.8, 0.9],
            "val_loss": [1.0, 0.7, 0.5], "val_acc": [0.65, 0.78, 0.86]}


def _small_net():
    return Sequential(("conv", Conv2d(1, 4, 3)), ("relu", ReLU()), ("pool", MaxPool2d(2)), ("flat", Flatten()),
                      ("fc", Linear(4 * 13 * 13, 10)))


# name -> a call that draws a typical figure (the one the book shows, where cheap).
SAMPLES = {
    "sliding_window_figure": lambda: viz.sliding_window_figure(_X44, np.ones((3, 3)), positions=[(0, 0)]),
    "sliding_window_animation": lambda: viz.sliding_window_animation(_X44, np.ones((3, 3))),
    "filter_gallery": lambda: viz.filter_gallery(_DIGIT, viz.classic_kernels()),
    "feature_map_grid": lambda: viz.feature_map_grid(_rng.random((2, 1, 8, 8)), _rng.normal(size=(2, 2, 6, 6)),
                                                     channel_names=["edges", "blur"]),
    "output_size_diagram": lambda: viz.output_size_diagram(7, 3, stride=2),
    "output_size_gallery": lambda: viz.output_size_gallery([{"size": 5, "kernel_size": 3},
                                                           {"size": 7, "kernel_size": 3, "stride": 2}]),
    "parameter_comparison": lambda: viz.parameter_comparison({"fully connected": 614_656, "conv 3x3": 9}),
    "plot_im2col": lambda: viz.plot_im2col(_rng.integers(-3, 4, (1, 4, 4)).astype(float),
                                           _rng.integers(-2, 3, (1, 3, 3)).astype(float)),
    "plot_im2col_memory": lambda: viz.plot_im2col_memory([8, 16, 32, 64], channels=3, kernel_sizes=(3, 5)),
    "plot_overlap_counts": lambda: viz.plot_overlap_counts(5, 5, 3),
    "plot_pooling": lambda: viz.plot_pooling(np.arange(16.0).reshape(4, 4), 2),
    "plot_shift_robustness": lambda: viz.plot_shift_robustness(_DIGIT, shift=1, kernel_size=2),
    "plot_pool_backward": lambda: viz.plot_pool_backward(_rng.permutation(16).reshape(4, 4).astype(float),
                                                         np.ones((2, 2)), 2),
    "plot_conv1d_connections": lambda: viz.plot_conv1d_connections(np.array([1.0, 2, 3, 4, 5]),
                                                                   np.array([1.0, 2, -1]), np.array([1.0, -1, 2])),
    "plot_full_correlation": lambda: viz.plot_full_correlation(np.ones((2, 2)), np.array([[1.0, 2], [3, 4]])),
    "plot_learning_curves": lambda: viz.plot_learning_curves(_HISTORY),
    "plot_filter_grid": lambda: viz.plot_filter_grid(_rng.normal(size=(30, 1, 5, 5))),
    "plot_feature_maps": lambda: viz.plot_feature_maps(_DIGIT, [("conv1", _rng.random((8, 24, 24))),
                                                                ("fc1", _rng.random(100))]),
    "plot_misclassified": lambda: viz.plot_misclassified(np.stack([_DIGIT] * 4)[:, None], np.array([1, 2, 3, 4]),
                                                         np.array([7, 7, 8, 9])),
    "plot_architecture": lambda: viz.plot_architecture(_small_net(), (1, 28, 28)),
    "plot_inception_module": lambda: viz.plot_inception_module(),
    "plot_conv_volumes": lambda: viz.plot_conv_volumes(),
    "conv_volumes_animation": lambda: viz.conv_volumes_animation(),
    "plot_transposed_conv": lambda: viz.plot_transposed_conv(np.array([[1.0, 2], [3, 4]]), _K3, stride=2),
    "plot_receptive_field": lambda: viz.plot_receptive_field([(3, 1), (2, 2), (3, 1)], 10),
}
# The book's own architecture figures, which must stay readable at 7.2 in too.
BOOK_FIGURES = {
    "LeNet5": lambda: viz.plot_architecture(LeNet5(), (1, 32, 32)),
    "AlexNet two towers": lambda: viz.plot_architecture(AlexNet(two_gpu=True, width=0.25, hidden=64), (3, 227, 227)),
    "GoogLeNet": lambda: viz.plot_architecture(GoogLeNet(width=0.25), (3, 224, 224)),
}
# Public names of cnnlib.viz that do not draw a figure.
NOT_FIGURES = {"animation_html", "classic_kernels", "get_alt", "overlap_counts", "set_alt", "unrolled_nbytes", "setup_notebook"}


def _public_functions() -> list[str]:
    return sorted(name for name, obj in vars(viz).items()
                  if not name.startswith("_") and inspect.isfunction(obj) and obj.__module__.startswith("cnnlib.viz"))


def test_every_figure_function_has_a_sample():
    missing = [name for name in _public_functions() if name not in SAMPLES and name not in NOT_FIGURES]
    assert missing == [], "add a sample call to SAMPLES in tests/test_figure_style.py"
    assert set(SAMPLES) <= set(_public_functions())


def _figure_of(result) -> Figure:
    if isinstance(result, Animation):
        return result._fig
    assert isinstance(result, Figure), f"expected a Figure or an Animation, got {type(result).__name__}"
    return result


def _problems(fig: Figure) -> list[str]:
    """Every rule the figure breaks (all of them, so one run lists everything to fix)."""
    problems = []
    alt = get_alt(fig)
    if alt is None:
        problems.append("no alt text: end the function with `return set_alt(fig, ...)`")
    elif len(alt) < 10 or alt.lower().endswith((".png", ".svg", ".jpg")) or "/" in alt.split()[0]:
        problems.append(f"alt text is not a description: {alt!r}")
    elif not any(ch.isdigit() for ch in alt):
        problems.append(f"alt text names no number of the figure: {alt!r}")
    width_in = fig.get_size_inches()[0]
    if width_in > MAX_WIDTH_IN + 1e-9:
        problems.append(f"figure is {width_in:.2f} in wide (at most {MAX_WIDTH_IN})")
    shown = fig.dpi / REFERENCE_DPI * min(1.0, COLUMN_PX / (width_in * fig.dpi))
    fig.canvas.draw()  # lay out tick labels, so they are text artists with their final size
    small = sorted({(round(t.get_fontsize() * shown, 1), t.get_text()[:30]) for t in fig.findobj(plt.Text)
                    if t.get_text().strip() and t.get_visible() and t.get_fontsize() * shown < MIN_FONT_PT - 1e-6})
    if small:
        problems.append(f"text below {MIN_FONT_PT} pt as shown (dpi {fig.dpi:g}): {small[:6]}")
    return problems


@pytest.mark.filterwarnings("ignore:Animation was deleted without rendering")  # only its figure is checked
@pytest.mark.parametrize("name", sorted(SAMPLES))
def test_figure_follows_the_style(name):
    try:
        problems = _problems(_figure_of(SAMPLES[name]()))
        assert not problems, "\n".join(problems)
    finally:
        plt.close("all")


@pytest.mark.parametrize("name", sorted(BOOK_FIGURES))
def test_book_architecture_figures_follow_the_style(name):
    try:
        problems = _problems(BOOK_FIGURES[name]())
        assert not problems, "\n".join(problems)
    finally:
        plt.close("all")
