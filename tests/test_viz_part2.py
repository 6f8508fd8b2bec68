"""Figures of chapters 5-7 (cnnlib.viz.unroll, .pooling, .backprop) show the right numbers.

Each figure draws tables of numbers; the tests read a table back from the
figure (the text in each cell, below the table's caption) and compare it
with an oracle: torch for convolutions, pooling and their gradients, plain
NumPy loops for counts and byte sizes. Every figure also follows the book's
rules: alt text that names what it shows (with its key numbers), no text
below 9 pt, at most 7.2 in wide, and the colour maps of ``cnnlib.viz._style``.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

from matplotlib.text import Text  # noqa: E402

from cnnlib.im2col import im2col  # noqa: E402
from cnnlib.viz import (overlap_counts, plot_conv1d_connections, plot_full_correlation, plot_im2col,  # noqa: E402
                        plot_im2col_memory, plot_overlap_counts, plot_pool_backward, plot_pooling,
                        plot_shift_robustness, unrolled_nbytes)
from cnnlib.viz._style import IMAGE_CMAP, MAX_WIDTH_IN, MIN_FONT_PT, SIGNED_CMAP, get_alt  # noqa: E402
from cnnlib.viz._tables import PAGE_WIDTH_IN  # noqa: E402

POOL_INPUT = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], dtype=np.float64)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _number(text: str) -> float:
    return float(text.replace("\u2212", "-").replace("\u221e", "inf"))


def _table(ax, caption: str, shape: tuple[int, int]) -> np.ndarray:
    """The table drawn with its caption starting with `caption`, read back from the cell texts."""
    anchors = [t for t in ax.texts if t.get_text().startswith(caption)]
    assert len(anchors) == 1, f"expected one caption starting with {caption!r}, found {len(anchors)}"
    x0, y_caption = anchors[0].get_position()
    y0 = y_caption + 0.15
    out = np.full(shape, np.nan)
    for t in ax.texts:
        x, y = t.get_position()
        j, i = x - x0 - 0.5, y - y0 - 0.5
        if abs(j - round(j)) < 1e-9 and abs(i - round(i)) < 1e-9 and 0 <= round(i) < shape[0] and 0 <= round(j) < shape[1]:
            out[round(i), round(j)] = _number(t.get_text())
    assert not np.isnan(out).any(), f"table {caption!r} has empty cells:\n{out}"
    return out


def _torch(a: np.ndarray) -> torch.Tensor:
    return torch.tensor(a, dtype=torch.float64)


def _assert_book_style(fig, *must_mention: str) -> str:
    """The rules every figure of the book follows; returns the alt text."""
    alt = get_alt(fig)
    assert alt is not None and len(alt) > 60, f"figure without a real alt text: {alt!r}"
    assert "/" not in alt.split()[0] and not alt.endswith(".png"), "alt text is a path"
    for needle in must_mention:
        assert needle in alt, f"alt text does not mention {needle!r}: {alt}"
    width, _ = fig.get_size_inches()
    assert PAGE_WIDTH_IN <= MAX_WIDTH_IN
    assert width <= PAGE_WIDTH_IN + 1e-9, f"figure is {width:.2f} in wide (at most {PAGE_WIDTH_IN})"
    fig.canvas.draw()  # tick labels and legends exist only after a draw
    small = [(t.get_text(), t.get_fontsize()) for t in fig.findobj(Text)
             if t.get_visible() and t.get_text().strip() and t.get_fontsize() < MIN_FONT_PT]
    assert not small, f"text below {MIN_FONT_PT} pt: {small[:5]}"
    return alt


# ------------------------------------------------------------------ chapter 5


@pytest.mark.parametrize("shape, k, stride, padding", [
    ((1, 3, 7, 7), 5, 1, 0), ((10, 3, 7, 7), 5, 1, 0), ((2, 1, 28, 28), 5, 1, 0), ((3, 2, 9, 8), 3, 2, 1),
])
@pytest.mark.parametrize("dtype", [np.float32, np.float64])
def test_unrolled_nbytes_matches_im2col(shape, k, stride, padding, dtype):
    col = im2col(np.zeros(shape, dtype=dtype), k, stride, padding)
    assert unrolled_nbytes(shape, k, stride, padding, itemsize=np.dtype(dtype).itemsize) == col.nbytes


@pytest.mark.parametrize("channels, stride, padding", [(1, 1, 0), (2, 1, 0), (1, 2, 1)])
def test_plot_im2col_draws_col_and_the_convolution(channels, stride, padding):
    rng = np.random.default_rng(channels + 10 * stride)
    x = rng.integers(-3, 4, (channels, 4, 5)).astype(np.float64)
    w = rng.integers(-2, 3, (channels, 3, 3)).astype(np.float64)
    fig = plot_im2col(x, w, stride, padding)
    ax = fig.axes[0]
    expected_y = TF.conv2d(_torch(x[None]), _torch(w[None]), stride=stride, padding=padding)[0, 0].numpy()
    oh, ow = expected_y.shape
    col = _table(ax, "col = im2col(x)", (oh * ow, channels * 9))
    np.testing.assert_array_equal(col, im2col(x[None], 3, stride, padding, backend="naive"))
    np.testing.assert_array_equal(_table(ax, "w", (channels * 9, 1)), w.reshape(-1, 1))
    np.testing.assert_array_equal(_table(ax, "y as", (oh, ow)), expected_y)
    outputs = ", ".join(f"{v:.0f}" for v in expected_y.ravel())
    _assert_book_style(fig, "im2col", f"{oh * ow} x {channels * 9} matrix", f"outputs {outputs}",
                       f"reshaped to {oh}x{ow}", f"stride {stride}, padding {padding}")


def test_plot_im2col_of_the_chapter_fits_the_page():
    """The chapter's 4x4 example and its two-channel one: <= 7.2 in, row labels at 9 pt or more."""
    x = np.array([[0, 1, 2, 3], [4, 0, 1, 2], [3, 4, 0, 1], [2, 3, 4, 0]], dtype=np.float64)
    w = np.array([[1, 0, -1], [2, 0, -2], [1, 0, -1]], dtype=np.float64)
    alt = _assert_book_style(plot_im2col(x, w), "4x4 image", "outputs 7, -3, 7, 7")
    assert "4 x 9 matrix" in alt
    x_two = np.arange(18).reshape(2, 3, 3) % 5
    w_two = np.array([[[1, 0], [0, 1]], [[0, 1], [1, 0]]])
    fig = plot_im2col(x_two, w_two)
    labels = [t for t in fig.axes[0].texts if t.get_text() in {"(0,0)", "(0,1)", "(1,0)", "(1,1)"}]
    assert len(labels) == 4 and all(t.get_fontsize() >= MIN_FONT_PT for t in labels)
    _assert_book_style(fig, "2 channels", "4 x 8 matrix")


