"""Exercises an instructor can assign, graded in the open.

For every coding exercise of the book there is a checker,
``check_<name>(fn)``: it runs the learner's `fn` on fixed cases (several
shapes, strides, paddings and dtypes, edge cases included), compares with
cnnlib in float64 (CS231n's relative error, below 1e-7), prints one line on
success and raises AssertionError with a diagnostic hint on failure::

    >>> from cnnlib.exercises import check_conv_output_size
    >>> check_conv_output_size(lambda size, kernel_size, stride=1, padding=0, dilation=1:
    ...     (size + 2 * padding - dilation * (kernel_size - 1) - 1) // stride + 1)
    check_conv_output_size: all 11 cases passed

Grade submissions (.py or .ipynb), one or a whole class, with
``python -m cnnlib.exercises grade PATH... [--out DIR]``: they run in a
bubblewrap sandbox that only returns their outputs, and are judged here,
with hidden cases besides the public ones; see :mod:`cnnlib.exercises.grade`.
Reference solutions live in :mod:`cnnlib.exercises.solutions`.
"""

from .catalog import EXERCISES, by_name
from .checkers import (
    CHECKERS,
    check_basic_block_forward,
    check_batchnorm_backward,
    check_batchnorm_forward,
    check_bottleneck_params,
    check_col2im,
    check_conv1d,
    check_conv1d_backward_dw,
    check_conv2d_backward,
    check_conv2d_forward,
    check_conv_layer_params,
    check_conv_output_size,
    check_conv_transpose1d,
    check_conv_transpose_output_size,
    check_convolve2d,
    check_correlate2d,
    check_dense_params,
    check_im2col,
    check_inception_params,
    check_max_pool2d,
    check_max_pool2d_backward,
    check_output_shapes,
    check_pad2d,
    check_relu_backward,
    check_separable_macs,
    check_softmax_cross_entropy,
)

__all__ = [
    "EXERCISES", "CHECKERS", "by_name",
    "check_dense_params", "check_conv1d",
    "check_correlate2d", "check_convolve2d",
    "check_conv_output_size", "check_pad2d",
    "check_conv2d_forward", "check_conv_layer_params",
    "check_im2col", "check_col2im",
    "check_max_pool2d", "check_max_pool2d_backward",
    "check_conv1d_backward_dw", "check_conv2d_backward",
    "check_relu_backward", "check_softmax_cross_entropy",
    "check_inception_params", "check_output_shapes",
    "check_batchnorm_forward", "check_batchnorm_backward",
    "check_bottleneck_params", "check_basic_block_forward",
    "check_separable_macs", "check_conv_transpose_output_size", "check_conv_transpose1d",
]
