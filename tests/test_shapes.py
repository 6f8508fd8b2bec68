"""Convolution arithmetic (cnnlib.shapes) against torch's shapes and brute force."""

from __future__ import annotations

import numpy as np
import pytest
import torch
import torch.nn.functional as TF
from hypothesis import given
from hypothesis import strategies as st

from cnnlib.shapes import (conv2d_params, conv_output_size, conv_transpose_output_size, kernel_size_for,
                           receptive_field, same_padding)
from helpers import FAST


def _torch_len(size, k, stride=1, padding=0, dilation=1) -> int:
    with torch.no_grad():
        return TF.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, k), stride=stride, padding=padding,
                         dilation=dilation).shape[-1]


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 9), stride=st.integers(1, 6), padding=st.integers(0, 4),
       dilation=st.integers(1, 4))
def test_conv_output_size_vs_torch(size, k, stride, padding, dilation):
    if dilation * (k - 1) + 1 > size + 2 * padding:
        with pytest.raises(ValueError, match="larger than the padded input"):
            conv_output_size(size, k, stride, padding, dilation)
        with pytest.raises(RuntimeError):  # torch refuses too
            _torch_len(size, k, stride, padding, dilation)
        return
    out = conv_output_size(size, k, stride, padding, dilation)
    assert out == _torch_len(size, k, stride, padding, dilation)
    # ... and the size of the 2-D output, axis by axis
    with torch.no_grad():
        y = TF.conv2d(torch.zeros(1, 1, size, 3), torch.zeros(1, 1, k, 1), stride=(stride, 1),
                      padding=(padding, 0), dilation=(dilation, 1))
    assert y.shape[2] == out