def test_plot_im2col_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="same C"):
        plot_im2col(np.zeros((2, 4, 4)), np.zeros((1, 3, 3)))


def test_plot_im2col_refuses_a_table_too_wide_to_read():
    with pytest.raises(ValueError, match="does not fit"):
        plot_im2col(np.zeros((3, 6, 6)), np.zeros((3, 3, 3)))


def _counts_by_loops(h, w, k, stride, padding):
    expected = np.zeros((h + 2 * padding, w + 2 * padding))
    for i in range(0, h + 2 * padding - k + 1, stride):
        for j in range(0, w + 2 * padding - k + 1, stride):
            expected[i:i + k, j:j + k] += 1
    return expected[padding:padding + h, padding:padding + w]


@pytest.mark.parametrize("h, w, k, stride, padding", [(6, 6, 3, 1, 0), (5, 7, 3, 2, 1), (4, 4, 2, 2, 0)])
def test_plot_overlap_counts_counts_patches(h, w, k, stride, padding):
    expected = _counts_by_loops(h, w, k, stride, padding)
    np.testing.assert_array_equal(overlap_counts(h, w, k, stride, padding), expected)
    fig = plot_overlap_counts(h, w, k, stride, padding)
    image = fig.axes[0].images[0]
    np.testing.assert_array_equal(image.get_array(), expected)
    assert image.get_cmap().name == IMAGE_CMAP and image.get_clim()[0] == 0  # non-negative: the image map
    _assert_book_style(fig, f"{h}x{w} image", f"from {expected.min():.0f} to {expected.max():.0f}")


def test_overlap_counts_interior_pixels_are_copied_k_squared_times():
    counts = overlap_counts(28, 28, 5)
    assert counts[4:-4, 4:-4].min() == counts.max() == 25  # every pixel at least K-1 from the border
    assert counts[0, 0] == 1 and counts[0, 14] == 5
    same = overlap_counts(8, 8, 3, padding=1)  # 'same' padding: still fewer copies at the border
    assert same[1:-1, 1:-1].min() == 9 and same[0, 0] == 4 and same[0, 3] == 6


