"""MobileNet v1 (Howard et al., 2017): depthwise-separable convolutions.

    224x224x3 -> conv 3x3/2 (32) -> 13 depthwise-separable blocks
    -> global average pool -> fc classes

A depthwise-separable block is a 3x3 depthwise conv (``groups = C``: one
filter per channel), BN, ReLU, then a 1x1 pointwise conv (C -> F), BN,
ReLU. Against a dense 3x3 conv C -> F it costs ``1/F + 1/9`` of the
multiply-accumulates. With width 1.0, 1000 classes and BN after every conv
(no conv biases) the network has 4,231,976 parameters.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int
from ..layers import BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, ReLU, Sequential, as_rng
from ..layers.base import Layer

__all__ = ["MobileNetV1", "MOBILENET_V1_BLOCKS", "separable_block"]

# (output channels, stride) of the 13 depthwise-separable blocks (Table 1 of the paper).
MOBILENET_V1_BLOCKS = ((64, 1), (128, 2), (128, 1), (256, 2), (256, 1), (512, 2),
                       (512, 1), (512, 1), (512, 1), (512, 1), (512, 1), (1024, 2), (1024, 1))


def separable_block(cin: int, cout: int, stride: int = 1, rng=None, dtype=np.float32) -> Sequential:
    """3x3 depthwise conv (stride), BN, ReLU, 1x1 pointwise conv, BN, ReLU: ``cin -> cout`` channels."""
    kw = dict(rng=as_rng(rng), dtype=dtype)
    return Sequential(
        ("dw", Conv2d(cin, cin, 3, stride=stride, padding=1, groups=cin, bias=False, **kw)),
        ("dw_bn", BatchNorm2d(cin, dtype=dtype)), ("dw_relu", ReLU()),
        ("pw", Conv2d(cin, cout, 1, bias=False, **kw)), ("pw_bn", BatchNorm2d(cout, dtype=dtype)),
        ("pw_relu", ReLU()),
    )


class MobileNetV1(Sequential):
    """MobileNet v1.

    Parameters
    ----------
    num_classes : int
    input_size : int
        224 in the paper.
    width : float
        The paper's width multiplier alpha: every channel count times alpha.
    seed : int or numpy Generator
    dtype : float32 (default) or float64

    Layers: ``conv1, bn1, relu1, block1 .. block13, avgpool, fc``.
    """

    def __init__(self, num_classes: int = 1000, input_size: int = 224, width: float = 1.0, seed=0,
                 dtype=np.float32) -> None:
        rng = as_rng(seed)
        input_size = as_int(input_size, "input_size", 1)
        kw = dict(rng=rng, dtype=dtype)
        c = max(1, int(32 * width))
        layers: list[tuple[str, Layer]] = [
            ("conv1", Conv2d(3, c, 3, stride=2, padding=1, bias=False, **kw)), ("bn1", BatchNorm2d(c, dtype=dtype)),
            ("relu1", ReLU()),
        ]
        for i, (out, stride) in enumerate(MOBILENET_V1_BLOCKS):
            out = max(1, int(out * width))
            layers.append((f"block{i + 1}", separable_block(c, out, stride, rng=rng, dtype=dtype)))
            c = out
        Sequential(*layers).output_shape((3, input_size, input_size))  # a clear error if the input is too small
        super().__init__(*layers, ("avgpool", GlobalAvgPool2d()), ("fc", Linear(c, num_classes, **kw)))
        self.width, self.input_size, self.num_classes = float(width), input_size, num_classes

    def describe(self) -> str:
        return "MobileNet v1" if self.width == 1.0 else f"MobileNet v1 (width {self.width:g})"
