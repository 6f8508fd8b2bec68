"""Exercises that count: parameters and output sizes (chapters 1, 3, 4, 9).

References come from :mod:`cnnlib.shapes`; each mistake is the formula a
learner writes when they forget one term.
"""

from __future__ import annotations

import math

from .. import shapes
from ._core import Case, Exercise, Mistake
from ._kinds import IntKind, IntListKind

__all__ = ["DENSE_PARAMS", "CONV_OUTPUT_SIZE", "CONV_LAYER_PARAMS", "INCEPTION_PARAMS", "OUTPUT_SHAPES"]


# --- hidden cases: random sizes, each a valid layer -----------------------------

def _i(rng, low: int, high: int) -> int:
    return int(rng.integers(low, high + 1))


def _bias_kwargs(rng) -> dict:
    return {"bias": bool(rng.integers(0, 2))}


def _random_layer(rng, size: int) -> tuple[int, int, int]:
    """(kernel, stride, padding) of a layer whose window fits an input of `size`."""
    padding = _i(rng, 0, 3)
    kernel = _i(rng, 1, min(11, size + 2 * padding))
    return kernel, _i(rng, 1, 4), padding


def _hidden_dense(rng):
    return [Case(f"hidden sizes {n}", (_i(rng, 1, 5000), _i(rng, 1, 1000)), _bias_kwargs(rng)) for n in range(1, 6)]


