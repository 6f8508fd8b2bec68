"""VGG (Simonyan and Zisserman, 2015): stacks of 3x3 convolutions.

Configurations A (VGG-11) and D (VGG-16) of the paper's Table 1; a number
is a 3x3 conv (padding 1, ReLU) with that many filters, "M" a 2x2 max pool:

    VGG-11: 64 M 128 M 256 256 M 512 512 M 512 512 M
    VGG-16: 64 64 M 128 128 M 256 256 256 M 512 512 512 M 512 512 512 M

then fc 4096 -> ReLU -> dropout -> fc 4096 -> ReLU -> dropout -> fc classes.
At 224x224 the last pool leaves 7x7x512 = 25,088 features, and the totals
match torchvision's ``vgg11`` and ``vgg16`` (132,863,336 and 138,357,544
parameters). Other input sizes size fc6 from the actual map (torchvision
would pool to 7x7 first).
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int
from ..layers import BatchNorm2d, Conv2d, Dropout, Flatten, Linear, MaxPool2d, ReLU, Sequential, as_rng
from ..layers.base import Layer

__all__ = ["VGG", "VGG11", "VGG16", "VGG_CONFIGS"]

VGG_CONFIGS: dict[str, tuple] = {
    "vgg11": (64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"),
    "vgg16": (64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"),
}


class VGG(Sequential):
    """A VGG network from a configuration of conv widths and "M" (max pool).

    Parameters
    ----------
    config : sequence of int or "M"
    num_classes : int
    input_size : int
        Height and width of the input (224 in the paper).
    width : float
        Multiplies every conv width (1.0 = the paper), for affordable tests.
    hidden : int
        Units of fc6 and fc7 (4096 in the paper).
    batch_norm : bool
        BatchNorm2d after every conv (torchvision's ``vgg*_bn``).
    dropout : float
    seed : int or numpy Generator
    dtype : float32 (default) or float64

    Layers are named ``conv1_1, relu1_1, ..., pool1, conv2_1, ...`` by block,
    then ``flatten, fc6, relu6, drop6, fc7, relu7, drop7, fc8``.
    """

    def __init__(self, config, num_classes: int = 1000, input_size: int = 224, width: float = 1.0,
                 hidden: int = 4096, batch_norm: bool = False, dropout: float = 0.5, seed=0, dtype=np.float32,
                 name: str = "VGG") -> None:
        rng = as_rng(seed)
        input_size = as_int(input_size, "input_size", 1)
        kw = dict(rng=rng, dtype=dtype)
        layers: list[tuple[str, Layer]] = []
        channels, block, index = 3, 1, 1
        for item in config:
            if item == "M":
                layers.append((f"pool{block}", MaxPool2d(2, stride=2)))
                block, index = block + 1, 1
                continue
            out = max(1, int(round(as_int(item, "config entry", 1) * width)))
            layers.append((f"conv{block}_{index}", Conv2d(channels, out, 3, padding=1, **kw)))
            if batch_norm:
                layers.append((f"bn{block}_{index}", BatchNorm2d(out, dtype=dtype)))
            layers.append((f"relu{block}_{index}", ReLU()))
            channels, index = out, index + 1
        layers.append(("flatten", Flatten()))
        (n_features,) = Sequential(*layers).output_shape((3, input_size, input_size))
        super().__init__(
            *layers,
            ("fc6", Linear(n_features, hidden, **kw)), ("relu6", ReLU()), ("drop6", Dropout(dropout, rng=rng)),
            ("fc7", Linear(hidden, hidden, **kw)), ("relu7", ReLU()), ("drop7", Dropout(dropout, rng=rng)),
            ("fc8", Linear(hidden, num_classes, **kw)),
        )
        self.name, self.input_size, self.num_classes = name, input_size, num_classes

    def describe(self) -> str:
        return self.name


def VGG11(num_classes: int = 1000, input_size: int = 224, **kwargs) -> VGG:  # noqa: N802 (torch-style name)
    """VGG-11 (configuration A); keyword arguments as :class:`VGG`."""
    return VGG(VGG_CONFIGS["vgg11"], num_classes, input_size, name="VGG-11", **kwargs)


def VGG16(num_classes: int = 1000, input_size: int = 224, **kwargs) -> VGG:  # noqa: N802
    """VGG-16 (configuration D); keyword arguments as :class:`VGG`."""
    return VGG(VGG_CONFIGS["vgg16"], num_classes, input_size, name="VGG-16", **kwargs)
