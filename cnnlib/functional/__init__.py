"""Convolution and pooling, forward and backward, with torch.nn.functional's names.

Every function validates its input, then runs one of three backends with
the same signature: ``"naive"`` (loops that read like the math),
``"im2col"`` (NumPy matrix products) and ``"numba"`` (JIT kernels, the
default). Pass ``backend=`` to choose per call, or see
:func:`cnnlib.set_backend` and :func:`cnnlib.use_backend` (per thread and
asyncio task). The contract every backend meets is
:class:`cnnlib.Backend`; :func:`cnnlib.register_backend` adds one.

Dtypes: float32 and float64 results keep their dtype, float16 gives float16
computed in float32 (as torch does), integers give exact float64; arrays in
another byte order are accepted and results are in native order.
"""

from .conv import conv1d, conv2d, conv2d_backward, conv3d, convolve2d, correlate2d
from .pool import avg_pool2d, avg_pool2d_backward, max_pool2d, max_pool2d_backward
from .transpose import conv_transpose2d, conv_transpose2d_backward

__all__ = [
    "conv1d", "conv2d", "conv2d_backward", "conv3d", "convolve2d", "correlate2d",
    "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
    "conv_transpose2d", "conv_transpose2d_backward",
]