def _hidden_out_size(rng):
    cases = []
    for n in range(1, 9):
        size, dilation = _i(rng, 1, 300), _i(rng, 1, 3)
        padding = _i(rng, 0, 3)
        kernel = _i(rng, 1, max(1, min(11, (size + 2 * padding - 1) // dilation + 1)))
        cases.append(Case(f"hidden sizes {n}", (size, kernel),
                          {"stride": _i(rng, 1, 4), "padding": padding, "dilation": dilation}))
    return cases


def _hidden_conv_params(rng):
    return [Case(f"hidden sizes {n}", (_i(rng, 1, 512), _i(rng, 1, 512), _i(rng, 1, 11)), _bias_kwargs(rng))
            for n in range(1, 6)]


def _hidden_inception(rng):
    return [Case(f"hidden sizes {n}", tuple(_i(rng, 1, 512) for _ in range(7))) for n in range(1, 5)]


def _hidden_output_shapes(rng):
    cases = []
    for n in range(1, 6):
        size = _i(rng, 8, 256)
        first = size
        layers = []
        for _ in range(_i(rng, 1, 6)):
            k, s, p = _random_layer(rng, size)
            size = (size + 2 * p - k) // s + 1
            layers.append((k, s, p))
            if size < 2:
                break
        cases.append(Case(f"hidden stack {n} ({len(layers)} layers)", (first, layers)))
    return cases


# --- chapter 1: a dense layer -------------------------------------------------

def _dense_params(in_features, out_features, bias=True):
    return in_features * out_features + (out_features if bias else 0)


def _dense_cases():
    return [
        Case("in_features=784, out_features=100", (784, 100)),
        Case("in_features=784, out_features=100, bias=False", (784, 100), {"bias": False}),
        Case("in_features=3, out_features=5", (3, 5)),
        Case("in_features=1, out_features=1", (1, 1)),
        Case("in_features=4096, out_features=10, bias=False", (4096, 10), {"bias": False}),
    ]


DENSE_PARAMS = Exercise(
    name="dense_params", chapter=1,
    summary="parameters of a fully connected layer",
    signature="dense_params(in_features, out_features, bias=True) -> int",
    reference=_dense_params, make_cases=_dense_cases, make_hidden=_hidden_dense,
    mistakes=(
        Mistake("no-bias", "you left out the biases: a dense layer has one bias per output unit, "
                "added when bias=True", lambda i, o, bias=True: i * o),
        Mistake("bias-per-input", "there is one bias per output unit (out_features of them), not one per input",
                lambda i, o, bias=True: i * o + (i if bias else 0)),
        Mistake("bias-ignored-flag", "with bias=False the layer has no biases: count them only when bias is True",
                lambda i, o, bias=True: i * o + o),
        Mistake("weights-added", "the weights form an out_features x in_features matrix: "
                "multiply the two sizes, do not add them",
                lambda i, o, bias=True: i + o + (o if bias else 0)),
    ),
    outputs=IntKind(),
    forbid=("cnnlib",),
)


# --- chapter 3: output size ---------------------------------------------------

def _out_size(size, kernel_size, stride=1, padding=0, dilation=1):
    return shapes.conv_output_size(size, kernel_size, stride, padding, dilation)


def _out_size_cases():
    return [
        Case("size=28, kernel_size=3 (defaults)", (28, 3)),
        Case("size=32, kernel_size=5, stride=3", (32, 5), {"stride": 3}),
        Case("size=4, kernel_size=3, padding=1", (4, 3), {"padding": 1}),
        Case("size=7, kernel_size=3, stride=2", (7, 3), {"stride": 2}),
        Case("size=8, kernel_size=3, stride=2 (the last column is never covered)", (8, 3), {"stride": 2}),
        Case("size=227, kernel_size=11, stride=4", (227, 11), {"stride": 4}),
        Case("size=224, kernel_size=7, stride=2, padding=3", (224, 7), {"stride": 2, "padding": 3}),
        Case("size=10, kernel_size=3, dilation=2", (10, 3), {"dilation": 2}),
        Case("size=9, kernel_size=3, stride=2, padding=1, dilation=2", (9, 3), {"stride": 2, "padding": 1, "dilation": 2}),
        Case("size=5, kernel_size=5 (kernel as large as the input)", (5, 5)),
        Case("size=1, kernel_size=1", (1, 1)),
    ]


CONV_OUTPUT_SIZE = Exercise(
    name="conv_output_size", chapter=3,
    summary="output size of a convolution along one axis",
    signature="conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1) -> int",
    reference=_out_size, make_cases=_out_size_cases, make_hidden=_hidden_out_size,
    mistakes=(
        Mistake("no-plus-one", "you forgot the '+ 1': the first window sits at position 0, and (H + 2P - K) / S "
                "counts only the steps after it",
                lambda h, k, stride=1, padding=0, dilation=1: (h + 2 * padding - dilation * (k - 1) - 1) // stride),
        Mistake("padding-once", "padding is added on both sides: use 2P, not P",
                lambda h, k, stride=1, padding=0, dilation=1: (h + padding - dilation * (k - 1) - 1) // stride + 1),
        Mistake("stride-ignored", "stride ignored: the window moves S pixels at a time, so divide by S",
                lambda h, k, stride=1, padding=0, dilation=1: h + 2 * padding - dilation * (k - 1)),
        Mistake("ceil", "you rounded up: when (H + 2P - K) is not divisible by S the last partial window is "
                "dropped, so the size is floor((H + 2P - K) / S) + 1",
                lambda h, k, stride=1, padding=0, dilation=1: math.ceil((h + 2 * padding - dilation * (k - 1) - 1) / stride) + 1),
        Mistake("true-division", "you used / (true division); the size is an integer: floor((H + 2P - K) / S) + 1, "
                "written (H + 2 * P - K) // S + 1",
                lambda h, k, stride=1, padding=0, dilation=1: (h + 2 * padding - dilation * (k - 1) - 1) / stride + 1),
        Mistake("dilation-ignored", "dilation ignored: a dilated kernel spans D (K - 1) + 1 pixels",
                lambda h, k, stride=1, padding=0, dilation=1: (h + 2 * padding - k) // stride + 1),
        Mistake("dilation-times-k", "a dilated kernel spans D (K - 1) + 1 pixels, not D * K",
                lambda h, k, stride=1, padding=0, dilation=1: (h + 2 * padding - dilation * k) // stride + 1),
    ),
    outputs=IntKind(),
    forbid=("cnnlib",),
)


# --- chapter 4: a convolution layer -------------------------------------------

def _conv_params(in_channels, out_channels, kernel_size, bias=True):
    return shapes.conv2d_params(in_channels, out_channels, kernel_size, bias)


def _conv_params_cases():
    return [
        Case("in_channels=3, out_channels=1, kernel_size=5", (3, 1, 5)),
        Case("in_channels=128, out_channels=64, kernel_size=3, bias=False", (128, 64, 3), {"bias": False}),
        Case("in_channels=3, out_channels=96, kernel_size=11", (3, 96, 11)),
        Case("in_channels=1, out_channels=30, kernel_size=5", (1, 30, 5)),
        Case("in_channels=256, out_channels=64, kernel_size=1", (256, 64, 1)),
        Case("in_channels=1, out_channels=1, kernel_size=1, bias=False", (1, 1, 1), {"bias": False}),
    ]


CONV_LAYER_PARAMS = Exercise(
    name="conv_layer_params", chapter=4,
    summary="parameters of a convolution layer",
    signature="conv_layer_params(in_channels, out_channels, kernel_size, bias=True) -> int",
    reference=_conv_params, make_cases=_conv_params_cases, make_hidden=_hidden_conv_params,
    mistakes=(
        Mistake("no-bias", "you left out the biases: one per filter (out_channels of them) when bias=True",
                lambda c, f, k, bias=True: f * c * k * k),
        Mistake("bias-ignored-flag", "with bias=False there are no biases: count them only when bias is True",
                lambda c, f, k, bias=True: f * c * k * k + f),
        Mistake("no-in-channels", "each filter spans every input channel: it has in_channels x K x K weights",
                lambda c, f, k, bias=True: f * k * k + (f if bias else 0)),
        Mistake("kernel-not-squared", "a K x K kernel has K * K weights per channel, not K",
                lambda c, f, k, bias=True: f * c * k + (f if bias else 0)),
        Mistake("bias-per-weight", "there is one bias per filter, not one per weight or per input channel",
                lambda c, f, k, bias=True: f * c * k * k + (f * c if bias else 0)),
    ),
    outputs=IntKind(),
    forbid=("cnnlib",),
)


# --- chapter 9: Inception module and shape tables -----------------------------

def _conv(c_in, c_out, k):
    return c_out * c_in * k * k + c_out


def _inception(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
    return (_conv(in_channels, c1, 1) + _conv(in_channels, c3_reduce, 1) + _conv(c3_reduce, c3, 3)
            + _conv(in_channels, c5_reduce, 1) + _conv(c5_reduce, c5, 5) + _conv(in_channels, pool_proj, 1))


def _inception_cases():
    return [
        Case("inception (3a): 192, 64, 96, 128, 16, 32, 32", (192, 64, 96, 128, 16, 32, 32)),
        Case("inception (4a): 480, 192, 96, 208, 16, 48, 64", (480, 192, 96, 208, 16, 48, 64)),
        Case("inception (5b): 832, 384, 192, 384, 48, 128, 128", (832, 384, 192, 384, 48, 128, 128)),
        Case("a tiny module: 4, 1, 2, 3, 1, 2, 1", (4, 1, 2, 3, 1, 2, 1)),
    ]


def _no_bias(cin, c1, c3r, c3, c5r, c5, pp):
    return cin * c1 + cin * c3r + c3r * 9 * c3 + cin * c5r + c5r * 25 * c5 + cin * pp


def _no_reduction(cin, c1, c3r, c3, c5r, c5, pp):
    return _conv(cin, c1, 1) + _conv(cin, c3, 3) + _conv(cin, c5, 5) + _conv(cin, pp, 1)


def _reduce_layers_forgotten(cin, c1, c3r, c3, c5r, c5, pp):
    return _conv(cin, c1, 1) + _conv(c3r, c3, 3) + _conv(c5r, c5, 5) + _conv(cin, pp, 1)


INCEPTION_PARAMS = Exercise(
    name="inception_params", chapter=9,
    summary="parameters of an Inception module with 1x1 reductions",
    signature="inception_params(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj) -> int",
    reference=_inception, make_cases=_inception_cases, make_hidden=_hidden_inception,
    mistakes=(
        Mistake("no-bias", "you left out the biases: every convolution (the 1x1 ones too) has one bias per output channel",
                _no_bias),
        Mistake("no-reduction", "the 3x3 and 5x5 convolutions see the c3_reduce and c5_reduce channels of their 1x1 "
                "reductions, not in_channels: that is the point of the reductions", _no_reduction),
        Mistake("reductions-forgotten", "the 1x1 reduction layers have parameters too: in_channels -> c3_reduce "
                "and in_channels -> c5_reduce", _reduce_layers_forgotten),
        Mistake("no-pool-proj", "the pooling branch ends in a 1x1 convolution in_channels -> pool_proj with parameters "
                "(max pooling itself has none)",
                lambda cin, c1, c3r, c3, c5r, c5, pp: _inception(cin, c1, c3r, c3, c5r, c5, pp) - _conv(cin, pp, 1)),
        Mistake("five-as-three", "the 5x5 branch has 5 * 5 = 25 weights per channel pair, not 9",
                lambda cin, c1, c3r, c3, c5r, c5, pp: _inception(cin, c1, c3r, c3, c5r, c5, pp) - 16 * c5r * c5),
    ),
    outputs=IntKind(),
    forbid=("cnnlib",),
)


def _output_shapes(input_hw, layers):
    sizes, size = [], input_hw
    for kernel, stride, padding in layers:
        size = shapes.conv_output_size(size, kernel, stride, padding)
        sizes.append(size)
    return sizes


def _output_shapes_cases():
    alexnet = [(11, 4, 0), (3, 2, 0), (5, 1, 2), (3, 2, 0), (3, 1, 1), (3, 1, 1), (3, 1, 1), (3, 2, 0)]
    return [
        Case("input_hw=32, LeNet-5: conv5, pool2, conv5, pool2",
             (32, [(5, 1, 0), (2, 2, 0), (5, 1, 0), (2, 2, 0)])),
        Case("input_hw=28, one 3x3 convolution", (28, [(3, 1, 0)])),
        Case("input_hw=227, AlexNet's conv and pool layers", (227, alexnet)),
        Case("input_hw=224, GoogLeNet's stem: conv7/2 pad 3, pool3/2 pad 1", (224, [(7, 2, 3), (3, 2, 1)])),
        Case("input_hw=9, three stride-2 layers (floor at every step)", (9, [(3, 2, 0), (2, 2, 0), (1, 2, 0)])),
        Case("input_hw=5, no layers", (5, [])),
    ]


def _not_chained(input_hw, layers):
    return [shapes.conv_output_size(input_hw, k, s, p) for k, s, p in layers]


def _with_input(input_hw, layers):
    return [input_hw] + _output_shapes(input_hw, layers)


def _chain(formula):
    def sizes_of(input_hw, layers):
        sizes, size = [], input_hw
        for k, s, p in layers:
            size = formula(size, k, s, p)
            sizes.append(size)
        return sizes
    return sizes_of


_padding_once = _chain(lambda h, k, s, p: (h + p - k) // s + 1)
_no_plus_one = _chain(lambda h, k, s, p: (h + 2 * p - k) // s)
_stride_ignored = _chain(lambda h, k, s, p: h + 2 * p - k + 1)


OUTPUT_SHAPES = Exercise(
    name="output_shapes", chapter=9,
    summary="output size of every layer of a stack",
    signature="output_shapes(input_hw, layers) -> list[int]  (layers: list of (kernel, stride, padding))",
    reference=_output_shapes, make_cases=_output_shapes_cases, make_hidden=_hidden_output_shapes,
    mistakes=(
        Mistake("not-chained", "each layer's input is the previous layer's output: feed the size you just computed "
                "into the next layer, not input_hw", _not_chained),
        Mistake("includes-input", "your list starts with the input size; list only the output size of each layer",
                _with_input),
        Mistake("padding-once", "padding is added on both sides: use 2P, not P", _padding_once),
        Mistake("no-plus-one", "you forgot the '+ 1' in O = floor((H + 2P - K) / S) + 1", _no_plus_one),
        Mistake("stride-ignored", "stride ignored: a layer with stride S divides the size by about S", _stride_ignored),
    ),
    outputs=IntListKind(),
    forbid=("cnnlib",),
)
