"""Every coding exercise of the book, in chapter order.

The grading command finds a learner's function by the exercise's name:
``def conv_output_size(...)`` in a submission is graded by
``check_conv_output_size``.
"""

from __future__ import annotations

from ._core import Exercise
from .batched import CONV2D_BACKWARD, CONV2D_FORWARD, PAD2D
from .counting import CONV_LAYER_PARAMS, CONV_OUTPUT_SIZE, DENSE_PARAMS, INCEPTION_PARAMS, OUTPUT_SHAPES
from .efficient import CONV_TRANSPOSE1D, CONV_TRANSPOSE_OUTPUT_SIZE, SEPARABLE_MACS
from .losses import RELU_BACKWARD, SOFTMAX_CROSS_ENTROPY
from .normalization import BATCHNORM_BACKWARD, BATCHNORM_FORWARD
from .residual import BASIC_BLOCK_FORWARD, BOTTLENECK_PARAMS
from .pooling import MAX_POOL2D, MAX_POOL2D_BACKWARD
from .signals import CONV1D, CONV1D_BACKWARD_DW, CONVOLVE2D, CORRELATE2D
from .unroll import COL2IM, IM2COL

__all__ = ["EXERCISES", "by_name"]

EXERCISES: tuple[Exercise, ...] = (
    DENSE_PARAMS, CONV1D,                          # 1 From MLP to CNN
    CORRELATE2D, CONVOLVE2D,                       # 2 The mathematics of convolution
    CONV_OUTPUT_SIZE, PAD2D,                       # 3 Convolution arithmetic
    CONV2D_FORWARD, CONV_LAYER_PARAMS,             # 4 Channels, filters and batches
    IM2COL, COL2IM,                                # 5 im2col
    MAX_POOL2D, MAX_POOL2D_BACKWARD,               # 6 Pooling
    CONV1D_BACKWARD_DW, CONV2D_BACKWARD,           # 7 Backpropagation
    RELU_BACKWARD, SOFTMAX_CROSS_ENTROPY,          # 8 Training
    INCEPTION_PARAMS, OUTPUT_SHAPES,               # 9 Architectures
    BATCHNORM_FORWARD, BATCHNORM_BACKWARD,         # 10 Deeper networks
    BOTTLENECK_PARAMS, BASIC_BLOCK_FORWARD,        # 11 Residual networks
    SEPARABLE_MACS, CONV_TRANSPOSE_OUTPUT_SIZE, CONV_TRANSPOSE1D,  # 12 Efficient and inverse convolutions
)


def by_name(name: str) -> Exercise:
    """The exercise called `name` (with or without the ``check_`` prefix)."""
    key = name.removeprefix("check_")
    for exercise in EXERCISES:
        if exercise.name == key:
            return exercise
    raise KeyError(f"no exercise named {name!r}; known: {', '.join(e.name for e in EXERCISES)}")
