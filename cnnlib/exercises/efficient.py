"""Exercises on efficient and inverse convolutions (chapter 12).

The cost of a depthwise-separable block, the output size of a transposed
convolution, and a 1-D transposed convolution written as a scatter. The
references come from :mod:`cnnlib.shapes` and :mod:`cnnlib.functional`;
each mistake is what a learner writes when one idea of the chapter slips.
"""

from __future__ import annotations

import numpy as np

from .. import shapes
from ..functional import conv_transpose2d as _conv_transpose2d
from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._kinds import ArrayKind, IntKind

__all__ = ["SEPARABLE_MACS", "CONV_TRANSPOSE_OUTPUT_SIZE", "CONV_TRANSPOSE1D"]


def _i(rng, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


# --- the cost of a depthwise-separable block -----------------------------------

def _separable(in_channels, out_channels, kernel_size, size, stride=1, padding=0):
    out = shapes.conv_output_size(size, kernel_size, stride, padding)
    depthwise = in_channels * kernel_size * kernel_size * out * out
    pointwise = in_channels * out_channels * out * out
    return depthwise, pointwise


def _separable_cases():
    return [
        Case("MobileNet block 2: 64 -> 128 channels, 3x3, 112x112 input, stride 2, padding 1",
             (64, 128, 3, 112), {"stride": 2, "padding": 1}),
        Case("in_channels=32, out_channels=64, kernel_size=3, size=112, padding=1", (32, 64, 3, 112), {"padding": 1}),
        Case("in_channels=3, out_channels=8, kernel_size=5, size=10 (no padding: 6x6 output)", (3, 8, 5, 10)),
        Case("in_channels=16, out_channels=16, kernel_size=3, size=9, stride=2", (16, 16, 3, 9), {"stride": 2}),
        Case("in_channels=1, out_channels=4, kernel_size=1, size=5", (1, 4, 1, 5)),
        Case("in_channels=512, out_channels=1024, kernel_size=3, size=14, stride=2, padding=1",
             (512, 1024, 3, 14), {"stride": 2, "padding": 1}),
    ]


def _hidden_separable(rng):
    cases = []
    for n in range(1, 7):
        size, padding = _i(rng, 1, 64), _i(rng, 0, 2)
        kernel = _i(rng, 1, min(7, size + 2 * padding))
        cases.append(Case(f"hidden sizes {n}", (_i(rng, 1, 256), _i(rng, 1, 256), kernel, size),
                          {"stride": _i(rng, 1, 3), "padding": padding}))
    return cases


def _out(size, kernel_size, stride, padding):
    return (size + 2 * padding - kernel_size) // stride + 1


def _dense_depthwise(c, f, k, size, stride=1, padding=0):
    o = _out(size, k, stride, padding)
    return f * c * k * k * o * o, c * f * o * o


def _no_pointwise(c, f, k, size, stride=1, padding=0):
    return _separable(c, f, k, size, stride, padding)[0], 0


def _input_size(c, f, k, size, stride=1, padding=0):
    return c * k * k * size * size, c * f * size * size


def _pointwise_on_input(c, f, k, size, stride=1, padding=0):
    o = _out(size, k, stride, padding)
    return c * k * k * o * o, c * f * size * size


def _kernel_not_squared(c, f, k, size, stride=1, padding=0):
    o = _out(size, k, stride, padding)
    return c * k * o * o, c * f * o * o


SEPARABLE_MACS = Exercise(
    name="separable_macs", chapter=12,
    summary="multiply-accumulates of a depthwise-separable block (depthwise, pointwise)",
    signature="separable_macs(in_channels, out_channels, kernel_size, size, stride=1, padding=0) "
              "-> (depthwise, pointwise)",
    reference=_separable, make_cases=_separable_cases, make_hidden=_hidden_separable,
    mistakes=(
        Mistake("depthwise-times-filters", "the depthwise step has one K x K filter per input channel and no sum "
                "over channels: C * K * K MACs per output pixel, not F * C * K * K (that is the standard "
                "convolution)", _dense_depthwise),
        Mistake("no-pointwise", "the pointwise part is missing: the 1x1 convolution mixes the C depthwise maps "
                "into F outputs, C * F MACs per output pixel", _no_pointwise),
        Mistake("input-size", "you counted the MACs on the input's H x W; a convolution computes one value per "
                "OUTPUT pixel: use O = floor((H + 2P - K) / S) + 1", _input_size),
        Mistake("pointwise-on-input", "the pointwise 1x1 convolution runs on the depthwise output (O x O pixels), "
                "not on the input: with stride 2 it sees a quarter of the pixels", _pointwise_on_input),
        Mistake("kernel-not-squared", "a K x K depthwise filter has K * K weights, each used once per output "
                "pixel, not K", _kernel_not_squared),
    ),
    outputs=(("depthwise", IntKind()), ("pointwise", IntKind())),
    forbid=("cnnlib",),
)


# --- the output size of a transposed convolution -------------------------------

def _transpose_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    return shapes.conv_transpose_output_size(size, kernel_size, stride, padding, output_padding, dilation)


def _transpose_size_cases():
    return [
        Case("size=3, kernel_size=3, stride=2 (back to 7)", (3, 3), {"stride": 2}),
        Case("size=3, kernel_size=3, stride=2, output_padding=1 (back to 8)", (3, 3),
             {"stride": 2, "output_padding": 1}),
        Case("size=4, kernel_size=4, stride=2, padding=1 (doubles the size)", (4, 4), {"stride": 2, "padding": 1}),
        Case("size=5, kernel_size=3 (defaults: stride 1 grows by K - 1)", (5, 3)),
        Case("size=7, kernel_size=3, stride=3, padding=2, output_padding=2", (7, 3),
             {"stride": 3, "padding": 2, "output_padding": 2}),
        Case("size=6, kernel_size=3, dilation=2", (6, 3), {"dilation": 2}),
        Case("size=4, kernel_size=3, stride=2, padding=1, output_padding=1, dilation=2", (4, 3),
             {"stride": 2, "padding": 1, "output_padding": 1, "dilation": 2}),
        Case("size=1, kernel_size=1", (1, 1)),
        Case("size=14, kernel_size=5, stride=4, padding=1, output_padding=3", (14, 5),
             {"stride": 4, "padding": 1, "output_padding": 3}),
    ]


def _hidden_transpose_size(rng):
    cases = []
    while len(cases) < 8:
        size, kernel, stride, dilation = _i(rng, 1, 64), _i(rng, 1, 7), _i(rng, 1, 4), _i(rng, 1, 3)
        padding, output_padding = _i(rng, 0, 3), _i(rng, 0, max(stride, dilation) - 1)
        if (size - 1) * stride - 2 * padding + dilation * (kernel - 1) + output_padding + 1 < 1:
            continue  # padding larger than the output: not a valid layer
        cases.append(Case(f"hidden sizes {len(cases) + 1}", (size, kernel),
                          {"stride": stride, "padding": padding, "output_padding": output_padding,
                           "dilation": dilation}))
    return cases


def _conv_formula(h, k, stride=1, padding=0, output_padding=0, dilation=1):
    return (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1


def _padding_once(h, k, stride=1, padding=0, output_padding=0, dilation=1):
    return (h - 1) * stride - padding + dilation * (k - 1) + output_padding + 1


def _padding_added(h, k, stride=1, padding=0, output_padding=0, dilation=1):
    return (h - 1) * stride + 2 * padding + dilation * (k - 1) + output_padding + 1


def _no_output_padding(h, k, stride=1, padding=0, output_padding=0, dilation=1):
    return (h - 1) * stride - 2 * padding + dilation * (k - 1) + 1


def _h_times_s(h, k, stride=1, padding=0, output_padding=0, dilation=1):
    return h * stride - 2 * padding + dilation * (k - 1) + output_padding + 1


def _no_dilation(h, k, stride=1, padding=0, output_padding=0, dilation=1):
    return (h - 1) * stride - 2 * padding + (k - 1) + output_padding + 1


CONV_TRANSPOSE_OUTPUT_SIZE = Exercise(
    name="conv_transpose_output_size", chapter=12,
    summary="output size of a transposed convolution along one axis",
    signature="conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, "
              "dilation=1) -> int",
    reference=_transpose_size, make_cases=_transpose_size_cases, make_hidden=_hidden_transpose_size,
    mistakes=(
        Mistake("conv-formula", "that is the convolution's formula, which shrinks; the transposed convolution goes "
                "the other way: O = (H - 1) S - 2P + D (K - 1) + output_padding + 1", _conv_formula),
        Mistake("padding-once", "padding crops the output on both sides: subtract 2P, not P", _padding_once),
        Mistake("padding-added", "in a transposed convolution padding is taken away from the output "
                "(it was added to the convolution's input): - 2P, not + 2P", _padding_added),
        Mistake("no-output-padding", "output_padding is missing: it adds that many rows at the end, "
                "to reach the larger of the input sizes a strided convolution maps to the same size",
                _no_output_padding),
        Mistake("size-times-stride", "H inputs are H - 1 strides apart: (H - 1) S, not H S", _h_times_s),
        Mistake("dilation-ignored", "a dilated kernel spans D (K - 1) + 1 pixels: use D (K - 1)", _no_dilation),
    ),
    outputs=IntKind(),
    forbid=("cnnlib",),
)


# --- a 1-D transposed convolution by scattering --------------------------------

def _transpose1d(x, w, stride=1):
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    return _conv_transpose2d(x[None, None, None], w[None, None, None], stride=(1, stride), backend="im2col")[0, 0, 0]


def _transpose1d_cases():
    rng = np.random.default_rng(1201)
    cases = [
        Case("x = [1, 2], w = [1, 10, 100], stride=2 (integers)", (np.array([1, 2]), np.array([1, 10, 100])),
             {"stride": 2}),
        Case("x = [1, 2, 3], w = [1, -1] (stride 1)", (np.array([1.0, 2.0, 3.0]), np.array([1.0, -1.0]))),
    ]
    for length, k, stride, dtype in [(5, 3, 2, "float64"), (4, 4, 2, "float64"), (6, 2, 3, "float64"),
                                     (3, 1, 2, "float64"), (7, 3, 1, "float32"), (4, 3, 3, "float32")]:
        if dtype == "float32":  # small integers: exact in float32
            x = rng.integers(-4, 5, length).astype(np.float32)
            w = rng.integers(-3, 4, k).astype(np.float32)
        else:
            x, w = rng.standard_normal(length), rng.standard_normal(k)
        cases.append(Case(f"x of shape ({length},), w of shape ({k},), stride={stride}, {dtype}", (x, w),
                          {"stride": stride}))
    return cases


def _scatter(x, w, stride, length, step=None):
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    step = stride if step is None else step
    y = np.zeros(length)
    for i, value in enumerate(x):
        y[i * step:i * step + len(w)] += value * w
    return y


def _flipped(x, w, stride=1):
    return _transpose1d(x, np.asarray(w)[::-1], stride)


def _stride_ignored(x, w, stride=1):
    return _scatter(x, w, stride, len(x) + len(w) - 1, step=1)


def _trailing_zeros(x, w, stride=1):
    return np.concatenate([_transpose1d(x, w, stride), np.zeros(stride - 1)])


def _correlated(x, w, stride=1):
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    n = (len(x) - len(w)) // stride + 1
    return np.array([x[i * stride:i * stride + len(w)] @ w for i in range(n)])


CONV_TRANSPOSE1D = Exercise(
    name="conv_transpose1d", chapter=12,
    summary="a 1-D transposed convolution y[i S + j] += x[i] w[j]",
    signature="conv_transpose1d(x, w, stride=1) -> y  (x: (L,), w: (K,), y: ((L - 1) S + K,))",
    reference=_transpose1d, make_cases=_transpose1d_cases,
    mistakes=(
        Mistake("flipped-kernel", "your output is the right one with the kernel reversed: in the scatter form "
                "y[i S + j] += x[i] w[j] the kernel is not flipped (it is flipped only in the equivalent "
                "'insert zeros, pad, convolve' form, where the correlation slides the rotated kernel)", _flipped),
        Mistake("stride-ignored", "input value i lands at i * S, not at i: consecutive copies of the kernel are "
                "S apart, so the output has (L - 1) S + K values", _stride_ignored),
        Mistake("trailing-zeros", "S - 1 zeros go BETWEEN the input values, not after the last one too: "
                "the output has (L - 1) S + K values", _trailing_zeros),
        Mistake("correlated", "you computed the convolution itself (it shrinks the signal); the transposed "
                "convolution spreads every input value over K outputs and grows it", _correlated),
    ),
    outputs=ArrayKind("(O,)"),
    forbid=NO_LIBRARY_HELP,
)