@FAST
@given(size=st.integers(1, 30), k=st.integers(1, 6), stride=st.integers(1, 5), data=st.data())
def test_conv_output_size_is_the_pooling_output_size(size, k, stride, data):
    padding = data.draw(st.integers(0, k // 2))
    if k > size + 2 * padding:
        return
    with torch.no_grad():
        y = TF.max_pool1d(torch.zeros(1, 1, size), k, stride, padding)
    assert conv_output_size(size, k, stride, padding) == y.shape[-1]


@FAST
@given(size=st.integers(1, 40), k=st.integers(1, 9), stride=st.integers(1, 6), padding=st.integers(0, 4))
def test_exact_names_the_lost_pixels(size, k, stride, padding):
    span = size + 2 * padding - k
    if span < 0:
        return
    lost = span % stride
    if lost:
        with pytest.raises(ValueError, match=rf"the last {lost} pixel\(s\) of the padded input are never covered"):
            conv_output_size(size, k, stride, padding, exact=True)
    else:
        assert conv_output_size(size, k, stride, padding, exact=True) == span // stride + 1


def test_exact_examples():
    assert conv_output_size(7, 3, stride=2, exact=True) == 3
    with pytest.raises(ValueError, match=r"= 4 is not divisible by stride 3: the last 1 pixel\(s\)"):
        conv_output_size(7, 3, stride=3, exact=True)
    assert conv_output_size(7, 3, stride=3) == 2  # floor, silently dropping one column
    with pytest.raises(ValueError, match=r"the last 2 pixel\(s\)"):
        conv_output_size(32, 5, stride=5, exact=True)


@FAST
@given(size=st.integers(1, 30), out=st.integers(1, 30), stride=st.integers(1, 5), padding=st.integers(0, 3))
def test_kernel_size_for_is_the_inverse(size, out, stride, padding):
    # brute force: every kernel length that maps size -> out
    fitting = [k for k in range(1, size + 2 * padding + 1) if conv_output_size(size, k, stride, padding) == out]
    if not fitting:
        with pytest.raises(ValueError, match="no kernel maps size"):
            kernel_size_for(size, out, stride, padding)
        return
    k = kernel_size_for(size, out, stride, padding)
    # the largest such kernel, the one whose windows end exactly on the border
    assert k == max(fitting)
    assert conv_output_size(size, k, stride, padding, exact=True) == out


def test_kernel_size_for_errors():
    with pytest.raises(ValueError, match=r"no kernel maps size 5 \(padding 0\) to 7 outputs with stride 1"):
        kernel_size_for(5, 7)
    with pytest.raises(ValueError, match="no kernel maps size 10"):
        kernel_size_for(10, 5, stride=3)  # 10 - 3*4 = -2
    with pytest.raises(ValueError, match="out must be >= 1"):
        kernel_size_for(10, 0)


@pytest.mark.parametrize("k, dilation, expected", [(1, 1, 0), (3, 1, 1), (5, 1, 2), (7, 1, 3), (3, 2, 2), (2, 2, 1), (4, 2, 3), (3, 3, 3)])
def test_same_padding_keeps_the_size(k, dilation, expected):
    p = same_padding(k, dilation)
    assert p == expected
    for size in (1, 4, 7, 28):
        assert conv_output_size(size, k, 1, p, dilation) == size
        with torch.no_grad():
            assert TF.conv1d(torch.zeros(1, 1, size), torch.zeros(1, 1, k), padding="same", dilation=dilation).shape[-1] == size


@pytest.mark.parametrize("k, dilation", [(2, 1), (4, 1), (6, 1), (2, 3), (4, 3)])
def test_same_padding_even_effective_kernel_raises(k, dilation):
    with pytest.raises(ValueError, match=r"an even number: 'same' output needs \(K-1\)/2 zeros per side"):
        same_padding(k, dilation)


@FAST
@given(cin=st.integers(1, 20), cout=st.integers(1, 20), kh=st.integers(1, 7), kw=st.integers(1, 7), bias=st.booleans())
def test_conv2d_params_vs_torch(cin, cout, kh, kw, bias):
    layer = torch.nn.Conv2d(cin, cout, (kh, kw), bias=bias)
    assert conv2d_params(cin, cout, (kh, kw), bias=bias) == sum(p.numel() for p in layer.parameters())
    if kh == kw:
        assert conv2d_params(cin, cout, kh, bias=bias) == conv2d_params(cin, cout, (kh, kh), bias=bias)


layer_strategy = st.tuples(st.integers(1, 5), st.integers(1, 3), st.integers(1, 2))


def _brute_force_receptive_field(layers) -> int:
    """Span of the input pixels that influence one output unit, by autograd through ones-convolutions."""
    bound = 1 + sum(d * (k - 1) for k, _, d in layers) * int(np.prod([s for _, s, _ in layers]))
    x = torch.ones(1, 1, 2 * bound + 5, requires_grad=True)
    y = x
    for k, s, d in layers:
        y = TF.conv1d(y, torch.ones(1, 1, k, dtype=y.dtype), stride=s, dilation=d)
    y[0, 0, y.shape[-1] // 2].backward()
    touched = np.flatnonzero(x.grad[0, 0].numpy())
    return int(touched[-1] - touched[0] + 1)


@FAST
@given(layers=st.lists(layer_strategy, min_size=1, max_size=4))
def test_receptive_field_vs_brute_force(layers):
    fields = receptive_field(layers)
    assert len(fields) == len(layers)
    for depth in range(1, len(layers) + 1):
        assert fields[depth - 1] == _brute_force_receptive_field(layers[:depth])
    # (kernel, stride) pairs mean dilation 1
    plain = [(k, s) for k, s, _ in layers]
    assert receptive_field(plain) == receptive_field([(k, s, 1) for k, s in plain])


def test_receptive_field_examples_and_errors():
    assert receptive_field([(3, 1), (3, 1), (3, 1)]) == [3, 5, 7]
    # conv 5x5 then 2x2 pooling (SimpleConvNet): 5, then 5 + 1*1 = 6
    assert receptive_field([(5, 1), (2, 2)]) == [5, 6]
    assert receptive_field([(2, 2), (3, 1)]) == [2, 6]
    assert receptive_field([]) == []
    with pytest.raises(ValueError, match=r"layer 1 must be \(kernel_size, stride\)"):
        receptive_field([(3, 1), (3,)])
    with pytest.raises(ValueError, match=r"layers\[0\] stride must be >= 1"):
        receptive_field([(3, 0)])


@FAST
@given(size=st.integers(1, 8), k=st.integers(1, 5), stride=st.integers(1, 4), padding=st.integers(0, 3),
       output_padding=st.integers(0, 3), dilation=st.integers(1, 3))
def test_conv_transpose_output_size_vs_torch(size, k, stride, padding, output_padding, dilation):
    def torch_size():
        with torch.no_grad():
            return TF.conv_transpose2d(torch.zeros(1, 1, size, 2), torch.zeros(1, 1, k, 1), stride=(stride, 1),
                                       padding=(padding, 0), output_padding=(output_padding, 0),
                                       dilation=(dilation, 1)).shape[2]
    if output_padding >= max(stride, dilation):
        with pytest.raises(ValueError, match="output_padding .* must be smaller than stride"):
            conv_transpose_output_size(size, k, stride, padding, output_padding, dilation)
        with pytest.raises(RuntimeError):
            torch_size()
        return
    expected = (size - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding + 1
    if expected < 1:
        with pytest.raises(ValueError, match=f"padding {padding} is too large"):
            conv_transpose_output_size(size, k, stride, padding, output_padding, dilation)
        with pytest.raises(RuntimeError):
            torch_size()
        return
    assert conv_transpose_output_size(size, k, stride, padding, output_padding, dilation) == torch_size()


@FAST
@given(size=st.integers(1, 30), k=st.integers(1, 6), stride=st.integers(1, 4), padding=st.integers(0, 2))
def test_conv_transpose_undoes_the_shape_change(size, k, stride, padding):
    """Some output_padding < stride brings a strided conv's output back to the input size."""
    if k > size + 2 * padding:
        return
    out = conv_output_size(size, k, stride, padding)
    sizes = {conv_transpose_output_size(out, k, stride, padding, op) for op in range(stride)
             if (out - 1) * stride - 2 * padding + k + op >= 1}
    assert size in sizes


@pytest.mark.parametrize("call, error, message", [
    (lambda: conv_output_size(28.0, 3), TypeError, "size must be an integer; got 28.0"),
    (lambda: conv_output_size(28, "3"), TypeError, "kernel_size must be an integer"),
    (lambda: conv_output_size(28, 3, True), TypeError, "stride must be an integer; got True"),
    (lambda: conv_output_size(28, 3, 0), ValueError, "stride must be >= 1; got 0"),
    (lambda: conv_output_size(28, 3, 1, -1), ValueError, "padding must be >= 0; got -1"),
    (lambda: conv_output_size(28, 3, 1, 0, 0), ValueError, "dilation must be >= 1"),
    (lambda: conv_output_size(0, 3), ValueError, "size must be >= 1"),
    (lambda: conv_output_size(4, 7), ValueError, r"kernel_size 7 \(effective 7\) is larger than the padded input 4"),
    (lambda: conv_output_size(4, 3, dilation=2), ValueError, r"kernel_size 3 \(effective 5\) is larger"),
    (lambda: same_padding(0), ValueError, "kernel_size must be >= 1"),
    (lambda: conv2d_params(0, 3, 3), ValueError, "in_channels must be >= 1"),
    (lambda: conv2d_params(3, 3, (3, 0)), ValueError, "kernel_size must be >= 1"),
    (lambda: conv_transpose_output_size(4, 3, 2, output_padding=2), ValueError, r"output_padding \(2\) must be smaller"),
])
def test_argument_errors(call, error, message):
    with pytest.raises(error, match=message):
        call()


def test_numpy_integers_are_accepted():
    assert conv_output_size(np.int64(28), np.int32(3)) == 26
    assert conv2d_params(np.int64(3), 4, np.int64(5)) == 304
