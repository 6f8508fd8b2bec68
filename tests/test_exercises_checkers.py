"""Every checker passes its reference solution and diagnoses wrong ones.

Each wrong implementation below is written the way a learner would write
it (loops, np.pad, np.convolve), independently of the mistakes listed in
cnnlib.exercises, and must fail with the hint that names its mistake.
"""

from __future__ import annotations

import numpy as np
import pytest

import cnnlib.exercises as ex
from cnnlib.exercises import solutions as sol
from cnnlib.exercises._core import TOLERANCE

ALL = [e.name for e in ex.EXERCISES]


def test_every_exercise_has_a_checker_a_solution_and_a_listed_name():
    assert len(ALL) == 25
    for name in ALL:
        assert callable(getattr(ex, f"check_{name}"))
        assert callable(getattr(sol, name))
        assert f"check_{name}" in ex.__all__
    assert {e.chapter for e in ex.EXERCISES} == set(range(1, 13))
    assert TOLERANCE == 1e-7


@pytest.mark.parametrize("name", ALL)
def test_reference_solution_passes_with_one_line(name, capsys):
    getattr(ex, f"check_{name}")(getattr(sol, name))
    n_cases = len(ex.by_name(name).make_cases())
    assert capsys.readouterr().out == f"check_{name}: all {n_cases} cases passed\n"


@pytest.mark.parametrize("name,key", [(e.name, m.key) for e in ex.EXERCISES for m in e.mistakes])
def test_every_listed_mistake_is_diagnosed(name, key):
    exercise = ex.by_name(name)
    mistake = next(m for m in exercise.mistakes if m.key == key)
    with pytest.raises(AssertionError) as info:
        getattr(ex, f"check_{name}")(mistake.wrong)
    assert f"hint: {mistake.hint}" in str(info.value)


# --- learner-style wrong implementations, at least two per checker -------------

def _loops_correlate(image, kernel):
    kh, kw = kernel.shape
    out = np.zeros((image.shape[0] - kh + 1, image.shape[1] - kw + 1))
    for i in range(out.shape[0]):
        for j in range(out.shape[1]):
            out[i, j] = np.sum(image[i:i + kh, j:j + kw] * kernel)
    return out


