"""Reference solutions to the coding exercises, written as a learner would.

Plain NumPy and loops that follow the formulas of each chapter; the
checkers grade these exactly like a learner's functions (the tests run
every checker on its solution). The book shows the same code in collapsed
solution cells.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "dense_params", "conv1d", "correlate2d", "convolve2d", "conv_output_size", "pad2d",
    "conv2d_forward", "conv_layer_params", "im2col", "col2im", "max_pool2d", "max_pool2d_backward",
    "conv1d_backward_dw", "conv2d_backward", "relu_backward", "softmax_cross_entropy",
    "inception_params", "output_shapes", "batchnorm_forward", "batchnorm_backward",
    "bottleneck_params", "basic_block_forward",
]


# --- chapter 1 ----------------------------------------------------------------

def dense_params(in_features, out_features, bias=True):
    """A weight per (input, output) pair, plus a bias per output."""
    return in_features * out_features + (out_features if bias else 0)


def conv1d(x, v):
    """h_i = sum_j v_j x_{i+j-1}: the same kernel v at every position i."""
    n_out = len(x) - len(v) + 1
    h = np.zeros(n_out)
    for i in range(n_out):
        h[i] = np.sum(v * x[i:i + len(v)])
    return h


# --- chapter 2 ----------------------------------------------------------------

def correlate2d(image, kernel):
    """out[i, j] = sum_{p, q} kernel[p, q] * image[i + p, j + q]."""
    kh, kw = kernel.shape
    oh, ow = image.shape[0] - kh + 1, image.shape[1] - kw + 1
    out = np.zeros((oh, ow))
    for i in range(oh):
        for j in range(ow):
            out[i, j] = np.sum(kernel * image[i:i + kh, j:j + kw])
    return out


def convolve2d(image, kernel):
    """True convolution: cross-correlation with the kernel rotated by 180 degrees."""
    return correlate2d(image, kernel[::-1, ::-1])


# --- chapter 3 ----------------------------------------------------------------

def conv_output_size(size, kernel_size, stride=1, padding=0, dilation=1):
    """O = floor((H + 2P - D (K - 1) - 1) / S) + 1."""
    effective = dilation * (kernel_size - 1) + 1
    return (size + 2 * padding - effective) // stride + 1


def pad2d(x, padding):
    """P zeros on each side of H and W, nothing on N and C."""
    p = padding
    return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)], mode="constant")


# --- chapter 4 ----------------------------------------------------------------

def conv2d_forward(x, w, b, stride, padding):
    """out[n, f, i, j] = b[f] + sum_{c, p, q} w[f, c, p, q] * xpad[n, c, i*S + p, j*S + q]."""
    n, _, h, width = x.shape
    f, _, kh, kw = w.shape
    xpad = pad2d(x, padding)
    oh = (h + 2 * padding - kh) // stride + 1
    ow = (width + 2 * padding - kw) // stride + 1
    out = np.zeros((n, f, oh, ow))
    for i in range(oh):
        for j in range(ow):
            patch = xpad[:, :, i * stride:i * stride + kh, j * stride:j * stride + kw]  # (N, C, KH, KW)
            out[:, :, i, j] = np.tensordot(patch, w, axes=([1, 2, 3], [1, 2, 3])) + b
    return out


def conv_layer_params(in_channels, out_channels, kernel_size, bias=True):
    """Each of the out_channels filters has in_channels x K x K weights and one bias."""
    return out_channels * in_channels * kernel_size * kernel_size + (out_channels if bias else 0)


# --- chapter 5 ----------------------------------------------------------------

def im2col(x, filter_h, filter_w, stride=1, pad=0):
    """im2col as in chapter 5: rows (n, oh, ow), columns (c, kh, kw)."""
    n, c, h, w = x.shape
    out_h = (h + 2 * pad - filter_h) // stride + 1
    out_w = (w + 2 * pad - filter_w) // stride + 1
    img = np.pad(x, [(0, 0), (0, 0), (pad, pad), (pad, pad)], "constant")
    col = np.zeros((n, c, filter_h, filter_w, out_h, out_w))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x_ in range(filter_w):
            x_max = x_ + stride * out_w
            col[:, :, y, x_, :, :] = img[:, :, y:y_max:stride, x_:x_max:stride]
    return col.transpose(0, 4, 5, 1, 2, 3).reshape(n * out_h * out_w, -1)


def col2im(col, x_shape, filter_h, filter_w, stride=1, pad=0):
    """The adjoint of im2col: each row goes back to its patch, overlaps add up."""
    n, c, h, w = x_shape
    out_h = (h + 2 * pad - filter_h) // stride + 1
    out_w = (w + 2 * pad - filter_w) // stride + 1
    col = col.reshape(n, out_h, out_w, c, filter_h, filter_w).transpose(0, 3, 4, 5, 1, 2)
    img = np.zeros((n, c, h + 2 * pad + stride - 1, w + 2 * pad + stride - 1))
    for y in range(filter_h):
        y_max = y + stride * out_h
        for x_ in range(filter_w):
            x_max = x_ + stride * out_w
            img[:, :, y:y_max:stride, x_:x_max:stride] += col[:, :, y, x_, :, :]
    return img[:, :, pad:h + pad, pad:w + pad]


# --- chapter 6 ----------------------------------------------------------------

def max_pool2d(x, kernel_size, stride):
    """The largest value of each window, channel by channel."""
    n, c, h, w = x.shape
    k = kernel_size
    oh, ow = (h - k) // stride + 1, (w - k) // stride + 1
    y = np.zeros((n, c, oh, ow))
    for i in range(oh):
        for j in range(ow):
            window = x[:, :, i * stride:i * stride + k, j * stride:j * stride + k]
            y[:, :, i, j] = window.max(axis=(2, 3))
    return y


def max_pool2d_backward(dout, x, kernel_size, stride):
    """Each window's gradient goes to its maximum; overlapping windows add up."""
    n, c, _, _ = x.shape
    k = kernel_size
    dx = np.zeros(x.shape)
    for b in range(n):
        for ch in range(c):
            for i in range(dout.shape[2]):
                for j in range(dout.shape[3]):
                    window = x[b, ch, i * stride:i * stride + k, j * stride:j * stride + k]
                    p, q = np.unravel_index(np.argmax(window), window.shape)
                    dx[b, ch, i * stride + p, j * stride + q] += dout[b, ch, i, j]
    return dx


