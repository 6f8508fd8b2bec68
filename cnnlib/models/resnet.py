"""ResNet (He et al., 2016): residual blocks, basic and bottleneck.

    224x224x3 -> conv 7x7/2 (64), BN, ReLU -> max pool 3x3/2
    -> layer1 .. layer4 (64, 128, 256, 512 "planes"; layers 2-4 start with stride 2)
    -> global average pool -> fc classes

A basic block (ResNet-18/34) is ``3x3 conv, BN, ReLU, 3x3 conv, BN`` plus
the shortcut, then ReLU; a bottleneck block (ResNet-50) is ``1x1 (planes),
3x3 (planes), 1x1 (4 planes)`` with BN after each, the stride on the 3x3
conv (torchvision's "v1.5" placement). Where a block changes the shape the
shortcut is a projection: a strided 1x1 conv and BN. Convolutions before a
BN have no bias. Parameter totals match torchvision's ``resnet18/34/50``:
11,689,512, 21,797,672 and 25,557,032.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int
from ..layers import (BatchNorm2d, Conv2d, GlobalAvgPool2d, Linear, MaxPool2d, ReLU, Residual, Sequential, as_rng)
from ..layers.base import Layer

__all__ = ["ResNet", "ResNet18", "ResNet34", "ResNet50", "basic_block", "bottleneck_block", "RESNET_LAYERS"]

# Blocks per stage, and whether the blocks are bottlenecks.
RESNET_LAYERS = {"resnet18": ((2, 2, 2, 2), False), "resnet34": ((3, 4, 6, 3), False),
                 "resnet50": ((3, 4, 6, 3), True)}


def _conv_bn(prefix: str, cin: int, cout: int, kernel: int, stride: int, kw: dict) -> list[tuple[str, Layer]]:
    return [(f"conv{prefix}", Conv2d(cin, cout, kernel, stride=stride, padding=kernel // 2, bias=False, **kw)),
            (f"bn{prefix}", BatchNorm2d(cout, dtype=kw["dtype"]))]


def _block(body: list[tuple[str, Layer]], cin: int, cout: int, stride: int, kw: dict) -> Sequential:
    shortcut = None
    if stride != 1 or cin != cout:
        shortcut = Sequential(("conv", Conv2d(cin, cout, 1, stride=stride, bias=False, **kw)),
                              ("bn", BatchNorm2d(cout, dtype=kw["dtype"])))
    return Sequential(("residual", Residual(Sequential(*body), shortcut)), ("relu", ReLU()))


def basic_block(cin: int, planes: int, stride: int = 1, rng=None, dtype=np.float32) -> Sequential:
    """``relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x))``, 3x3 convs; output ``planes`` channels."""
    kw = dict(rng=as_rng(rng), dtype=dtype)
    body = [*_conv_bn("1", cin, planes, 3, stride, kw), ("relu1", ReLU()), *_conv_bn("2", planes, planes, 3, 1, kw)]
    return _block(body, cin, planes, stride, kw)


def bottleneck_block(cin: int, planes: int, stride: int = 1, rng=None, dtype=np.float32,
                     expansion: int = 4) -> Sequential:
    """1x1 (planes) -> 3x3 (planes, stride) -> 1x1 (expansion x planes), BN after each, plus the shortcut."""
    kw = dict(rng=as_rng(rng), dtype=dtype)
    out = planes * expansion
    body = [*_conv_bn("1", cin, planes, 1, 1, kw), ("relu1", ReLU()),
            *_conv_bn("2", planes, planes, 3, stride, kw), ("relu2", ReLU()),
            *_conv_bn("3", planes, out, 1, 1, kw)]
    return _block(body, cin, out, stride, kw)


class ResNet(Sequential):
    """A ResNet from the number of blocks per stage.

    Parameters
    ----------
    layers : four ints
        Blocks in stages 1-4.
    bottleneck : bool
        Bottleneck blocks (expansion 4) instead of basic ones.
    num_classes : int
    input_size : int
        Height and width of the input (224 in the paper); any size that
        survives the five halvings works, thanks to the global pool.
    width : float
        Multiplies every channel count (1.0 = the paper), for affordable tests.
    seed : int or numpy Generator
    dtype : float32 (default) or float64

    Layers: ``conv1, bn1, relu, maxpool, layer1 .. layer4, avgpool, fc``;
    block j of stage i is ``layer{i}.{j}``, made of ``residual`` (with
    children ``body`` and ``shortcut``) and ``relu``.
    """

    def __init__(self, layers, bottleneck: bool = False, num_classes: int = 1000, input_size: int = 224,
                 width: float = 1.0, seed=0, dtype=np.float32, name: str = "ResNet") -> None:
        rng = as_rng(seed)
        input_size = as_int(input_size, "input_size", 1)
        layers = tuple(as_int(n, "layers", 1) for n in layers)
        if len(layers) != 4:
            raise ValueError(f"layers must give the number of blocks of 4 stages; got {layers}")
        kw = dict(rng=rng, dtype=dtype)
        base = max(1, int(round(64 * width)))
        trunk: list[tuple[str, Layer]] = [
            ("conv1", Conv2d(3, base, 7, stride=2, padding=3, bias=False, **kw)), ("bn1", BatchNorm2d(base, dtype=dtype)),
            ("relu", ReLU()), ("maxpool", MaxPool2d(3, stride=2, padding=1)),
        ]
        make = bottleneck_block if bottleneck else basic_block
        channels = base
        for stage, blocks in enumerate(layers):
            planes = base * 2 ** stage
            seq = []
            for j in range(blocks):
                stride = 2 if stage > 0 and j == 0 else 1
                block = make(channels, planes, stride, rng=rng, dtype=dtype)
                channels = planes * (4 if bottleneck else 1)
                seq.append((str(j), block))
            trunk.append((f"layer{stage + 1}", Sequential(*seq)))
        Sequential(*trunk).output_shape((3, input_size, input_size))  # a clear error if the input is too small
        super().__init__(*trunk, ("avgpool", GlobalAvgPool2d()), ("fc", Linear(channels, num_classes, **kw)))
        self.name, self.input_size, self.num_classes = name, input_size, num_classes

    def describe(self) -> str:
        return self.name


def ResNet18(num_classes: int = 1000, input_size: int = 224, **kwargs) -> ResNet:  # noqa: N802 (torch-style name)
    """ResNet-18: basic blocks, (2, 2, 2, 2); keyword arguments as :class:`ResNet`."""
    return ResNet((2, 2, 2, 2), False, num_classes, input_size, name="ResNet-18", **kwargs)


def ResNet34(num_classes: int = 1000, input_size: int = 224, **kwargs) -> ResNet:  # noqa: N802
    """ResNet-34: basic blocks, (3, 4, 6, 3)."""
    return ResNet((3, 4, 6, 3), False, num_classes, input_size, name="ResNet-34", **kwargs)


def ResNet50(num_classes: int = 1000, input_size: int = 224, **kwargs) -> ResNet:  # noqa: N802
    """ResNet-50: bottleneck blocks, (3, 4, 6, 3)."""
    return ResNet((3, 4, 6, 3), True, num_classes, input_size, name="ResNet-50", **kwargs)
