"""AlexNet (Krizhevsky, Sutskever and Hinton, 2012), one tower or two.

    227x227x3 -> conv1 96@11x11/4 -> ReLU -> LRN -> max pool 3x3/2
    -> conv2 256@5x5 pad 2 -> ReLU -> LRN -> max pool 3x3/2
    -> conv3 384@3x3 pad 1 -> conv4 384@3x3 pad 1 -> conv5 256@3x3 pad 1
    -> max pool 3x3/2 -> fc6 4096 -> fc7 4096 -> fc8 1000
    (ReLU after every conv and fc6, fc7; dropout 0.5 on fc6 and fc7)

The paper trained on two GPUs, each holding half of the filters of every
layer; conv2, conv4 and conv5 saw only the maps on their own GPU. That is a
grouped convolution with ``groups=2``: each filter has half as many input
channels, so those layers have half the weights. ``two_gpu=True`` builds
that network; ``two_gpu=False`` the single-tower one with full connections.

The paper's figure says 224x224 inputs, but (224 - 11) / 4 + 1 = 54.25:
only 227x227 gives the 55x55 maps of conv1 and the 6x6x256 = 9,216
features fc6 expects.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_bool, as_int
from ..layers import (Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU, Sequential, as_rng)

__all__ = ["AlexNet"]

CHANNELS = (96, 256, 384, 384, 256)


def _scaled(channels: int, width: float, multiple: int) -> int:
    return max(multiple, int(round(channels * width / multiple)) * multiple)


class AlexNet(Sequential):
    """AlexNet as in the 2012 paper's layer table.

    Parameters
    ----------
    num_classes : int
    two_gpu : bool
        Grouped conv2, conv4 and conv5 (``groups=2``) as on the paper's two GPUs.
    input_size : int
        Height and width of the input; sizes fc6 (227 gives 6x6 maps).
    width : float
        Multiplies every conv channel count (1.0 = the paper). Smaller
        widths give the same architecture at a cost a test can afford.
    hidden : int
        Units of fc6 and fc7 (4096 in the paper).
    dropout : float
    seed : int or numpy Generator
    dtype : float32 (default) or float64

    Notes
    -----
    Local response normalisation follows torch's definition (``alpha`` times
    the *mean* of the squares over the window); the paper's alpha = 1e-4
    multiplies their *sum*, which is ``alpha = 5e-4`` here.
    """

    def __init__(self, num_classes: int = 1000, two_gpu: bool = False, input_size: int = 227, width: float = 1.0,
                 hidden: int = 4096, dropout: float = 0.5, seed=0, dtype=np.float32) -> None:
        groups = 2 if as_bool(two_gpu, "two_gpu") else 1
        c1, c2, c3, c4, c5 = (_scaled(c, width, groups) for c in CHANNELS)
        input_size = as_int(input_size, "input_size", 1)
        rng = as_rng(seed)
        kw: dict[str, Any] = dict(rng=rng, dtype=dtype)
        g: dict[str, Any] = dict(groups=groups)
        lrn: dict[str, Any] = dict(size=5, alpha=5 * 1e-4, beta=0.75, k=2.0)  # the paper's constants, see Notes
        features = [
            ("conv1", Conv2d(3, c1, 11, stride=4, **kw)), ("relu1", ReLU()), ("lrn1", LocalResponseNorm(**lrn)),
            ("pool1", MaxPool2d(3, stride=2)),
            ("conv2", Conv2d(c1, c2, 5, padding=2, **g, **kw)), ("relu2", ReLU()), ("lrn2", LocalResponseNorm(**lrn)),
            ("pool2", MaxPool2d(3, stride=2)),
            ("conv3", Conv2d(c2, c3, 3, padding=1, **kw)), ("relu3", ReLU()),
            ("conv4", Conv2d(c3, c4, 3, padding=1, **g, **kw)), ("relu4", ReLU()),
            ("conv5", Conv2d(c4, c5, 3, padding=1, **g, **kw)), ("relu5", ReLU()),
            ("pool5", MaxPool2d(3, stride=2)),
            ("flatten", Flatten()),
        ]
        (n_features,) = Sequential(*features).output_shape((3, input_size, input_size))
        super().__init__(
            *features,
            ("fc6", Linear(n_features, hidden, **kw)), ("relu6", ReLU()), ("drop6", Dropout(dropout, rng=rng)),
            ("fc7", Linear(hidden, hidden, **kw)), ("relu7", ReLU()), ("drop7", Dropout(dropout, rng=rng)),
            ("fc8", Linear(hidden, num_classes, **kw)),
        )
        self.two_gpu, self.input_size = bool(two_gpu), input_size

    def describe(self) -> str:
        return "AlexNet (two GPUs, grouped)" if self.two_gpu else "AlexNet (one tower)"