def test_plot_im2col_memory_ratio_to_the_padded_input_stays_below_k_squared():
    sizes = [8, 16, 32, 64]
    fig = plot_im2col_memory(sizes, channels=3, kernel_sizes=(3, 5))
    ratio_ax = fig.axes[1]
    lines = {line.get_label(): np.asarray(line.get_ydata(), dtype=float) for line in ratio_ax.get_lines()}
    for k in (3, 5):
        same = lines[f"{k}x{k}, 'same' padding"]
        valid = lines[f"{k}x{k}, no padding"]
        np.testing.assert_allclose(same, [k * k * s**2 / (s + k - 1) ** 2 for s in sizes])
        np.testing.assert_allclose(valid, [k * k * (s - k + 1) ** 2 / s**2 for s in sizes])
        for ratio in (same, valid):
            assert np.all(np.diff(ratio) > 0) and np.all(ratio < k * k)
        # the same numbers as the real arrays
        x = np.zeros((1, 3, 16, 16), dtype=np.float32)
        xp = np.pad(x, [(0, 0), (0, 0), ((k - 1) // 2,) * 2, ((k - 1) // 2,) * 2])
        assert im2col(x, k, padding=(k - 1) // 2).nbytes / xp.nbytes == pytest.approx(same[1])
    _assert_book_style(fig, "K*K = 9, 25", "At 64 pixels", "ratio 8.46 with 'same' padding")


# ------------------------------------------------------------------ chapter 6


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 0)])
def test_plot_pooling_output_matches_torch(mode, k, stride, padding):
    fig = plot_pooling(POOL_INPUT, k, stride, padding, mode=mode)
    x = _torch(POOL_INPUT[None, None])
    pool = TF.max_pool2d if mode == "max" else TF.avg_pool2d
    expected = pool(x, k, stride, padding)[0, 0].numpy()
    got = _table(fig.axes[0], "max pooled" if mode == "max" else "average pooled", expected.shape)
    np.testing.assert_allclose(got, expected, rtol=5e-3)  # the cells show 3 significant digits
    _assert_book_style(fig, f"{k}x{k} windows, stride {stride}", f"{expected.shape[0]}x{expected.shape[1]} output")


def test_plot_pooling_worked_example_marks_each_maximum():
    fig = plot_pooling(POOL_INPUT, 2)
    ax = fig.axes[0]
    np.testing.assert_array_equal(_table(ax, "max pooled", (2, 2)), [[2, 3], [4, 2]])
    bold = sorted(_number(t.get_text()) for t in ax.texts if t.get_fontweight() == "bold")
    assert bold == [2, 2, 3, 4]
    _assert_book_style(fig, "Max pooling of a 4x4 input", "Output rows: 2 3; 4 2.")


def test_plot_pooling_overlapping_windows_say_so():
    x = np.array([[1, 3, 2, 0, 1], [4, 2, 7, 1, 3], [0, 1, 5, 2, 0], [2, 0, 1, 3, 9], [6, 1, 0, 2, 1]], dtype=float)
    fig = plot_pooling(x, 3, stride=2)
    np.testing.assert_array_equal(_table(fig.axes[0], "max pooled", (2, 2)), [[7, 7], [6, 9]])
    _assert_book_style(fig, "The windows overlap", "Output rows: 7 7; 6 9.")


def test_plot_shift_robustness_counts_changes():
    rng = np.random.default_rng(3)
    digit = np.zeros((8, 8))
    digit[2:6, 3:5] = rng.integers(1, 9, (4, 2))
    fig = plot_shift_robustness(digit, shift=1, kernel_size=2)
    shifted = np.zeros_like(digit)
    shifted[:, 1:] = digit[:, :-1]
    pooled = TF.max_pool2d(_torch(digit[None, None]), 2)[0, 0].numpy()
    pooled_shifted = TF.max_pool2d(_torch(shifted[None, None]), 2)[0, 0].numpy()
    titles = [ax.get_title() for ax in fig.axes]
    raw, pooled_changes = int((digit != shifted).sum()), int((pooled != pooled_shifted).sum())
    assert f"{raw} of 64 pixels changed" in titles
    assert f"{pooled_changes} of 16 pooled values changed" in titles
    for row in range(2):  # images in the image map; their difference is signed, in the signed map
        axes = fig.axes[3 * row: 3 * row + 3]
        assert [ax.images[0].get_cmap().name for ax in axes] == [IMAGE_CMAP, IMAGE_CMAP, SIGNED_CMAP]
        low, high = axes[2].images[0].get_clim()
        assert high > 0 and low == -high
    np.testing.assert_array_equal(fig.axes[2].images[0].get_array(), shifted - digit)
    _assert_book_style(fig, f"{raw} of 64 pixels changed", f"{pooled_changes} of 16 pooled values changed")


def test_plot_shift_robustness_rejects_zero_shift():
    with pytest.raises(ValueError, match="shift"):
        plot_shift_robustness(np.ones((4, 4)), shift=0)


# ------------------------------------------------------------------ chapter 7


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k, stride", [(2, 2), (3, 2)])
def test_plot_pool_backward_matches_torch_autograd(mode, k, stride):
    rng = np.random.default_rng(k)
    x = rng.permutation(25).reshape(5, 5).astype(np.float64)  # distinct values: no ties
    oh = (5 - k) // stride + 1
    dout = rng.integers(1, 6, (oh, oh)).astype(np.float64)
    xt = _torch(x[None, None]).requires_grad_(True)
    pool = TF.max_pool2d if mode == "max" else TF.avg_pool2d
    (pool(xt, k, stride) * _torch(dout[None, None])).sum().backward()
    fig = plot_pool_backward(x, dout, k, stride, mode=mode)
    np.testing.assert_allclose(_table(fig.axes[0], "dx", (5, 5)), xt.grad[0, 0].numpy(), rtol=5e-3)
    _assert_book_style(fig, f"{k}x{k} windows, stride {stride}", "dx rows:")


def test_plot_pool_backward_overlap_adds_at_a_shared_maximum():
    """Chapter 7's overlapping example: the 7 wins two 3x3 windows (stride 2) and gets both gradients."""
    x = np.array([[1, 3, 2, 0, 1], [4, 2, 7, 1, 3], [0, 1, 5, 2, 0], [2, 0, 1, 3, 9], [6, 1, 0, 2, 1]], dtype=float)
    dout = np.array([[1.0, 2.0], [3.0, 4.0]])
    xt = _torch(x[None, None]).requires_grad_(True)
    (TF.max_pool2d(xt, 3, 2) * _torch(dout[None, None])).sum().backward()
    fig = plot_pool_backward(x, dout, 3, 2, mode="max")
    dx = _table(fig.axes[0], "dx", (5, 5))
    np.testing.assert_array_equal(dx, xt.grad[0, 0].numpy())
    assert dx[1, 2] == 3.0
    _assert_book_style(fig, "1 pixel receives gradient from more than one window")
    fig = plot_pool_backward(x, dout, 3, 2, mode="avg")
    _assert_book_style(fig, "dout / 9", "more than one window")


def test_plot_conv1d_connections_caption_is_the_weight_gradient():
    x, w, delta = np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 2, -1]), np.array([1.0, -1, 2])
    wt = _torch(w).requires_grad_(True)
    out = TF.conv1d(_torch(x)[None, None], wt[None, None])[0, 0]
    (out * _torch(delta)).sum().backward()
    for i in range(3):
        fig = plot_conv1d_connections(x, w, delta, highlight=i)
        caption = [t.get_text() for t in fig.axes[0].texts if "partial L" in t.get_text()]
        assert len(caption) == 1
        assert f"w_{{{i}}}$" in caption[0]  # indices from 0, as in the book
        assert _number(caption[0].rsplit("= ", 1)[1]) == wt.grad[i].item()
        labels = {t.get_text() for t in fig.axes[0].texts}
        assert "$x_{0}$" in labels and "$x_{4}$" in labels and "$x_{5}$" not in labels
        _assert_book_style(fig, f"dL/dw_{i} = {wt.grad[i].item():.0f}", "x_0 to x_4 = (1, 2, 3, 4, 5)")


def test_plot_full_correlation_is_the_input_gradient():
    rng = np.random.default_rng(7)
    x = rng.normal(size=(5, 4))
    w = rng.integers(-2, 3, (2, 3)).astype(np.float64)
    delta = rng.integers(-2, 3, (4, 2)).astype(np.float64)
    xt = _torch(x[None, None]).requires_grad_(True)
    (TF.conv2d(xt, _torch(w[None, None])) * _torch(delta[None, None])).sum().backward()
    fig = plot_full_correlation(delta, w)
    np.testing.assert_array_equal(_table(fig.axes[0], "dx", (5, 4)), xt.grad[0, 0].numpy())
    np.testing.assert_array_equal(_table(fig.axes[0], "w rotated", (2, 3)), w[::-1, ::-1])
    top_left = xt.grad[0, 0, 0, 0].item()
    _assert_book_style(fig, "full cross-correlation", "rotated by pi", f"top-left entry {top_left:.0f}")
