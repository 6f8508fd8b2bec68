"""The numba backend: JIT-compiled kernels, the default backend.

Same contract as :mod:`cnnlib.functional.naive` (validated, C-contiguous
float32/float64 input; stride, padding and dilation as (h, w) pairs). The
kernels live in ``_numba_layout`` (memory layout), ``_numba_conv`` (forward
pass), ``_numba_scatter`` (input gradient of strided convolutions), ``_numba_wgrad`` (weight gradient),
``_numba_depthwise`` (depthwise convolution, ``groups = C``), ``_numba_pool``
(max pooling, im2col, col2im) and ``_numba_gemm`` (a matrix product); this
module plans the memory layout and calls them. Nothing is compiled until a
function is first called; ``cache=True`` keeps the machine code on disk.

How a convolution becomes contiguous loops
------------------------------------------
Output pixel (i, j) of tap (p, q) reads the padded input at
``(i*sh + p*dh, j*sw + q*dw)``. Split the padded input into ``sh * sw``
*phase planes* -- phase (a, b) keeps rows ``a, a+sh, ...`` and columns
``b, b+sw, ...`` -- and that pixel becomes ``(i + p', j + q')`` of phase
``(p*dh % sh, q*dw % sw)`` with ``p' = p*dh // sh``, ``q' = q*dw // sw``.
Every tap is now a stride-1 shift, and with the planes stored row by row
with pitch ``P = OW + max q'``, a tap reads the contiguous run that starts
at ``p'*P + q'``. The output plane is computed as one "wide" vector of
pitch P (its last ``P - OW`` columns per row are garbage and dropped). For
stride 1 without padding the phase planes are the input itself: no copy.

The input gradient of a stride-1 convolution is a convolution of ``dout``
(padded by ``d*(K-1) - p``) with the flipped kernels, their in and out
channels swapped, and runs through the forward kernel (when the padding's
zeros add at most ``GATHER_GROWTH`` times the work and dx has at least
``GATHER_CHANNELS`` channels). Otherwise the input
gradient runs the same taps backwards: every element of ``dout``
(laid out with pitch P, zeros in the extra columns) is scattered, times the
tap's weight, into per-channel phase planes of dx at the tap's offset; the
planes are then unshuffled into dx. The weight gradient is one dot product
per tap between that ``dout`` and the shifted input planes.

When the output plane is tiny (a wide vector shorter than ``SMALL_PLANE``,
e.g. LeNet-5's 1x1 C5 maps) the vectors are too short to pay off, and the
convolution goes the im2col way: unrolled patches times the filters.

Pooling treats each (image, channel) plane as a one-channel image with the
same layout: average pooling is a convolution with weights of one, max
pooling an elementwise maximum over the window's runs (padding = -inf).

Work buffers (phase planes, the re-pitched ``dout``) are reused between
calls, per thread (:mod:`._phase_plan`, which also makes the plans);
:func:`release_buffers` frees them.

The tuned kernels are fast but not short; chapter 5's direct-convolution
kernel is the plain ``numba.njit`` version of the same formula, to read
first.

What cnnlib sets for speed, and how to opt out
----------------------------------------------
No environment variable is needed: importing this module (or
``cnnlib.layers``) starts numba's thread pool with a short OpenMP spin
count (idle threads spin ``GOMP_SPINCOUNT=10000`` times, well under a
millisecond, then sleep instead of spinning for milliseconds; the variable
is set only while numba loads its OpenMP runtime and removed again), and the Linear layers' matrix products run in
numba kernels when large and with one BLAS thread otherwise, so no OpenBLAS
thread is left spinning after them (see :mod:`cnnlib.functional._threads`
and :mod:`cnnlib.functional._products`). On a CPU with AVX-512, numba's code
generator is started with 512-bit vectors preferred (LLVM's tuning for such
CPUs prefers 256-bit ones), which applies to all numba code of the process;
``CNNLIB_WIDE_VECTORS=off`` keeps LLVM's choice (see
:mod:`cnnlib.functional._kernel_cache`). Nothing else in the process changes:
numba keeps its default thread count, torch and NumPy their own settings.
``CNNLIB_THREAD_POLICY=off`` (set before import) turns the thread policy off;
:func:`set_linear_blas_threads` changes the second at run time, and
:func:`thread_policy` reports what was done.

numba's on-disk cache (``cache=True``) is keyed by a hash of every kernel
file, ``_numba_*.py`` (see :mod:`cnnlib.functional._kernel_cache`): an edit
to a helper in one file recompiles the kernels of the others that use it.
"""

