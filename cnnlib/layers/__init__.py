"""Layers: the building blocks of a network, each with forward and backward.

Every layer keeps its parameters and their gradients in named arrays
(``layer.params["weight"]``, ``layer.grads["weight"]``), has a train/eval
mode, and can tell the shape of its output without running
(``layer.output_shape((C, H, W))``). Convolution and pooling call
:mod:`cnnlib.functional`, so they run on whichever backend is the default.
"""

from .activations import ReLU, Sigmoid, Tanh, sigmoid
from .base import Layer, as_rng
from .batchnorm import BatchNorm1d, BatchNorm2d
from .container import LayerError, Sequential
from .conv import AvgPool2d, Conv2d, MaxPool2d
from .conv_transpose import ConvTranspose2d
from .dense import Flatten, Linear
from .global_pool import GlobalAvgPool2d
from .init import he_normal, xavier_uniform
from .loss import SoftmaxCrossEntropy, log_softmax, softmax
from .regularization import Dropout, LocalResponseNorm
from .residual import Residual

__all__ = [
    "Layer", "Sequential", "LayerError", "as_rng",
    "Conv2d", "MaxPool2d", "AvgPool2d", "Linear", "Flatten",
    "ReLU", "Sigmoid", "Tanh", "sigmoid",
    "Dropout", "LocalResponseNorm",
    "SoftmaxCrossEntropy", "softmax", "log_softmax",
    "he_normal", "xavier_uniform",
    "BatchNorm1d", "BatchNorm2d", "ConvTranspose2d", "GlobalAvgPool2d", "Residual",
]