def _conv_forward(x, w, b, stride, padding, flip=False, bias=True, index_stride=True, pad=None):
    if flip:
        w = w[:, :, ::-1, ::-1]
    xp = np.pad(x, pad or [(0, 0), (0, 0), (padding, padding), (padding, padding)])
    f, _, kh, kw = w.shape
    oh = (xp.shape[2] - kh) // stride + 1
    ow = (xp.shape[3] - kw) // stride + 1
    step = stride if index_stride else 1
    out = np.zeros((x.shape[0], f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xp[:, :, i * step:i * step + kh, j * step:j * step + kw]
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + (b if bias else 0)
    return out


def _pool_loops(x, k, s, reduce=np.max, start=None):
    oh, ow = (x.shape[2] - k) // s + 1, (x.shape[3] - k) // s + 1
    y = np.zeros((*x.shape[:2], oh, ow))
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(oh):
                for j in range(ow):
                    window = x[n, c, i * s:i * s + k, j * s:j * s + k]
                    if start is None:
                        y[n, c, i, j] = reduce(window)
                    else:  # a running maximum started at `start`
                        best = start
                        for v in window.ravel():
                            best = v if v > best else best
                        y[n, c, i, j] = best
    return y


def _pool_back_loops(dout, x, k, s, how):
    dx = np.zeros(x.shape)
    for n in range(x.shape[0]):
        for c in range(x.shape[1]):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    rows, cols = slice(i * s, i * s + k), slice(j * s, j * s + k)
                    window = x[n, c, rows, cols]
                    if how == "every":
                        dx[n, c, rows, cols] += dout[n, c, i, j]
                    elif how == "mean":
                        dx[n, c, rows, cols] += dout[n, c, i, j] / window.size
                    else:  # "assign": the argmax gets '=' instead of '+='
                        p, q = np.unravel_index(np.argmax(window), window.shape)
                        dx[n, c, i * s + p, j * s + q] = dout[n, c, i, j]
    return dx


def _im2col_order(x, fh, fw, stride=1, pad=0, order=(0, 4, 5, 1, 2, 3), transpose=False, use_pad=True):
    n, c, h, w = x.shape
    p = pad if use_pad else 0
    oh, ow = (h + 2 * p - fh) // stride + 1, (w + 2 * p - fw) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])
    col = np.zeros((n, c, fh, fw, oh, ow))
    for y in range(fh):
        for x_ in range(fw):
            col[:, :, y, x_] = img[:, :, y:y + stride * oh:stride, x_:x_ + stride * ow:stride]
    col = col.transpose(order).reshape(n * oh * ow, -1)
    return col.T if transpose else col


def _col2im_variant(col, x_shape, fh, fw, stride=1, pad=0, assign=False, crop=True):
    n, c, h, w = x_shape
    oh, ow = (h + 2 * pad - fh) // stride + 1, (w + 2 * pad - fw) // stride + 1
    col = col.reshape(n, oh, ow, c, fh, fw).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad, w + 2 * pad))
    for y in range(fh):
        for x_ in range(fw):
            target = (slice(None), slice(None), slice(y, y + stride * oh, stride), slice(x_, x_ + stride * ow, stride))
            if assign:
                img[target] = col[:, :, y, x_]
            else:
                img[target] += col[:, :, y, x_]
    return img[:, :, pad:pad + h, pad:pad + w] if crop else img


def _conv_backward(dout, x, w, stride, padding, db_axes=(0, 2, 3), crop=True, dw_scale=1.0, order=(0, 1, 2)):
    dx, dw, db = sol.conv2d_backward(dout, x, w, stride, padding)
    if not crop:
        xp = np.pad(x, [(0, 0), (0, 0), (padding, padding), (padding, padding)])
        dx = sol.conv2d_backward(dout, xp, w, stride, 0)[0]
    result = (dx, dw * dw_scale, dout.sum(axis=db_axes))
    return tuple(result[i] for i in order)


def _softmax_ce(logits, labels, shift=True, divide_grad=True, mean_loss=True):
    z = logits - logits.max(axis=1, keepdims=True) if shift else logits.astype(np.float64)
    with np.errstate(over="ignore", invalid="ignore", divide="ignore"):
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        losses = -np.log(p[np.arange(len(z)), labels])
    g = p.copy()
    g[np.arange(len(z)), labels] -= 1
    return float(losses.mean() if mean_loss else losses.sum()), (g / len(z) if divide_grad else g)


def _chained(input_hw, layers, chain=True, include_input=False):
    sizes, size = ([input_hw] if include_input else []), input_hw
    for k, s, p in layers:
        size = ((size if chain else input_hw) + 2 * p - k) // s + 1
        sizes.append(size)
    return sizes


