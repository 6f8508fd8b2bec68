"""Convolution arithmetic: output sizes, kernel sizes, padding, parameters.

The formulas of chapter 3, with the integer bookkeeping done right:

    O = floor((H + 2P - D (K - 1) - 1) / S) + 1

which for dilation D = 1 is the familiar O = (H + 2P - K) / S + 1.
"""

from __future__ import annotations

from typing import Iterable, Sequence

from ._geometry import effective_length, output_length
from ._validation import as_int

__all__ = [
    "conv_output_size",
    "conv_transpose_output_size",
    "kernel_size_for",
    "same_padding",
    "conv2d_params",
    "receptive_field",
]


def conv_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    dilation: int = 1,
    *,
    exact: bool = False,
) -> int:
    """Output length along one axis of a convolution or pooling window.

    Parameters
    ----------
    size : int
        Input length H (or W), without padding.
    kernel_size : int
        Kernel length K.
    stride : int
        Step S between window positions.
    padding : int
        Zeros added on *each* side, P.
    dilation : int
        Spacing D between kernel taps; the kernel covers D (K - 1) + 1 pixels.
    exact : bool
        If True, raise ``ValueError`` when the last window does not end exactly
        on the padded border (when ``(H + 2P - K_eff)`` is not divisible by S),
        naming how many border pixels the floor silently drops.

    Returns
    -------
    int
        ``floor((H + 2P - K_eff) / S) + 1``, the value torch computes.

    Examples
    --------
    >>> conv_output_size(28, 3)
    26
    >>> conv_output_size(32, 5, stride=3)
    10
    """
    size = as_int(size, "size", 1)
    kernel_size = as_int(kernel_size, "kernel_size", 1)
    stride = as_int(stride, "stride", 1)
    padding = as_int(padding, "padding", 0)
    dilation = as_int(dilation, "dilation", 1)
    k_eff = effective_length(kernel_size, dilation)
    span = size + 2 * padding - k_eff
    if span < 0:
        raise ValueError(
            f"kernel_size {kernel_size} (effective {k_eff}) is larger than the padded input "
            f"{size + 2 * padding} (size {size} + 2*padding {padding})"
        )
    lost = span % stride
    if exact and lost:
        raise ValueError(
            f"(size + 2*padding - kernel) = {span} is not divisible by stride {stride}: "
            f"the last {lost} pixel(s) of the padded input are never covered by a window; "
            f"the output size would be floor({span}/{stride}) + 1 = "
            f"{output_length(size, kernel_size, stride, padding, dilation)}"
        )
    return output_length(size, kernel_size, stride, padding, dilation)


def conv_transpose_output_size(
    size: int,
    kernel_size: int,
    stride: int = 1,
    padding: int = 0,
    output_padding: int = 0,
    dilation: int = 1,
) -> int:
    """Output length of a transposed convolution (torch's ConvTranspose2d).

    ``(H - 1) S - 2P + D (K - 1) + output_padding + 1``; ``output_padding``
    (< S or < D) picks one of the several input sizes that a strided
    convolution maps to the same output size.
    """
    size = as_int(size, "size", 1)
    kernel_size = as_int(kernel_size, "kernel_size", 1)
    stride = as_int(stride, "stride", 1)
    padding = as_int(padding, "padding", 0)
    output_padding = as_int(output_padding, "output_padding", 0)
    dilation = as_int(dilation, "dilation", 1)
    if output_padding >= max(stride, dilation):
        raise ValueError(
            f"output_padding ({output_padding}) must be smaller than stride ({stride}) or dilation ({dilation})"
        )
    out = (size - 1) * stride - 2 * padding + effective_length(kernel_size, dilation) + output_padding
    if out < 1:
        raise ValueError(f"padding {padding} is too large: the output size would be {out}")
    return out


def kernel_size_for(size: int, out: int, stride: int = 1, padding: int = 0) -> int:
    """The kernel length that maps an input of length `size` to `out`.

    The inverse of the output-size formula: ``K = H + 2P - S (O - 1)``. Raises
    ``ValueError`` when no kernel of length >= 1 gives exactly that output
    (for stride > 1 several kernels give the same floor; the largest is
    the one for which the windows end exactly on the border).
    """
    size = as_int(size, "size", 1)
    out = as_int(out, "out", 1)
    stride = as_int(stride, "stride", 1)
    padding = as_int(padding, "padding", 0)
    k = size + 2 * padding - stride * (out - 1)
    if k < 1:
        raise ValueError(
            f"no kernel maps size {size} (padding {padding}) to {out} outputs with stride {stride}: "
            f"H + 2P - S(O - 1) = {k} < 1"
        )
    return k


def same_padding(kernel_size: int, dilation: int = 1) -> int:
    """Padding per side that keeps the size unchanged at stride 1: (K_eff - 1) / 2.

    Raises ``ValueError`` for an even effective kernel, where no symmetric
    padding exists (torch's ``padding="same"`` then pads one pixel more on
    the bottom/right side).
    """
    kernel_size = as_int(kernel_size, "kernel_size", 1)
    dilation = as_int(dilation, "dilation", 1)
    k_eff = effective_length(kernel_size, dilation)
    if k_eff % 2 == 0:
        raise ValueError(
            f"kernel_size {kernel_size} with dilation {dilation} spans {k_eff} pixels, an even number: "
            "'same' output needs (K-1)/2 zeros per side, which is not an integer "
            "(pad asymmetrically, as padding='same' in cnnlib.functional does)"
        )
    return (k_eff - 1) // 2


def conv2d_params(in_channels: int, out_channels: int, kernel_size: int | Sequence[int], bias: bool = True) -> int:
    """Number of learnable parameters of a 2-D convolution layer.

    ``out_channels * in_channels * KH * KW`` weights, plus ``out_channels``
    biases when `bias` is True. For example 3x3, 128 -> 64 channels, no bias:
    ``conv2d_params(128, 64, 3, bias=False) == 73_728``.
    """
    in_channels = as_int(in_channels, "in_channels", 1)
    out_channels = as_int(out_channels, "out_channels", 1)
    if isinstance(kernel_size, Sequence):
        kh, kw = (as_int(k, "kernel_size", 1) for k in kernel_size)
    else:
        kh = kw = as_int(kernel_size, "kernel_size", 1)
    return out_channels * in_channels * kh * kw + (out_channels if bias else 0)


def receptive_field(layers: Iterable[Sequence[int]]) -> list[int]:
    """Receptive field of each layer of a stack, in input pixels.

    Parameters
    ----------
    layers : iterable of (kernel_size, stride) or (kernel_size, stride, dilation)
        Conv or pooling layers from input to output.

    Returns
    -------
    list of int
        ``r[l]``: how many input pixels (along one axis) one unit of layer
        ``l`` sees. With jump ``j`` (the product of earlier strides),
        ``r_l = r_{l-1} + (K_eff - 1) j_{l-1}``.

    Examples
    --------
    >>> receptive_field([(3, 1), (3, 1), (3, 1)])
    [3, 5, 7]
    """
    fields: list[int] = []
    r, jump = 1, 1
    for i, layer in enumerate(layers):
        if len(layer) not in (2, 3):
            raise ValueError(f"layer {i} must be (kernel_size, stride) or (kernel_size, stride, dilation); got {layer!r}")
        k = as_int(layer[0], f"layers[{i}] kernel_size", 1)
        s = as_int(layer[1], f"layers[{i}] stride", 1)
        d = as_int(layer[2], f"layers[{i}] dilation", 1) if len(layer) == 3 else 1
        r += (effective_length(k, d) - 1) * jump
        jump *= s
        fields.append(r)
    return fields
