"""Convolution and pooling, forward and backward, with torch.nn.functional's names.

Every function validates its input, then runs one of three backends with
the same signature: ``"naive"`` (loops that read like the math),
``"im2col"`` (NumPy matrix products) and ``"numba"`` (JIT kernels, the
default). Pass ``backend=`` to choose per call, or see
:func:`cnnlib.set_backend` and :func:`cnnlib.use_backend`.
"""

from .conv import conv1d, conv2d, conv2d_backward, conv3d, convolve2d, correlate2d
from .pool import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .transpose import conv_transpose2d, conv_transpose2d_backward

__all__ = [
    "conv1d", "conv2d", "conv2d_backward", "conv3d", "convolve2d", "correlate2d",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "conv_transpose2d", "conv_transpose2d_backward",
]
