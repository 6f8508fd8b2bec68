"""The benchmarked workloads and, for each, one fwd+bwd callable per contender.

Every workload is float32 with data drawn once from a seeded generator, and
every contender does the same work: the forward pass and the gradients
with respect to the input, the weights and the bias (torch's input
requires grad, so it computes dx too). The exception is the training step,
where neither model needs the gradient of the images.

Contenders: ``torch`` (the rival), ``numpy-im2col`` (cnnlib's ``im2col``
backend: pure NumPy, the seed's algorithm, the baseline), ``cnnlib-numba``
(the default backend) and ``cnnlib-naive`` (loops; timed on a batch of one
image and multiplied by N, since a full batch takes minutes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as TF

import cnnlib
from cnnlib.functional import conv2d, conv2d_backward, max_pool2d, max_pool2d_backward
from cnnlib.layers import SoftmaxCrossEntropy
from cnnlib.models import SimpleConvNet

CNNLIB_BACKENDS = {"numpy-im2col": "im2col", "cnnlib-numba": "numba", "cnnlib-naive": "naive"}


@dataclass(frozen=True)
class Workload:
    name: str
    kind: str  # "conv", "maxpool" or "train"
    x_shape: tuple[int, int, int, int]
    w_shape: tuple[int, int, int, int] | None = None  # conv: (F, C, KH, KW); pool: None
    stride: int = 1
    padding: int = 0
    kernel: int = 2  # pooling window
    target: float | None = None  # issue's target for cnnlib-numba / torch (None: no target)

    def describe(self) -> str:
        if self.kind == "conv":
            extra = "".join([f" s{self.stride}" if self.stride != 1 else "", f" p{self.padding}" if self.padding else ""])
            return f"{self.x_shape} x {self.w_shape}{extra}"
        if self.kind == "maxpool":
            return f"max pool {self.kernel}x{self.kernel} s{self.stride} on {self.x_shape}"
        return f"fwd+bwd of the whole model, batch {self.x_shape[0]}"


WORKLOADS = [  # targets: issue 13, plain environment
    Workload("SimpleConvNet conv", "conv", (100, 1, 28, 28), (30, 1, 5, 5), target=0.7),
    Workload("LeNet-5 C1", "conv", (100, 1, 32, 32), (6, 1, 5, 5), target=0.7),
    Workload("LeNet-5 C3", "conv", (100, 6, 14, 14), (16, 6, 5, 5), target=0.8),
    Workload("LeNet-5 C5", "conv", (100, 16, 5, 5), (120, 16, 5, 5)),
    Workload("mid 3x3 pad 1", "conv", (32, 64, 56, 56), (64, 64, 3, 3), padding=1, target=1.0),
    Workload("AlexNet conv1", "conv", (8, 3, 227, 227), (96, 3, 11, 11), stride=4, target=0.7),
    Workload("max pool 2x2", "maxpool", (100, 30, 24, 24), stride=2, kernel=2, target=0.5),
    Workload("SimpleConvNet train step", "train", (100, 1, 28, 28)),
]


def _arrays(shapes, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.standard_normal(s).astype(np.float32) for s in shapes]


# --------------------------------------------------------------------------
# Convolution and pooling layers
# --------------------------------------------------------------------------


def conv_contenders(wl: Workload, backends: list[str]) -> dict[str, Callable[[], object]]:
    f = wl.w_shape[0]
    x, w, b = _arrays([wl.x_shape, wl.w_shape, (f,)])
    y = conv2d(x, w, b, wl.stride, wl.padding, backend="numba")
    (dout,) = _arrays([y.shape], seed=1)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def torch_step():
        out = TF.conv2d(xt, wt, bt, wl.stride, wl.padding)
        return torch.autograd.grad(out, (xt, wt, bt), dt)

    contenders: dict[str, Callable[[], object]] = {"torch": torch_step}
    for label in backends:
        name = CNNLIB_BACKENDS[label]
        xs, ds = (x[:1], dout[:1]) if name == "naive" else (x, dout)

        def step(name=name, xs=xs, ds=ds):
            conv2d(xs, w, b, wl.stride, wl.padding, backend=name)
            return conv2d_backward(ds, xs, w, wl.stride, wl.padding, backend=name)

        contenders[label] = step
    return contenders


def pool_contenders(wl: Workload, backends: list[str]) -> dict[str, Callable[[], object]]:
    (x,) = _arrays([wl.x_shape])
    y = max_pool2d(x, wl.kernel, wl.stride, backend="numba")
    (dout,) = _arrays([y.shape], seed=1)
    xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def torch_step():
        out = TF.max_pool2d(xt, wl.kernel, wl.stride)
        return torch.autograd.grad(out, (xt,), dt)

    contenders: dict[str, Callable[[], object]] = {"torch": torch_step}
    for label in backends:
        name = CNNLIB_BACKENDS[label]
        xs, ds = (x[:1], dout[:1]) if name == "naive" else (x, dout)

        def step(name=name, xs=xs, ds=ds):
            max_pool2d(xs, wl.kernel, wl.stride, backend=name)
            return max_pool2d_backward(ds, xs, wl.kernel, wl.stride, backend=name)

        contenders[label] = step
    return contenders


# --------------------------------------------------------------------------
# SimpleConvNet training step: conv -> relu -> pool -> affine -> relu -> affine -> softmax-CE
# --------------------------------------------------------------------------


def _torch_simple_convnet(params: dict[str, np.ndarray]) -> torch.nn.Module:
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 30, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(30 * 12 * 12, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10),
    )
    with torch.no_grad():
        for (_, p), value in zip(net.named_parameters(), params.values()):
            p.copy_(torch.from_numpy(value))
    return net


def train_contenders(wl: Workload, backends: list[str]) -> tuple[dict[str, Callable[[], object]], str]:
    """Contenders for one training step, and which cnnlib implementation was used."""
    rng = np.random.default_rng(0)
    x = rng.standard_normal(wl.x_shape).astype(np.float32)
    labels = rng.integers(0, 10, wl.x_shape[0])
    net, loss = SimpleConvNet(seed=0, dtype=np.float32), SoftmaxCrossEntropy()
    params = {name: value for name, value, _ in net.parameters()}
    implementation = "cnnlib.models.SimpleConvNet"

    def cnnlib_step(xs, ys):
        loss.forward(net.forward(xs), ys)
        return net.backward_params(loss.backward())  # as cnnlib's Trainer: the images need no gradient

    torch_net = _torch_simple_convnet(params)
    xt, yt = torch.from_numpy(x), torch.from_numpy(labels)

    def torch_step():
        torch_net.zero_grad(set_to_none=True)
        TF.cross_entropy(torch_net(xt), yt).backward()

    contenders: dict[str, Callable[[], object]] = {"torch": torch_step}
    for label in backends:
        name = CNNLIB_BACKENDS[label]
        xs, ys = (x[:1], labels[:1]) if name == "naive" else (x, labels)

        def step(name=name, xs=xs, ys=ys):
            with cnnlib.use_backend(name):
                return cnnlib_step(xs, ys)

        contenders[label] = step
    return contenders, implementation


def contenders_for(wl: Workload, backends: list[str]):
    """(contenders, note) for a workload."""
    if wl.kind == "conv":
        return conv_contenders(wl, backends), ""
    if wl.kind == "maxpool":
        return pool_contenders(wl, backends), ""
    return train_contenders(wl, backends)