# --- chapter 7 ----------------------------------------------------------------

def conv1d_backward_dw(x, delta):
    """dL/dw_i = sum_j delta_j x_{i+j-1}: the cross-correlation of x with delta."""
    return conv1d(x, delta)


def conv2d_backward(dout, x, w, stride, padding):
    """dx by scattering each output's gradient back through the kernel; dw and db by summing."""
    _, _, h, width = x.shape
    f, _, kh, kw = w.shape
    xpad = pad2d(x, padding)
    dxpad = np.zeros(xpad.shape)
    dw = np.zeros(w.shape)
    for i in range(dout.shape[2]):
        for j in range(dout.shape[3]):
            rows = slice(i * stride, i * stride + kh)
            cols = slice(j * stride, j * stride + kw)
            g = dout[:, :, i, j]                                           # (N, F)
            dw += np.tensordot(g, xpad[:, :, rows, cols], axes=([0], [0]))  # (F, C, KH, KW)
            dxpad[:, :, rows, cols] += np.tensordot(g, w, axes=([1], [0]))  # (N, C, KH, KW)
    dx = dxpad[:, :, padding:padding + h, padding:padding + width]
    db = dout.sum(axis=(0, 2, 3))
    return dx, dw, db


# --- chapter 8 ----------------------------------------------------------------

def relu_backward(dout, x):
    """The gradient passes where the input was positive, and stops elsewhere."""
    return dout * (x > 0)


def softmax_cross_entropy(logits, labels):
    """Mean cross-entropy of softmax(logits) and its gradient (softmax - one_hot) / N."""
    n = logits.shape[0]
    shifted = logits - logits.max(axis=1, keepdims=True)   # exp never overflows
    probs = np.exp(shifted)
    probs /= probs.sum(axis=1, keepdims=True)
    loss = -np.mean(np.log(probs[np.arange(n), labels]))
    dlogits = probs.copy()
    dlogits[np.arange(n), labels] -= 1
    return float(loss), dlogits / n


# --- chapter 9 ----------------------------------------------------------------

def inception_params(in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj):
    """Four branches; every convolution has weights and biases."""
    def conv(c_in, c_out, k):
        return c_out * c_in * k * k + c_out

    branch1 = conv(in_channels, c1, 1)
    branch3 = conv(in_channels, c3_reduce, 1) + conv(c3_reduce, c3, 3)
    branch5 = conv(in_channels, c5_reduce, 1) + conv(c5_reduce, c5, 5)
    branch_pool = conv(in_channels, pool_proj, 1)  # max pooling itself has no parameters
    return branch1 + branch3 + branch5 + branch_pool


