"""Exercises on residual networks (chapter 11): a bottleneck block's
parameters and a basic block's forward pass.

References come from :mod:`cnnlib.shapes` and :mod:`cnnlib.functional`;
each mistake is what a learner writes when they forget one piece of the
block (the projection shortcut, the last ReLU) or count BatchNorm's running
statistics as parameters.
"""

from __future__ import annotations

import numpy as np

from .. import functional as F
from .. import shapes
from ._core import Case, Exercise, Mistake
from ._kinds import ArrayKind, IntKind

__all__ = ["BOTTLENECK_PARAMS", "BASIC_BLOCK_FORWARD"]


# --- a bottleneck block's parameters -----------------------------------------

def _needs_projection(in_channels: int, out_channels: int, stride: int) -> bool:
    return stride != 1 or in_channels != out_channels


def _bottleneck(in_channels, mid_channels, out_channels, stride=1, bias=False, batchnorm=True,
                bn_per_channel=2, projection="when-needed", kernels=(1, 3, 1)):
    """The reference, and (with other arguments) the mistakes' formulas."""
    convs = [(in_channels, mid_channels, kernels[0]), (mid_channels, mid_channels, kernels[1]),
             (mid_channels, out_channels, kernels[2])]
    project = {"when-needed": _needs_projection(in_channels, out_channels, stride),
               "never": False, "always": True,
               "stride-only": stride != 1}[projection]
    if project:
        convs.append((in_channels, out_channels, 1))
    total = 0
    for c_in, c_out, k in convs:
        total += shapes.conv2d_params(c_in, c_out, k, bias)
        if batchnorm:
            total += bn_per_channel * c_out  # BN's learnable scale and shift; running statistics are buffers
    return total


def _bottleneck_reference(in_channels, mid_channels, out_channels, stride=1, bias=False, batchnorm=True):
    return _bottleneck(in_channels, mid_channels, out_channels, stride, bias, batchnorm)


def _bottleneck_cases():
    return [
        Case("ResNet-50 layer1.0: 64 -> 64 -> 256, stride 1 (channels change)", (64, 64, 256)),
        Case("ResNet-50 layer1.1: 256 -> 64 -> 256, stride 1 (identity shortcut)", (256, 64, 256)),
        Case("ResNet-50 layer2.0: 256 -> 128 -> 512, stride=2", (256, 128, 512), {"stride": 2}),
        Case("512 -> 128 -> 512, stride=2 (same channels, but the stride changes the size)",
             (512, 128, 512), {"stride": 2}),
        Case("16 -> 4 -> 16, bias=True", (16, 4, 16), {"bias": True}),
        Case("8 -> 2 -> 32, bias=True, batchnorm=False", (8, 2, 32), {"bias": True, "batchnorm": False}),
        Case("3 -> 1 -> 3, batchnorm=False (identity shortcut)", (3, 1, 3), {"batchnorm": False}),
    ]


def _hidden_bottleneck(rng):
    cases = []
    for n in range(1, 7):
        mid = int(rng.integers(1, 257))
        expansion = int(rng.integers(1, 5))
        out = mid * expansion
        identity = n % 3 == 1  # blocks 1 and 4 keep the identity shortcut, the others may not
        cin = out if identity else int(rng.integers(1, 1025))
        stride = 1 if identity else int(rng.integers(1, 3))
        kwargs = {"stride": stride, "bias": bool(rng.integers(0, 2)), "batchnorm": bool(rng.integers(0, 2))}
        cases.append(Case(f"hidden block {n}: {cin} -> {mid} -> {out}", (cin, mid, out), kwargs))
    return cases


def _wrong_bottleneck(**changes):
    def wrong(in_channels, mid_channels, out_channels, stride=1, bias=False, batchnorm=True):
        options = dict(bias=bias, batchnorm=batchnorm)
        options.update({k: v for k, v in changes.items() if k in ("bn_per_channel", "projection", "kernels")})
        if changes.get("bias_always"):
            options["bias"] = True
        return _bottleneck(in_channels, mid_channels, out_channels, stride, **options)
    return wrong


BOTTLENECK_PARAMS = Exercise(
    name="bottleneck_params", chapter=11,
    summary="parameters of a ResNet bottleneck block, shortcut included",
    signature=("bottleneck_params(in_channels, mid_channels, out_channels, stride=1, bias=False, "
               "batchnorm=True) -> int"),
    reference=_bottleneck_reference, make_cases=_bottleneck_cases, make_hidden=_hidden_bottleneck,
    mistakes=(
        Mistake("no-projection", "when the block changes the number of channels or has stride 2, x cannot be "
                "added as it is: the shortcut is a 1x1 convolution in_channels -> out_channels with that stride "
                "(and its BatchNorm), and its parameters count", _wrong_bottleneck(projection="never")),
        Mistake("projection-stride-only", "a projection is needed when the stride is not 1 OR when "
                "in_channels != out_channels (ResNet-50's first block keeps the size but goes 64 -> 256)",
                _wrong_bottleneck(projection="stride-only")),
        Mistake("projection-always", "when in_channels == out_channels and stride == 1 the shortcut is the "
                "identity, which has no parameters", _wrong_bottleneck(projection="always")),
        Mistake("bn-four", "BatchNorm learns 2 numbers per channel (the scale gamma and the shift beta); the "
                "running mean and variance are statistics (buffers), not parameters",
                _wrong_bottleneck(bn_per_channel=4)),
        Mistake("bias-ignored-flag", "with bias=False the convolutions have no biases (BatchNorm's shift "
                "replaces them): count out_channels biases per convolution only when bias is True",
                _wrong_bottleneck(bias_always=True)),
        Mistake("all-3x3", "only the middle convolution is 3x3; the first and last are 1x1 "
                "(1 * 1 * C_in weights per filter), that is what makes the block cheap",
                _wrong_bottleneck(kernels=(3, 3, 3))),
    ),
    outputs=IntKind(),
    forbid=("cnnlib",),
)