from __future__ import annotations

from functools import wraps

import numpy as np

from .._geometry import avg_pool_divisors as _divisors
from .. import _validation
from .._validation import Pair, output_hw
from . import (_numba_conv, _numba_depthwise, _numba_gemm, _numba_pool, _numba_scatter, _numba_wgrad, _threads,
               elementwise)
from ._phase_plan import Plan, layout_plan, phase_planes, release_buffers, tap_offsets, wide_dout
from ._threads import set_linear_blas_threads, thread_policy

__all__ = ["conv2d", "conv2d_backward", "conv2d_backward_weight", "depthwise_conv2d", "depthwise_conv2d_backward",
           "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward", "im2col", "col2im", "release_buffers",
           "set_linear_blas_threads", "thread_policy"]

# Before any kernel runs: numba's threads must start with cnnlib's spin count
# (importing _threads does it; called again here to say so, it returns at once).
_threads.configure_numba()

# The input check counts NaN and infinite values of large arrays on numba's threads from now on.
_validation.use_parallel_count(elementwise.count_nonfinite)

# Output planes whose wide vector is shorter than this many elements (e.g. a
# 1x1 output) go the im2col way: unrolled patches times the filters.
SMALL_PLANE = 32
# A stride-1 input gradient is computed as a convolution of the padded dout
# while that costs at most this many times the scatter's multiply-adds
# (H*W / (OH*OW)): the convolution ran 1.6x faster per multiply-add on
# LeNet-5's C3 (where the ratio is 1.96) and 1.3x on a 3x3 "same" layer (1.0).
GATHER_GROWTH = 1.4
# ... and while dx has at least this many channels: one full block of output
# planes in the forward kernel (a 1-channel dx, as of a first layer on gray
# images, took 3.2 ms as a convolution and 2.3 ms as the scatter).
GATHER_CHANNELS = 4


def _conv_work(x, weight, stride: Pair) -> int:
    """About the multiply-accumulates of a convolution: N H W / (s_h s_w) output positions x weight.size."""
    return x.size // max(x.shape[1], 1) * weight.size // (stride[0] * stride[1])


def _serial_when_small(work_of, limit: int):
    """Decorator: the kernels of a call run on one thread when ``work_of(*args)`` < `limit` (see _threads)."""
    def decorate(function):
        @wraps(function)
        def run(*args):
            with _threads.serial_when_small(work_of(*args), limit):
                return function(*args)
        return run
    return decorate


_conv_sized = _serial_when_small(lambda x, weight, bias, stride, *rest: _conv_work(x, weight, stride),
                                 _threads.SERIAL_MACS)
_backward_sized = _serial_when_small(lambda dout, x, weight, stride, *rest: _conv_work(x, weight, stride),
                                     _threads.SERIAL_MACS)
_pool_sized = _serial_when_small(lambda x, *rest: x.size, _threads.SERIAL_ELEMENTS)
_pool_backward_sized = _serial_when_small(lambda dout, x, *rest: x.size, _threads.SERIAL_ELEMENTS)


def _is_small(plan: Plan) -> bool:
    oh, ow = plan.out_hw
    return (oh - 1) * plan.pitch + ow < SMALL_PLANE


def _conv_plan(x, weight, stride: Pair, padding: Pair, dilation: Pair) -> Plan:
    """The plan of convolving x (N, C, H, W) with weight (F, C', KH, KW)."""
    return layout_plan(x.shape[2:], weight.shape[2:], stride, padding, dilation)