WRONG = [
    # chapter 1
    ("dense_params", lambda i, o, bias=True: i * o, "left out the biases"),
    ("dense_params", lambda i, o, bias=True: i * o + i, "one bias per output unit"),
    ("dense_params", lambda i, o, bias=True: float(i * o + (o if bias else 0)), "a float"),
    ("conv1d", lambda x, v: np.array([np.sum(x[i:i + len(v)] * v[::-1]) for i in range(len(x) - len(v) + 1)]),
     "true convolution"),
    ("conv1d", lambda x, v: np.convolve(x, v), "mode 'full'"),
    ("conv1d", lambda x, v: np.array([np.dot(x[i:i + len(v)], v) for i in range(len(x) - len(v))]),
     "one position early"),
    ("conv1d", lambda x, v: [float(np.dot(x[i:i + len(v)], v)) for i in range(len(x) - len(v) + 1)],
     r"wrap the result in np.array"),
    # chapter 2
    ("correlate2d", lambda image, kernel: _loops_correlate(image, kernel[::-1, ::-1]), "rotated by 180 degrees"),
    ("correlate2d", lambda image, kernel: _loops_correlate(image, kernel).T, "transposed"),
    ("correlate2d", lambda image, kernel: _loops_correlate(image, kernel)[:-1, :-1], "one position early"),
    ("convolve2d", _loops_correlate, "you computed cross-correlation"),
    ("convolve2d", lambda image, kernel: _loops_correlate(image, kernel[::-1]), "upside down only"),
    ("convolve2d", lambda image, kernel: _loops_correlate(image, kernel.T), r"not kernel\.T"),
    # chapter 3
    ("conv_output_size", lambda size, kernel_size, stride=1, padding=0, dilation=1:
        (size + 2 * padding - kernel_size) // stride, r"forgot the '\+ 1'"),
    ("conv_output_size", lambda size, kernel_size, stride=1, padding=0, dilation=1:
        (size + padding - kernel_size) // stride + 1, "both sides"),
    ("conv_output_size", lambda size, kernel_size, stride=1, padding=0, dilation=1:
        (size + 2 * padding - kernel_size) / stride + 1, "a float"),
    ("conv_output_size", lambda size, kernel_size, stride=1, padding=0, dilation=1:
        (size + 2 * padding - kernel_size) // stride + 1, "dilated kernel spans"),
    ("conv_output_size", lambda size, kernel_size, stride=1, padding=0, dilation=1:
        -(-(size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride) + 1, "rounded up"),
    ("pad2d", lambda x, p: np.pad(x, p), "batch and channel axes"),
    ("pad2d", lambda x, p: np.pad(x, [(0, 0), (0, 0), (p, 0), (p, 0)]), "one side only"),
    ("pad2d", lambda x, p: np.pad(x, [(0, 0), (0, 0), (2 * p, 0), (2 * p, 0)]), "all 2P zeros are on one side"),
    ("pad2d", lambda x, p: np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode="edge"), "not by repeating"),
    # chapter 4
    ("conv2d_forward", lambda x, w, b, s, p: _conv_forward(x, w, b, s, p, flip=True), "rotated by 180 degrees"),
    ("conv2d_forward", lambda x, w, b, s, p: _conv_forward(x, w, b, s, p, bias=False), "forgot the bias"),
    ("conv2d_forward", lambda x, w, b, s, p: _conv_forward(x, w, b, s, p, index_stride=False), r"\(i\*S, j\*S\)"),
    ("conv2d_forward", lambda x, w, b, s, p: _conv_forward(x, w, b, s, p, pad=[(0, 0), (0, 0), (p, 0), (p, 0)]),
     "padding applied to one side"),
    ("conv2d_forward", lambda x, w, b, s, p: _conv_forward(x, w, b, s, p).transpose(0, 2, 3, 1), r"\(N, OH, OW, F\)"),
    ("conv_layer_params", lambda c, f, k, bias=True: f * k * k + (f if bias else 0), "every input channel"),
    ("conv_layer_params", lambda c, f, k, bias=True: f * c * k + (f if bias else 0), r"K \* K"),
    ("conv_layer_params", lambda c, f, k, bias=True: f * c * k * k, "left out the biases"),
    # chapter 5
    ("im2col", lambda x, fh, fw, stride=1, pad=0: _im2col_order(x, fh, fw, stride, pad, order=(0, 4, 5, 2, 3, 1)),
     r"\(FH, FW, C\) order"),
    ("im2col", lambda x, fh, fw, stride=1, pad=0: _im2col_order(x, fh, fw, stride, pad, transpose=True),
     "your col is transposed"),
    ("im2col", lambda x, fh, fw, stride=1, pad=0: _im2col_order(x, fh, fw, stride, pad, use_pad=False),
     "pad ignored"),
    ("col2im", lambda col, s, fh, fw, stride=1, pad=0: _col2im_variant(col, s, fh, fw, stride, pad, assign=True),
     "must add up"),
    ("col2im", lambda col, s, fh, fw, stride=1, pad=0: _col2im_variant(col, s, fh, fw, stride, pad, crop=False),
     "padding is still there"),
    # chapter 6
    ("max_pool2d", lambda x, k, s: _pool_loops(x, k, s, reduce=np.mean), "averaged"),
    ("max_pool2d", lambda x, k, s: _pool_loops(x, k, s, start=0.0), "never below 0"),
    ("max_pool2d", lambda x, k, s: _pool_loops(x, k, s).max(axis=1), "across the channels"),
    ("max_pool2d_backward", lambda d, x, k, s: _pool_back_loops(d, x, k, s, "every"), "sent to every element"),
    ("max_pool2d_backward", lambda d, x, k, s: _pool_back_loops(d, x, k, s, "mean"), "average pooling"),
    ("max_pool2d_backward", lambda d, x, k, s: _pool_back_loops(d, x, k, s, "assign"), "collects the gradient of each"),
    # chapter 7
    ("conv1d_backward_dw", lambda x, delta: np.convolve(x, delta, "valid"), "you convolved"),
    ("conv1d_backward_dw", lambda x, delta: sol.conv1d(x, delta)[::-1], "reversed"),
    ("conv2d_backward", lambda d, x, w, s, p: _conv_backward(d, x, w, s, p, db_axes=(2, 3)),
     "bias gradient not summed over the batch"),
    ("conv2d_backward", lambda d, x, w, s, p: _conv_backward(d, x, w, s, p, crop=False), "still contains the padding"),
    ("conv2d_backward", lambda d, x, w, s, p: _conv_backward(d, x, w, s, p, dw_scale=1 / len(x)), "batch size"),
    ("conv2d_backward", lambda d, x, w, s, p: _conv_backward(d, x, w, s, p, order=(1, 0, 2)), "in place of"),
    # chapter 8
    ("relu_backward", lambda dout, x: dout * (x >= 0), r"use x > 0, not x >= 0"),
    ("relu_backward", lambda dout, x: x > 0, "multiply it by dout"),
    ("relu_backward", lambda dout, x: np.where(dout > 0, dout, 0), "sign of the input x"),
    ("softmax_cross_entropy", lambda z, t: _softmax_ce(z, t, divide_grad=False), "divide the gradient by N"),
    ("softmax_cross_entropy", lambda z, t: _softmax_ce(z, t, shift=False), "subtract each row's maximum"),
    ("softmax_cross_entropy", lambda z, t: _softmax_ce(z, t, mean_loss=False), "not the sum"),
    # chapter 9
    ("inception_params", lambda cin, c1, c3r, c3, c5r, c5, pp:
        cin * c1 + cin * c3r + c3r * 9 * c3 + cin * c5r + c5r * 25 * c5 + cin * pp, "left out the biases"),
    ("inception_params", lambda cin, c1, c3r, c3, c5r, c5, pp:
        (cin * c1 + c1) + (cin * 9 * c3 + c3) + (cin * 25 * c5 + c5) + (cin * pp + pp), "c3_reduce"),
    ("output_shapes", lambda hw, layers: _chained(hw, layers, chain=False), "previous layer's output"),
    ("output_shapes", lambda hw, layers: _chained(hw, layers, include_input=True), "starts with the input size"),
    ("output_shapes", lambda hw, layers: _chained(hw, layers)[-1] if layers else hw, "one size per layer"),
]


@pytest.mark.parametrize("name,wrong,phrase", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_learner_mistake_gets_its_hint(name, wrong, phrase):
    with pytest.raises(AssertionError, match=phrase):
        getattr(ex, f"check_{name}")(wrong)


def test_every_checker_has_at_least_two_learner_style_wrong_implementations():
    # chapters 10 and 12 keep theirs beside their own tests (chapter 12's list is imported here)
    from test_exercises_ch12 import WRONG_CH12

    counts = {e.name: sum(1 for n, _, _ in WRONG + WRONG_CH12 if n == e.name)
              for e in ex.EXERCISES if e.chapter not in (10, 11)}
    assert min(counts.values()) >= 2, counts


# --- what every checker does with a broken function ----------------------------

def test_exception_is_reported_with_the_case():
    def broken(x, w, b, stride, padding):
        raise IndexError("index 7 is out of bounds")

    with pytest.raises(AssertionError, match=r"case 1 of 8 failed: x \(1, 1, 4, 4\).*\n.*raised IndexError: index 7"):
        ex.check_conv2d_forward(broken)


def test_none_non_array_and_non_callable():
    with pytest.raises(AssertionError, match="forget the `return`"):
        ex.check_pad2d(lambda x, p: None)
    with pytest.raises(AssertionError, match="returned a str"):
        ex.check_pad2d(lambda x, p: "padded")
    with pytest.raises(AssertionError, match="pass the function itself"):
        ex.check_pad2d(np.zeros(3))
    with pytest.raises(AssertionError, match=r"expected a tuple \(dx, dw, db\), got a ndarray"):
        ex.check_conv2d_backward(lambda d, x, w, s, p: sol.conv2d_backward(d, x, w, s, p)[0])


def test_wrong_shape_is_named_with_expected_and_got():
    with pytest.raises(AssertionError, match=r"expected shape \(1, 1, 5, 5\) = \(N, C, H\+2P, W\+2P\), got \(1, 1, 3, 3\)"):
        ex.check_pad2d(lambda x, p: x)


def test_generic_hints_when_no_listed_mistake_matches():
    with pytest.raises(AssertionError, match="multiplied by 2"):
        ex.check_conv2d_forward(lambda x, w, b, s, p: 2 * sol.conv2d_forward(x, w, b, s, p))
    with pytest.raises(AssertionError, match=r"off by the same constant 0\.5"):
        ex.check_relu_backward(lambda d, x: d * (x > 0) + 0.5)
    with pytest.raises(AssertionError, match="transposed"):
        ex.check_pad2d(lambda x, p: sol.pad2d(x, p).transpose(0, 1, 3, 2))
    with pytest.raises(AssertionError, match="off by one"):
        ex.check_max_pool2d(lambda x, k, s: sol.max_pool2d(x, k, s)[:, :, :-1, :])


def test_error_message_states_relative_error_and_threshold():
    with pytest.raises(AssertionError, match=r"relative error \d\.\de[+-]\d+ \(must be below 1e-07\)"):
        ex.check_correlate2d(lambda image, kernel: sol.correlate2d(image, kernel) + 1e-3)


def test_float32_results_and_in_place_changes_are_fine(capsys):
    def float32_relu(dout, x):
        dout[x <= 0] = 0  # the seed's in-place style: the checker passes copies
        return dout.astype(np.float32)

    ex.check_relu_backward(float32_relu)
    assert "all 5 cases passed" in capsys.readouterr().out


def test_almost_right_but_not_within_tolerance_fails():
    with pytest.raises(AssertionError, match=r"relative error 5\.0e-07 \(must be below 1e-07\)(.|\n)*close but not exact"):
        ex.check_conv1d(lambda x, v: sol.conv1d(x, v) * (1 + 1e-6))
    with pytest.raises(AssertionError, match="float32"):
        ex.check_conv2d_forward(lambda x, w, b, s, p: sol.conv2d_forward(
            x.astype(np.float32), w.astype(np.float32), b.astype(np.float32), s, p).astype(np.float32) * (1 + 1e-5))