# --- a basic block's forward pass --------------------------------------------

def _relu(a: np.ndarray) -> np.ndarray:
    return np.maximum(a, 0.0)


def _basic_block(x, w1, w2, w_proj=None, stride=1, *, relu_out=True, shortcut=True, stride_on=1,
                 relu_body=False, proj_stride=True):
    s1, s2 = (stride, 1) if stride_on == 1 else (1, stride)
    h = _relu(F.conv2d(x, w1, stride=s1, padding=1))
    body = F.conv2d(h, w2, stride=s2, padding=1)
    if relu_body:
        body = _relu(body)
    if not shortcut:
        skip = 0.0
    elif w_proj is None:
        skip = x
    else:
        skip = F.conv2d(x, w_proj, stride=stride if proj_stride else 1)
    y = body + skip
    return _relu(y) if relu_out else y


def _basic_block_reference(x, w1, w2, w_proj=None, stride=1):
    return _basic_block(x, w1, w2, w_proj, stride)


def _basic_block_cases():
    rng = np.random.default_rng(11)

    def arrays(n, c, f, size, proj):
        x = rng.standard_normal((n, c, size, size))
        w1 = rng.standard_normal((f, c, 3, 3)) / 3
        w2 = rng.standard_normal((f, f, 3, 3)) / 3
        w_proj = rng.standard_normal((f, c, 1, 1)) if proj else None
        return x, w1, w2, w_proj

    def ints(shape):  # small whole numbers: float32 holds them and sums them exactly
        return rng.integers(-2, 3, size=shape).astype(np.float32)

    x32 = ints((1, 2, 4, 4))
    w1_32, w2_32 = ints((2, 2, 3, 3)), ints((2, 2, 3, 3))
    return [
        Case("x (1, 1, 4, 4), one channel, identity shortcut", arrays(1, 1, 1, 4, False)),
        Case("x (2, 3, 5, 5), identity shortcut", arrays(2, 3, 3, 5, False)),
        Case("x (2, 2, 6, 6) -> 4 channels, projection shortcut", arrays(2, 2, 4, 6, True)),
        Case("x (1, 3, 8, 8) -> 6 channels, stride=2, projection shortcut", arrays(1, 3, 6, 8, True),
             {"stride": 2}),
        Case("x (2, 2, 7, 7) -> 4 channels, stride=2 (odd size)", arrays(2, 2, 4, 7, True), {"stride": 2}),
        Case("float32 x (1, 2, 4, 4) of small integers, identity shortcut", (x32, w1_32, w2_32)),
    ]


BASIC_BLOCK_FORWARD = Exercise(
    name="basic_block_forward", chapter=11,
    summary="forward pass of a ResNet basic block (no BatchNorm, no biases)",
    signature="basic_block_forward(x, w1, w2, w_proj=None, stride=1) -> (N, F, OH, OW) array",
    reference=_basic_block_reference, make_cases=_basic_block_cases,
    mistakes=(
        Mistake("no-final-relu", "the block ends with a ReLU applied AFTER the addition: "
                "y = relu(F(x) + shortcut(x))",
                lambda x, w1, w2, w_proj=None, stride=1: _basic_block(x, w1, w2, w_proj, stride, relu_out=False)),
        Mistake("relu-before-add", "the second convolution's output goes into the sum as it is (it may be "
                "negative); the ReLU comes after the addition, not before it",
                lambda x, w1, w2, w_proj=None, stride=1: _basic_block(x, w1, w2, w_proj, stride,
                                                                      relu_out=False, relu_body=True)),
        Mistake("two-relus", "apply one ReLU after the sum only: relu(relu(F(x)) + x) keeps negative parts "
                "of F(x) out of the sum",
                lambda x, w1, w2, w_proj=None, stride=1: _basic_block(x, w1, w2, w_proj, stride, relu_body=True)),
        Mistake("no-shortcut", "you left out the shortcut: add x (or its projection w_proj) to the output of "
                "the second convolution, before the last ReLU",
                lambda x, w1, w2, w_proj=None, stride=1: _basic_block(x, w1, w2, w_proj, stride, shortcut=False)),
        Mistake("stride-on-second", "the stride belongs to the FIRST 3x3 convolution (it halves the size, the "
                "second keeps it): the same output shape with the stride on the second convolution has "
                "different values",
                lambda x, w1, w2, w_proj=None, stride=1: _basic_block(x, w1, w2, w_proj, stride, stride_on=2)),
    ),
    outputs=ArrayKind("(N, F, OH, OW)"),
    forbid=("cnnlib", "torch", "scipy", "tensorflow", "jax"),
)