def _forward_plan(x, weight, bias, stride: Pair, padding: Pair, dilation: Pair):
    """(plan, bias) of a forward convolution; a missing bias becomes zeros."""
    plan = _conv_plan(x, weight, stride, padding, dilation)
    return plan, np.zeros(weight.shape[0], dtype=x.dtype) if bias is None else bias


@_conv_sized
def conv2d(x, weight, bias, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    n, c, _, _ = x.shape
    n_filters, _, kh, kw = weight.shape
    plan, bias = _forward_plan(x, weight, bias, stride, padding, dilation)
    if _is_small(plan):
        col = im2col(x, (kh, kw), stride, padding, dilation)
        rows = np.empty((col.shape[0], n_filters), dtype=x.dtype)
        _numba_gemm.matmul(col, np.ascontiguousarray(weight.reshape(n_filters, -1).T), bias, rows)
        return np.ascontiguousarray(rows.reshape(n, *plan.out_hw, n_filters).transpose(0, 3, 1, 2))
    src = phase_planes(x, plan, stride, padding)
    y = np.empty((n, n_filters, *plan.out_hw), dtype=x.dtype)
    _numba_conv.correlate_planes(src, weight.reshape(n_filters, c * kh * kw), bias, tap_offsets(plan, c),
                                 y, plan.pitch)
    return y


@_backward_sized
def conv2d_backward(dout, x, weight, stride: Pair, padding: Pair, dilation: Pair):
    n, c, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    plan = _conv_plan(x, weight, stride, padding, dilation)
    if _is_small(plan):
        return _conv2d_backward_small(dout, x, weight, stride, padding, dilation)
    dweight, dbias = _weight_grad(dout, x, weight, plan, stride, padding)
    full = tuple(d * (k - 1) - p for d, k, p in zip(dilation, (kh, kw), padding))
    if (stride == (1, 1) and min(full) >= 0 and c >= GATHER_CHANNELS
            and h * w <= GATHER_GROWTH * dout.shape[2] * dout.shape[3]):
        # The input gradient of a stride-1 convolution is a convolution: dout,
        # padded by d*(K-1) - p, with the kernels flipped and their in/out
        # channels swapped (chapter 12, transposed convolution). The forward
        # kernel keeps its sums in registers; the scatter below cannot. It
        # multiplies the padding's zeros too: H*W / (OH*OW) times the work.
        flipped = np.ascontiguousarray(weight[:, :, ::-1, ::-1].transpose(1, 0, 2, 3))
        return conv2d(dout, flipped, None, (1, 1), full, dilation), dweight, dbias
    dx = np.empty((n, c, h, w), dtype=x.dtype)
    weight_t = np.ascontiguousarray(weight.transpose(2, 3, 1, 0).reshape(kh * kw, c, n_filters))
    length = (plan.out_hw[0] - 1) * plan.pitch + plan.out_hw[1]
    _numba_scatter.input_grad(wide_dout(dout, plan.pitch), weight_t, tap_offsets(plan, 1), length, dx,
                           plan.rows, plan.pitch, *stride, *padding)
    return dx, dweight, dbias


@_backward_sized
def conv2d_backward_weight(dout, x, weight, stride: Pair, padding: Pair, dilation: Pair):
    """(dweight, dbias) of :func:`conv2d_backward` without dx (for a layer whose input needs no gradient)."""
    plan = _conv_plan(x, weight, stride, padding, dilation)
    if _is_small(plan):
        return _conv2d_backward_small(dout, x, weight, stride, padding, dilation)[1:]
    return _weight_grad(dout, x, weight, plan, stride, padding)


def _weight_grad(dout, x, weight, plan: Plan, stride: Pair, padding: Pair):
    """(dweight (F, C, KH, KW), dbias (F,))."""
    src = phase_planes(x, plan, stride, padding)
    dweight = np.empty((weight.shape[0], weight[0].size), dtype=x.dtype)
    dbias = np.empty(weight.shape[0], dtype=x.dtype)
    _numba_wgrad.weight_grad(dout, src, tap_offsets(plan, x.shape[1]), plan.pitch, dweight, dbias)
    return dweight.reshape(weight.shape), dbias


def _conv2d_backward_small(dout, x, weight, stride: Pair, padding: Pair, dilation: Pair):
    """conv2d_backward the im2col way, for tiny output planes (see SMALL_PLANE)."""
    n_filters, c, kh, kw = weight.shape
    col = im2col(x, (kh, kw), stride, padding, dilation)  # (N*OH*OW, C*KH*KW)
    dout_rows = np.ascontiguousarray(dout.transpose(0, 2, 3, 1).reshape(-1, n_filters))
    filters = weight.reshape(n_filters, c * kh * kw)
    dweight = np.empty_like(filters)
    _numba_gemm.matmul(np.ascontiguousarray(dout_rows.T), col, np.zeros(col.shape[1], dtype=x.dtype), dweight)
    dcol = np.empty_like(col)
    _numba_gemm.matmul(dout_rows, filters, np.zeros(col.shape[1], dtype=x.dtype), dcol)
    dx = col2im(dcol, x.shape, (kh, kw), stride, padding, dilation)
    dbias = dout.sum(axis=(0, 2, 3), dtype=np.float64).astype(x.dtype)
    return dx, dweight.reshape(weight.shape), dbias


# Depthwise convolution (groups == C): one parallel loop over (image, plane)
# instead of C backend calls of one channel each (see _numba_depthwise).


@_conv_sized
def depthwise_conv2d(x, weight, bias, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    """conv2d with ``groups = C``: x (N, C, H, W), weight (C*M, 1, KH, KW), bias (C*M,) or None."""
    n, c = x.shape[:2]
    n_filters, _, kh, kw = weight.shape
    plan, bias = _forward_plan(x, weight, bias, stride, padding, dilation)
    src = phase_planes(x, plan, stride, padding).reshape(n, c, -1)
    y = np.empty((n, n_filters, *plan.out_hw), dtype=x.dtype)
    _numba_depthwise.depthwise_forward(src, weight.reshape(n_filters, kh * kw), bias, tap_offsets(plan, 1), y,
                                       plan.pitch, n_filters // c)
    return y


@_backward_sized
def depthwise_conv2d_backward(dout, x, weight, stride: Pair, padding: Pair, dilation: Pair):
    """Gradients of :func:`depthwise_conv2d`: (dx (N, C, H, W), dweight (C*M, 1, KH, KW), dbias (C*M,))."""
    n, c, h, w = x.shape
    n_filters, _, kh, kw = weight.shape
    plan = _conv_plan(x, weight, stride, padding, dilation)
    oh, ow = plan.out_hw
    length = (oh - 1) * plan.pitch + ow
    offsets = tap_offsets(plan, 1)
    src = phase_planes(x, plan, stride, padding).reshape(n, c, -1)
    dout_wide = wide_dout(dout, plan.pitch)
    dx = np.empty((n, c, h, w), dtype=x.dtype)
    partial = np.empty((n, n_filters, kh * kw + 1), dtype=np.float64)
    _numba_depthwise.depthwise_backward(dout_wide, src, weight.reshape(n_filters, kh * kw), offsets, length, dx,
                                        partial, plan.rows, plan.pitch, *stride, *padding, n_filters // c)
    sums = partial.sum(axis=0)  # over images, in an order fixed by the shapes
    dweight, dbias = sums[:, :-1].astype(x.dtype), sums[:, -1].astype(x.dtype)
    return dx, dweight.reshape(weight.shape), dbias


# Pooling: each (image, channel) plane is an image of one channel, pooled
# with the same phase-plane layout as a convolution with that window.


def _pool_planes(x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair):
    """(plan, zero-padded planes (N*C, S), tap offsets) of a pooling window over every channel."""
    n, c, h, w = x.shape
    plan = layout_plan((h, w), kernel, stride, padding, (1, 1))
    planes = phase_planes(x.reshape(n * c, 1, h, w), plan, stride, padding)
    return plan, planes, tap_offsets(plan, 1)


def _tiles_2x2(kernel: Pair, stride: Pair, padding: Pair) -> bool:
    """Whether a pooling window is 2x2 with stride 2 and no padding (its own kernels, same values)."""
    return kernel == (2, 2) and stride == (2, 2) and padding == (0, 0)


@_pool_sized
def max_pool2d(x, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    n, c, h, w = x.shape
    plan = layout_plan((h, w), kernel, stride, padding, (1, 1))
    out = np.empty((n, c, *plan.out_hw), dtype=x.dtype)
    if _tiles_2x2(kernel, stride, padding):
        _numba_pool.max_pool_2x2(x.reshape(n * c, h, w), out.reshape(n * c, *plan.out_hw))
        return out
    _numba_pool.max_pool(x.reshape(n * c, h, w), out.reshape(n * c, *plan.out_hw), tap_offsets(plan, 1),
                         *stride, plan.rows, plan.pitch, *padding)
    return out


@_pool_backward_sized
def max_pool2d_backward(dout, x, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
    n, c, h, w = x.shape
    plan = layout_plan((h, w), kernel, stride, padding, (1, 1))
    dx = np.empty_like(x)
    if _tiles_2x2(kernel, stride, padding):
        _numba_pool.max_pool_2x2_backward(dout.reshape(n * c, *plan.out_hw), x.reshape(n * c, h, w),
                                          dx.reshape(n * c, h, w))
        return dx
    _numba_pool.max_pool_backward(dout.reshape(n * c, *plan.out_hw), x.reshape(n * c, h, w), dx.reshape(n * c, h, w),
                                  tap_offsets(plan, 1), kernel[1], *stride, plan.rows, plan.pitch, *padding)
    return dx


@_pool_sized
def avg_pool2d(x, kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> np.ndarray:
    n, c, h, w = x.shape
    plan, planes, offsets = _pool_planes(x, kernel, stride, padding)
    sums = np.empty((n * c, 1, *plan.out_hw), dtype=x.dtype)
    ones = np.ones((1, offsets.size), dtype=x.dtype)
    _numba_conv.correlate_planes(planes, ones, np.zeros(1, dtype=x.dtype), offsets, sums, plan.pitch)
    sums /= _divisors((h, w), kernel, stride, padding, count_include_pad, x.dtype)
    return sums.reshape(n, c, *plan.out_hw)


@_pool_backward_sized
def avg_pool2d_backward(dout, x, kernel: Pair, stride: Pair, padding: Pair, count_include_pad: bool) -> np.ndarray:
    n, c, h, w = x.shape
    plan = layout_plan((h, w), kernel, stride, padding, (1, 1))
    oh, ow = plan.out_hw
    share = dout / _divisors((h, w), kernel, stride, padding, count_include_pad, x.dtype)
    dx = np.empty_like(x)
    ones = np.ones((kernel[0] * kernel[1], 1, 1), dtype=x.dtype)
    _numba_scatter.input_grad(wide_dout(share.reshape(n * c, 1, oh, ow), plan.pitch), ones, tap_offsets(plan, 1),
                           (oh - 1) * plan.pitch + ow, dx.reshape(n * c, 1, h, w), plan.rows, plan.pitch,
                           *stride, *padding)
    return dx


def im2col(x, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    n, c, h, w = x.shape
    oh, ow = output_hw((h, w), kernel, stride, padding, dilation)
    col = np.empty((n * oh * ow, c * kernel[0] * kernel[1]), dtype=x.dtype)
    _numba_pool.im2col(x, col, *kernel, *stride, *padding, *dilation, oh, ow)
    return col


def col2im(col, x_shape, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
    oh, ow = output_hw(x_shape[2:], kernel, stride, padding, dilation)
    dx = np.empty(x_shape, dtype=col.dtype)
    _numba_pool.col2im(col, dx, *kernel, *stride, *padding, *dilation, oh, ow)
    return dx
