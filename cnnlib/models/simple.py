"""SimpleConvNet: the small network of Saito's *Deep Learning from Scratch* (its ``train_convnet.py``).

    conv (30 filters 5x5, pad 0, stride 1) -> ReLU -> max pool 2x2
    -> affine 100 -> ReLU -> affine 10 (-> softmax, in the loss)

On 28x28 MNIST digits the conv layer gives 30 maps of 24x24, pooling 30 of
12x12, i.e. 4,320 features for the first affine layer.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_int
from ..layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, as_rng
from ..shapes import conv_output_size

__all__ = ["SimpleConvNet"]


class SimpleConvNet(Sequential):
    """The ConvNet of Saito's *Deep Learning from Scratch*, with its hyper-parameter names.

    Parameters
    ----------
    input_dim : (C, H, W)
    filter_num, filter_size, pad, stride : int
        Saito's ``conv_param`` entries.
    hidden_size, output_size : int
    pool_size : int
        Window and stride of the max pooling.
    init : {"he", "xavier"}
        He initialisation (the default) scales each layer's weights by its
        fan-in, which suits the ReLUs.
    weight_init_std : float, optional
        If given, every weight is drawn from N(0, weight_init_std^2) instead,
        one fixed scale for all layers, as Saito's ``SimpleConvNet`` does
        (``weight_init_std=0.01``); biases still start at zero.
    seed : int or numpy Generator
        Seeds every weight, in layer order.
    dtype : float32 (default) or float64

    Layers are named ``conv1, relu1, pool1, flatten, fc1, relu2, fc2``.
    """

    def __init__(self, input_dim=(1, 28, 28), filter_num: int = 30, filter_size: int = 5, pad: int = 0,
                 stride: int = 1, hidden_size: int = 100, output_size: int = 10, pool_size: int = 2,
                 init: str = "he", seed=0, dtype=np.float32, weight_init_std: float | None = None) -> None:
        c, h, w = (as_int(v, "input_dim", 1) for v in input_dim)
        rng = as_rng(seed)
        conv_h = conv_output_size(h, filter_size, stride, pad)
        conv_w = conv_output_size(w, filter_size, stride, pad)
        features = as_int(filter_num, "filter_num", 1) * (conv_h // pool_size) * (conv_w // pool_size)
        super().__init__(
            ("conv1", Conv2d(c, filter_num, filter_size, stride=stride, padding=pad, init=init, rng=rng, dtype=dtype)),
            ("relu1", ReLU()),
            ("pool1", MaxPool2d(pool_size)),
            ("flatten", Flatten()),
            ("fc1", Linear(features, hidden_size, init=init, rng=rng, dtype=dtype)),
            ("relu2", ReLU()),
            ("fc2", Linear(hidden_size, output_size, init=init, rng=rng, dtype=dtype)),
        )
        self.input_dim = (c, h, w)
        if weight_init_std is not None:
            std = float(weight_init_std)
            if not std > 0 or not np.isfinite(std):
                raise ValueError(f"weight_init_std must be a positive number; got {weight_init_std!r}")
            for name in ("conv1", "fc1", "fc2"):  # drawn after the default ones, from the same generator
                weight = self[name].params["weight"]
                weight[...] = rng.standard_normal(weight.shape) * std

    def describe(self) -> str:
        return "SimpleConvNet"