def output_shapes(input_hw, layers):
    """Each layer's output size, fed into the next layer."""
    sizes = []
    size = input_hw
    for kernel, stride, padding in layers:
        size = (size + 2 * padding - kernel) // stride + 1
        sizes.append(size)
    return sizes


# --- chapter 10 ---------------------------------------------------------------

def batchnorm_forward(x, gamma, beta, eps=1e-5):
    """Per channel: normalise over the batch and the pixels, then scale and shift."""
    mu = x.mean(axis=(0, 2, 3), keepdims=True)
    var = x.var(axis=(0, 2, 3), keepdims=True)  # biased: divided by m = N H W
    xhat = (x - mu) / np.sqrt(var + eps)
    return gamma.reshape(1, -1, 1, 1) * xhat + beta.reshape(1, -1, 1, 1)


def batchnorm_backward(dout, x, gamma, eps=1e-5):
    """dx = gamma / (m sigma) (m dout - sum(dout) - xhat sum(dout xhat)), sums over (N, H, W)."""
    axes = (0, 2, 3)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    mu = x.mean(axis=axes, keepdims=True)
    sigma = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mu) / sigma
    dbeta = dout.sum(axis=axes)
    dgamma = (dout * xhat).sum(axis=axes)
    g = gamma.reshape(1, -1, 1, 1)
    dx = g / (m * sigma) * (m * dout - dbeta.reshape(1, -1, 1, 1) - xhat * dgamma.reshape(1, -1, 1, 1))
    return dx, dgamma, dbeta


# --- chapter 11 ---------------------------------------------------------------

def bottleneck_params(in_channels, mid_channels, out_channels, stride=1, bias=False, batchnorm=True):
    """1x1, 3x3 and 1x1 convolutions, each with its BatchNorm, plus a projection when the shape changes."""
    def conv_bn(c_in, c_out, k):
        weights = c_out * c_in * k * k + (c_out if bias else 0)
        return weights + (2 * c_out if batchnorm else 0)  # gamma and beta; running stats are not learned

    total = conv_bn(in_channels, mid_channels, 1) + conv_bn(mid_channels, mid_channels, 3)
    total += conv_bn(mid_channels, out_channels, 1)
    if stride != 1 or in_channels != out_channels:
        total += conv_bn(in_channels, out_channels, 1)  # the projection shortcut
    return total


def basic_block_forward(x, w1, w2, w_proj=None, stride=1):
    """relu(conv3x3(relu(conv3x3(x, stride)), 1) + shortcut(x)); the shortcut is x or a strided 1x1 conv."""
    h = np.maximum(conv2d_forward(x, w1, np.zeros(w1.shape[0]), stride, 1), 0)
    body = conv2d_forward(h, w2, np.zeros(w2.shape[0]), 1, 1)
    if w_proj is None:
        shortcut = x
    else:
        shortcut = conv2d_forward(x, w_proj, np.zeros(w_proj.shape[0]), stride, 0)
    return np.maximum(body + shortcut, 0)


# --- chapter 12 ---------------------------------------------------------------

def separable_macs(in_channels, out_channels, kernel_size, size, stride=1, padding=0):
    """Depthwise: C filters of K x K, one per channel; pointwise: C x F weights; both per output pixel."""
    out = (size + 2 * padding - kernel_size) // stride + 1
    depthwise = in_channels * kernel_size * kernel_size * out * out
    pointwise = in_channels * out_channels * out * out
    return depthwise, pointwise


def conv_transpose_output_size(size, kernel_size, stride=1, padding=0, output_padding=0, dilation=1):
    """The convolution's shape rule solved for the input, plus the rows output_padding adds."""
    return (size - 1) * stride - 2 * padding + dilation * (kernel_size - 1) + output_padding + 1


def conv_transpose1d(x, w, stride=1):
    """Scatter: input value i adds x[i] * w to the outputs i*S .. i*S + K - 1."""
    x, w = np.asarray(x, dtype=np.float64), np.asarray(w, dtype=np.float64)
    y = np.zeros((len(x) - 1) * stride + len(w))
    for i, value in enumerate(x):
        y[i * stride:i * stride + len(w)] += value * w
    return y
