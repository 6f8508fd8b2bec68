"""Figures of chapters 5-7 (cnnlib.viz.unroll, .pooling, .backprop) show the right numbers.

Each figure draws tables of numbers; the tests read a table back from the
figure (the text in each cell, below the table's caption) and compare it
with an oracle: torch for convolutions, pooling and their gradients, plain
NumPy loops for counts and byte sizes.
"""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402

from cnnlib.im2col import im2col  # noqa: E402
from cnnlib.viz import (plot_conv1d_connections, plot_full_correlation, plot_im2col, plot_im2col_memory,  # noqa: E402
                        plot_overlap_counts, plot_pool_backward, plot_pooling, plot_shift_robustness,
                        unrolled_nbytes)

SEED_POOL_INPUT = np.array([[1, 2, 1, 0], [0, 1, 2, 3], [3, 0, 1, 2], [2, 4, 0, 1]], dtype=np.float64)


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


def test_plot_im2col_rejects_channel_mismatch():
    with pytest.raises(ValueError, match="same C"):
        plot_im2col(np.zeros((2, 4, 4)), np.zeros((1, 3, 3)))


@pytest.mark.parametrize("h, w, k, stride, padding", [(6, 6, 3, 1, 0), (5, 7, 3, 2, 1), (4, 4, 2, 2, 0)])
def test_plot_overlap_counts_counts_patches(h, w, k, stride, padding):
    expected = np.zeros((h + 2 * padding, w + 2 * padding))
    for i in range(0, h + 2 * padding - k + 1, stride):
        for j in range(0, w + 2 * padding - k + 1, stride):
            expected[i:i + k, j:j + k] += 1
    expected = expected[padding:padding + h, padding:padding + w]
    fig = plot_overlap_counts(h, w, k, stride, padding)
    np.testing.assert_array_equal(fig.axes[0].images[0].get_array(), expected)


def test_plot_im2col_memory_ratio_is_k_squared_with_same_padding():
    fig = plot_im2col_memory([8, 16, 32, 64], channels=3, kernel_sizes=(3, 5))
    ratio_ax = fig.axes[1]
    lines = {line.get_label(): line.get_ydata() for line in ratio_ax.get_lines()}
    np.testing.assert_allclose(lines["3x3, 'same' padding"], 9.0)
    np.testing.assert_allclose(lines["5x5, 'same' padding"], 25.0)
    valid = np.asarray(lines["5x5, no padding"])
    assert np.all(np.diff(valid) > 0) and np.all(valid < 25.0)
    np.testing.assert_allclose(valid, [25 * (s - 4) ** 2 / s**2 for s in (8, 16, 32, 64)])


# ------------------------------------------------------------------ chapter 6


@pytest.mark.parametrize("mode", ["max", "avg"])
@pytest.mark.parametrize("k, stride, padding", [(2, 2, 0), (3, 2, 1), (3, 1, 0)])
def test_plot_pooling_output_matches_torch(mode, k, stride, padding):
    fig = plot_pooling(SEED_POOL_INPUT, k, stride, padding, mode=mode)
    x = _torch(SEED_POOL_INPUT[None, None])
    pool = TF.max_pool2d if mode == "max" else TF.avg_pool2d
    expected = pool(x, k, stride, padding)[0, 0].numpy()
    got = _table(fig.axes[0], "max pooled" if mode == "max" else "average pooled", expected.shape)
    np.testing.assert_allclose(got, expected, rtol=5e-3)  # the cells show 3 significant digits


def test_plot_pooling_seed_example_marks_each_maximum():
    fig = plot_pooling(SEED_POOL_INPUT, 2)
    ax = fig.axes[0]
    np.testing.assert_array_equal(_table(ax, "max pooled", (2, 2)), [[2, 3], [4, 2]])
    bold = sorted(_number(t.get_text()) for t in ax.texts if t.get_fontweight() == "bold")
    assert bold == [2, 2, 3, 4]


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
    assert f"{int((digit != shifted).sum())} of 64 pixels changed" in titles
    assert f"{int((pooled != pooled_shifted).sum())} of 16 pooled values changed" in titles


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


def test_plot_conv1d_connections_caption_is_the_weight_gradient():
    x, w, delta = np.array([1.0, 2, 3, 4, 5]), np.array([1.0, 2, -1]), np.array([1.0, -1, 2])
    wt = _torch(w).requires_grad_(True)
    out = TF.conv1d(_torch(x)[None, None], wt[None, None])[0, 0]
    (out * _torch(delta)).sum().backward()
    for i in range(3):
        fig = plot_conv1d_connections(x, w, delta, highlight=i)
        caption = [t.get_text() for t in fig.axes[0].texts if "partial L" in t.get_text()]
        assert len(caption) == 1
        assert _number(caption[0].rsplit("= ", 1)[1]) == wt.grad[i].item()


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
