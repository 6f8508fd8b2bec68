"""Figures of chapters 1-4 (cnnlib.viz.sliding, .animation, .filters, .arithmetic).

The figures print numbers and draw images that a reader takes on trust, so
the tests read them back from the matplotlib artists and compare them with
torch (convolution values and output sizes) or with plain arithmetic
(parameter counts), besides checking the number of axes and frames.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from matplotlib.colors import to_rgba  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402
from matplotlib.text import Text  # noqa: E402,F401

from cnnlib.data import load_mnist  # noqa: E402
from cnnlib.viz import (animation_html, classic_kernels, feature_map_grid, filter_gallery,  # noqa: E402
                        output_size_diagram, output_size_gallery, parameter_comparison,
                        sliding_window_animation, sliding_window_figure)
from cnnlib.viz._grid import LOST, OUTPUT  # noqa: E402
from cnnlib.viz._style import IMAGE_CMAP, MAX_WIDTH_IN, MIN_FONT_PT, SIGNED_CMAP, get_alt  # noqa: E402

X4 = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], dtype=np.float64)
K3 = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], dtype=np.float64)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _torch_conv(x, k, stride=1, padding=0, dilation=1) -> np.ndarray:
    t = TF.conv2d(torch.tensor(x, dtype=torch.float64)[None, None], torch.tensor(k, dtype=torch.float64)[None, None],
                  stride=stride, padding=padding, dilation=dilation)
    return t[0, 0].numpy()


def _frame_values(ax) -> tuple[tuple[int, int], float]:
    """(output position from the title, result of the multiply-accumulate text)."""
    i, j = map(int, re.match(r"output \((\d+), (\d+)\)", ax.get_title()).groups())
    sums = [t.get_text() for t in ax.texts if re.search(r"= -?[\d.]+$", t.get_text())]
    assert len(sums) == 1, f"expected one multiply-accumulate line, found {sums}"
    return (i, j), float(sums[0].rsplit("=", 1)[1])


# ------------------------------------------------------------------ sliding window


@pytest.mark.parametrize(
    "x, kernel, stride, padding, dilation",
    [
        (np.array([[0, 1, 2], [3, 4, 5]]), np.array([[0, 1], [2, 3]]), 1, 0, 1),  # chapter 2's 2x3 example: 19, 25
        (X4, K3, 1, 1, 1),  # chapter 3's padded 4x4 example
        (np.random.default_rng(0).integers(-4, 5, size=(7, 6)), np.random.default_rng(1).integers(-2, 3, size=(2, 3)), 2, 1, 2),
    ],
)
def test_sliding_window_figure_shows_torch_values(x, kernel, stride, padding, dilation):
    expected = _torch_conv(x, kernel, stride, padding, dilation)
    fig = sliding_window_figure(x, kernel, stride=stride, padding=padding, dilation=dilation)
    assert len(fig.axes) == expected.size
    seen = set()
    for ax in fig.axes:
        (i, j), value = _frame_values(ax)
        assert value == pytest.approx(expected[i, j])
        seen.add((i, j))
    assert seen == {(i, j) for i in range(expected.shape[0]) for j in range(expected.shape[1])}


def test_sliding_window_figure_worked_example_numbers():
    fig = sliding_window_figure([[0, 1, 2], [3, 4, 5]], [[0, 1], [2, 3]])
    texts = [_frame_values(ax) for ax in fig.axes]
    assert texts == [((0, 0), 19.0), ((0, 1), 25.0)]
    # The multiply-accumulate line lists the kernel-times-input products in order.
    assert any(t.get_text() == "0×0 + 1×1 + 3×2 + 4×3 = 19" for t in fig.axes[0].texts)


def test_sliding_window_figure_selected_positions_and_errors():
    fig = sliding_window_figure(X4, K3, padding=1, positions=[(0, 0), (1, 1)])
    assert [_frame_values(ax) for ax in fig.axes] == [((0, 0), 7.0), ((1, 1), 15.0)]
    with pytest.raises(ValueError, match="outside the output"):
        sliding_window_figure(X4, K3, positions=[(2, 0)])
    with pytest.raises(ValueError, match="kernel"):
        sliding_window_figure(X4, np.ones(3))


def test_sliding_window_animation_frames():
    # Chapter 3's 7x7 input: each row is the cycle 1 2 3 0 shifted one place right.
    x7 = np.array([[[1, 2, 3, 0][(j - i) % 4] for j in range(7)] for i in range(7)])
    anim = sliding_window_animation(x7, K3, stride=2)
    assert len(list(anim.new_frame_seq())) == 9
    ax = anim._fig.axes[0]
    expected = _torch_conv(x7, K3, stride=2)
    for step in range(9):
        anim._func(step)
        (i, j), value = _frame_values(ax)
        assert (i, j) == divmod(step, 3)
        assert value == pytest.approx(expected[i, j])
    assert expected[0, 0] == 15 and expected[0, 1] == 17
    assert len(re.findall(r"frames\[\d+\] = ", animation_html(anim, "stride2"))) == 9
    with pytest.raises(ValueError, match="max_frames"):
        sliding_window_animation(np.zeros((6, 6)), K3)


def test_animation_html_is_offline_and_stable():
    anim = sliding_window_animation(X4, K3)
    html = animation_html(anim, "test_anim", alt='a "quoted" alt')
    frames = re.findall(r'frames\[(\d+)\] = "data:image/png;base64,([^"]+)"', html.replace("\n", ""))
    assert [int(i) for i, _ in frames] == [0, 1, 2, 3]
    assert len({data for _, data in frames}) == 4, "every frame should differ"
    assert re.search(r"https?:", html) is None
    assert '<i class="fa' not in html
    assert html.count("<svg") == 9  # one icon per player button
    assert 'id="_anim_imgtest_anim" alt="a &quot;quoted&quot; alt"' in html
    assert "anim_slidertest_anim" in html and re.search(r"[0-9a-f]{32}", html.split("frames[")[0]) is None
    with pytest.raises(ValueError, match="name"):
        animation_html(anim, "bad-name")


# ------------------------------------------------------------------ filters


def test_classic_kernels_sums():
    kernels = classic_kernels()
    for name in ("vertical edges", "horizontal edges", "outline"):
        assert kernels[name].sum() == pytest.approx(0.0)
    for name in ("box blur", "Gaussian blur"):
        assert kernels[name].sum() == pytest.approx(1.0)
        assert (kernels[name] > 0).all()
    np.testing.assert_array_equal(kernels["horizontal edges"], kernels["vertical edges"].T)


def test_filter_gallery_images_are_torch_convolutions():
    images, _ = load_mnist()
    digit = images[0, 0].astype(np.float64)
    kernels = classic_kernels()
    fig = filter_gallery(digit, kernels)
    assert len(fig.axes) == 2 * (len(kernels) + 1)
    drawn = [ax for ax in fig.axes if ax.images]
    assert len(drawn) == 2 * len(kernels) + 1  # the top-left axes is blank
    by_title = {ax.get_title(): np.asarray(ax.images[0].get_array()) for ax in drawn}
    np.testing.assert_allclose(by_title["input"], digit)
    for name, kernel in kernels.items():
        np.testing.assert_allclose(by_title[name], _torch_conv(digit, kernel), rtol=1e-6, atol=1e-6)
    with pytest.raises(ValueError, match="empty"):
        filter_gallery(digit, {})


def test_feature_map_grid_layout_and_values():
    rng = np.random.default_rng(2)
    images = rng.random((3, 1, 8, 8))
    maps = rng.normal(size=(3, 2, 6, 6))
    fig = feature_map_grid(images, maps, channel_names=["a", "b"])
    assert len(fig.axes) == 3 * 3
    np.testing.assert_allclose(np.asarray(fig.axes[4].images[0].get_array()), maps[1, 0])
    np.testing.assert_allclose(np.asarray(fig.axes[3].images[0].get_array()), images[1, 0])
    with pytest.raises(ValueError, match="images"):
        feature_map_grid(images[:2], maps)
    with pytest.raises(ValueError, match="channel_names"):
        feature_map_grid(images, maps, channel_names=["a"])


# ------------------------------------------------------------------ arithmetic


def _count_cells(ax, color: str) -> int:
    rgba = to_rgba(color)
    return sum(isinstance(p, Rectangle) and p.get_facecolor() == rgba for p in ax.patches)


@pytest.mark.parametrize(
    "size, kernel_size, stride, padding, dilation",
    [(7, 3, 1, 0, 1), (7, 3, 2, 0, 1), (7, 3, 1, 1, 1), (8, 3, 3, 0, 1), (9, 4, 2, 1, 1), (7, 3, 1, 0, 2), (12, 3, 2, 2, 2)],
)
def test_output_size_diagram_matches_torch(size, kernel_size, stride, padding, dilation):
    expected = TF.conv2d(torch.zeros(1, 1, size, size), torch.zeros(1, 1, kernel_size, kernel_size),
                         stride=stride, padding=padding, dilation=dilation).shape[-1]
    fig = output_size_diagram(size, kernel_size, stride, padding, dilation)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    titles = [t.get_text() for t in ax.texts if t.get_text().startswith("O = ")]
    assert len(titles) == 1 and titles[0].endswith(f"= {expected}")
    heads = [t.get_text() for t in ax.texts if t.get_text().startswith("H = ")]
    assert heads == [f"H = {size}, K = {kernel_size}, S = {stride}, P = {padding}"
                     + (f", D = {dilation} (K_eff = {dilation * (kernel_size - 1) + 1})" if dilation > 1 else "")]
    assert _count_cells(ax, OUTPUT) == expected
    # Cells no window reads: with K_eff >= S only the remainder of the division at the end.
    k_eff = dilation * (kernel_size - 1) + 1
    if k_eff >= stride and dilation == 1:
        assert _count_cells(ax, LOST) == (size + 2 * padding - k_eff) % stride


def test_output_size_gallery_one_axes_all_diagrams():
    configs = [dict(size=7, kernel_size=3), dict(size=7, kernel_size=3, stride=2), dict(size=7, kernel_size=3, padding=1)]
    fig = output_size_gallery(configs)
    assert len(fig.axes) == 1
    titles = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("O = ")]
    assert [int(t.rsplit("=", 1)[1]) for t in titles] == [5, 3, 7]
    assert _count_cells(fig.axes[0], OUTPUT) == 5 + 3 + 7
    with pytest.raises(ValueError, match="empty"):
        output_size_gallery([])
    with pytest.raises(ValueError, match="too many"):
        output_size_diagram(28, 3)


def test_parameter_comparison_bars():
    counts = {"dense 784 -> 676": 784 * 676 + 676, "conv 3x3": 10, "dense 784 -> 100": 78_500, "conv 30 5x5": 780}
    fig = parameter_comparison(counts)
    assert len(fig.axes) == 1
    ax = fig.axes[0]
    widths = [p.get_width() for p in ax.patches if isinstance(p, Rectangle) and p.get_width() > 0]
    assert widths == list(counts.values())
    labels = {t.get_text() for t in ax.texts}
    assert {"530,660", "10", "78,500", "780"} <= labels
    assert [t.get_text() for t in ax.get_yticklabels()] == list(counts)
    with pytest.raises(ValueError):
        parameter_comparison({"nothing": 0})
    with pytest.raises(ValueError, match="empty"):
        parameter_comparison({})


# ------------------------------------------------------------------ the book's figure conventions


_DIGITS = load_mnist()[0]
_BANK_NAMES = ["vertical edges", "horizontal edges", "outline", "box blur"]


def _feature_maps():
    batch = _DIGITS[:3].astype(np.float64)
    bank = np.stack([classic_kernels()[n] for n in _BANK_NAMES])[:, None]
    return feature_map_grid(batch, TF.conv2d(torch.tensor(batch), torch.tensor(bank)).numpy(),
                            channel_names=_BANK_NAMES)


# One figure of every drawing function of sliding, filters and arithmetic, as the chapters call them.
PART1_FIGURES = {
    "sliding": lambda: sliding_window_figure(X4, K3, padding=1, positions=[(0, 0), (1, 1)]),
    "sliding_2x3": lambda: sliding_window_figure([[0, 1, 2], [3, 4, 5]], [[0, 1], [2, 3]]),
    "gallery": lambda: filter_gallery(_DIGITS[0, 0].astype(np.float64), classic_kernels()),
    "feature_maps": _feature_maps,
    "feature_maps_1": lambda: feature_map_grid(_DIGITS[0], _DIGITS[:1], channel_names=["copy"]),
    "sizes": lambda: output_size_gallery([dict(size=7, kernel_size=3), dict(size=7, kernel_size=3, stride=2),
                                          dict(size=7, kernel_size=3, padding=1)]),
    "lost": lambda: output_size_diagram(8, 3, stride=3),
    "dilated": lambda: output_size_diagram(7, 3, dilation=2),
    "params": lambda: parameter_comparison({"dense 784 -> 26x26": 530_660, "conv, one 3x3 filter": 10},
                                           title="one layer on a 28x28 image"),
}


def _shown_texts(fig) -> list[Text]:
    """Every text a reader sees: figure and axes texts, titles, and the tick and axis labels of visible axes."""
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += list(ax.texts) + [ax.title, ax._left_title, ax._right_title]
        if ax.axison:
            for axis in (ax.xaxis, ax.yaxis):
                lo, hi = sorted(axis.get_view_interval())
                # Only the ticks inside the view are drawn.
                texts += [tick.label1 for tick in axis.get_major_ticks() if lo <= tick.get_loc() <= hi]
                texts += [axis.label]
        if ax.get_legend() is not None:
            texts += list(ax.get_legend().get_texts())
    return texts


@pytest.mark.parametrize("name", list(PART1_FIGURES))
def test_figures_fit_the_column_and_text_is_at_least_9pt(name):
    fig = PART1_FIGURES[name]()
    assert fig.get_figwidth() <= MAX_WIDTH_IN + 1e-9, f"{name} is {fig.get_figwidth():.2f} in wide"
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    fig_box = fig.bbox
    texts = [t for t in _shown_texts(fig) if t.get_visible() and t.get_text().strip()]
    assert texts, f"{name} has no text at all"
    for t in texts:
        assert t.get_fontsize() >= MIN_FONT_PT, f"{name}: {t.get_text()!r} at {t.get_fontsize()} pt"
        box = t.get_window_extent(renderer)
        # Nothing is cut at the figure's edge (one pixel of slack for antialiasing).
        assert box.x0 >= fig_box.x0 - 1 and box.x1 <= fig_box.x1 + 1, f"{name}: {t.get_text()!r} runs off the figure"


def test_alt_text_says_what_each_figure_shows():
    alt = {name: get_alt(draw()) for name, draw in PART1_FIGURES.items()}
    assert all(alt.values()), [name for name, a in alt.items() if not a]
    assert "4×4 input" in alt["sliding"] and "3×3 kernel" in alt["sliding"] and "padding 1" in alt["sliding"]
    assert "output (0, 0) = " in alt["sliding"] and alt["sliding"].count("output (") == 2
    assert "= 7" in alt["sliding"] and "= 15" in alt["sliding"]  # the two panels' values
    assert "0×0 + 1×1 + 3×2 + 4×3 = 19" in alt["sliding_2x3"] and "= 25" in alt["sliding_2x3"]
    for name in classic_kernels():
        assert name in alt["gallery"]
    assert "28×28 image" in alt["gallery"] and "5 kernels" in alt["gallery"]
    assert "3 row(s)" in alt["feature_maps"] and "4 feature map(s) of 26×26" in alt["feature_maps"]
    assert get_alt(feature_map_grid(_DIGITS[0], _DIGITS[:1], alt="a digit and its copy")) == "a digit and its copy"
    assert alt["sizes"].count("One axis of a convolution") == 3
    assert "O = ⌊(H + 2P − K) / S⌋ + 1 = ⌊4/2⌋ + 1 = 3" in alt["sizes"]
    assert "the last 2 cell(s) of the strip are never read" in alt["lost"]
    assert "K_eff = 5" in alt["dilated"]
    assert "530,660" in alt["params"] and "conv, one 3x3 filter: 10" in alt["params"]


def test_animation_figure_has_alt_text():
    anim = sliding_window_animation(X4, K3)
    assert "Animation, one frame per output" in get_alt(anim._fig)
    assert get_alt(anim._fig).count("output (") == 4
    assert animation_html(anim, "alt_test").count("frames[") >= 4  # rendered, so matplotlib does not warn


def test_colour_convention():
    gallery = PART1_FIGURES["gallery"]()
    by_title = {ax.get_title(): ax.images[0] for ax in gallery.axes if ax.images}
    # Non-negative images: dark ink on white, zero is white.
    assert by_title["input"].get_cmap().name == IMAGE_CMAP and by_title["input"].get_clim()[0] == 0
    assert by_title["box blur"].get_cmap().name == IMAGE_CMAP
    # Signed maps and kernels: the diverging map with symmetric limits.
    lo, hi = by_title["vertical edges"].get_clim()
    assert by_title["vertical edges"].get_cmap().name == SIGNED_CMAP and hi > 0 and lo == -hi
    kernels = [ax.images[0] for ax in gallery.axes if ax.images and ax.get_title().endswith("kernel")]
    assert len(kernels) == 5 and all(k.get_cmap().name == SIGNED_CMAP for k in kernels)
    assert all(k.get_clim()[0] == -k.get_clim()[1] for k in kernels)


def test_sliding_window_draws_the_cross_correlation_symbol():
    fig = sliding_window_figure(X4, K3)
    symbols = [t.get_text() for t in fig.axes[0].texts if t.get_text() in ("⋆", "∗", "*", "⊛")]
    assert symbols == ["⋆"]
