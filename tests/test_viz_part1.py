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

from cnnlib.data import load_mnist  # noqa: E402
from cnnlib.viz import (animation_html, classic_kernels, feature_map_grid, filter_gallery,  # noqa: E402
                        output_size_diagram, output_size_gallery, parameter_comparison,
                        sliding_window_animation, sliding_window_figure)
from cnnlib.viz._grid import LOST, OUTPUT  # noqa: E402

SEED_X4 = np.array([[1, 2, 3, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 3, 0, 1]], dtype=np.float64)
SEED_K3 = np.array([[2, 0, 1], [0, 1, 2], [1, 0, 2]], dtype=np.float64)


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
        (np.array([[0, 1, 2], [3, 4, 5]]), np.array([[0, 1], [2, 3]]), 1, 0, 1),  # seed 000: 19, 25
        (SEED_X4, SEED_K3, 1, 1, 1),  # seed 002, padded
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


def test_sliding_window_figure_seed_000_numbers():
    fig = sliding_window_figure([[0, 1, 2], [3, 4, 5]], [[0, 1], [2, 3]])
    texts = [_frame_values(ax) for ax in fig.axes]
    assert texts == [((0, 0), 19.0), ((0, 1), 25.0)]
    # The multiply-accumulate line lists the kernel-times-input products in order.
    assert any(t.get_text() == "0×0 + 1×1 + 3×2 + 4×3 = 19" for t in fig.axes[0].texts)


def test_sliding_window_figure_selected_positions_and_errors():
    fig = sliding_window_figure(SEED_X4, SEED_K3, padding=1, positions=[(0, 0), (1, 1)])
    assert [_frame_values(ax) for ax in fig.axes] == [((0, 0), 7.0), ((1, 1), 15.0)]
    with pytest.raises(ValueError, match="outside the output"):
        sliding_window_figure(SEED_X4, SEED_K3, positions=[(2, 0)])
    with pytest.raises(ValueError, match="kernel"):
        sliding_window_figure(SEED_X4, np.ones(3))


def test_sliding_window_animation_frames():
    # Seed 002's 7x7 input: each row is the cycle 1 2 3 0 shifted one place right.
    x7 = np.array([[[1, 2, 3, 0][(j - i) % 4] for j in range(7)] for i in range(7)])
    anim = sliding_window_animation(x7, SEED_K3, stride=2)
    assert len(list(anim.new_frame_seq())) == 9
    ax = anim._fig.axes[0]
    expected = _torch_conv(x7, SEED_K3, stride=2)
    for step in range(9):
        anim._func(step)
        (i, j), value = _frame_values(ax)
        assert (i, j) == divmod(step, 3)
        assert value == pytest.approx(expected[i, j])
    assert expected[0, 0] == 15 and expected[0, 1] == 17
    assert len(re.findall(r"frames\[\d+\] = ", animation_html(anim, "stride2"))) == 9
    with pytest.raises(ValueError, match="max_frames"):
        sliding_window_animation(np.zeros((6, 6)), SEED_K3)


def test_animation_html_is_offline_and_stable():
    anim = sliding_window_animation(SEED_X4, SEED_K3)
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
    titles = [t.get_text() for t in ax.texts if t.get_text().startswith("H=")]
    assert len(titles) == 1 and titles[0].endswith(f"= {expected}")
    assert _count_cells(ax, OUTPUT) == expected
    # Cells no window reads: with K_eff >= S only the remainder of the division at the end.
    k_eff = dilation * (kernel_size - 1) + 1
    if k_eff >= stride and dilation == 1:
        assert _count_cells(ax, LOST) == (size + 2 * padding - k_eff) % stride


def test_output_size_gallery_one_axes_all_diagrams():
    configs = [dict(size=7, kernel_size=3), dict(size=7, kernel_size=3, stride=2), dict(size=7, kernel_size=3, padding=1)]
    fig = output_size_gallery(configs)
    assert len(fig.axes) == 1
    titles = [t.get_text() for t in fig.axes[0].texts if t.get_text().startswith("H=")]
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
