"""GoogLeNet (Szegedy et al., 2014): the Inception network of the paper's Table 1.

    224x224x3 -> conv 7x7/2 (64) -> max pool 3x3/2 -> LRN
    -> conv 1x1 (64) -> conv 3x3 (192) -> LRN -> max pool 3x3/2
    -> inception 3a, 3b -> max pool 3x3/2
    -> inception 4a, 4b, 4c, 4d, 4e -> max pool 3x3/2
    -> inception 5a, 5b -> avg pool 7x7 -> dropout 40% -> linear 1000

Two auxiliary classifiers, used only while training, branch off after 4a
and 4d: avg pool 5x5/3 -> 1x1 conv (128) -> fc 1024 -> dropout 70% -> linear.
Their losses (weighted 0.3 in the paper) push gradient into the middle of
the deep network; at test time they are dropped.

Max pools use padding 1 where the paper's framework rounded output sizes
up; for these even sizes both give 112 -> 56 -> 28 -> 14 -> 7.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_bool, as_int
from ..layers import (AvgPool2d, Conv2d, Dropout, Flatten, Linear, LocalResponseNorm, MaxPool2d, ReLU, Sequential,
                      as_rng)
from ..layers.base import Layer, Shape, SummaryRow
from .inception import Inception

__all__ = ["GoogLeNet", "AuxClassifier", "INCEPTION_TABLE"]

# Table 1 of the paper: #1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj.
INCEPTION_TABLE = {
    "3a": (64, 96, 128, 16, 32, 32),
    "3b": (128, 128, 192, 32, 96, 64),
    "4a": (192, 96, 208, 16, 48, 64),
    "4b": (160, 112, 224, 24, 64, 64),
    "4c": (128, 128, 256, 24, 64, 64),
    "4d": (112, 144, 288, 32, 64, 64),
    "4e": (256, 160, 320, 32, 128, 128),
    "5a": (256, 160, 320, 32, 128, 128),
    "5b": (384, 192, 384, 48, 128, 128),
}
_POOL_AFTER = {"3b": "pool3", "4e": "pool4"}
_AUX_AFTER = {"inception4a": "aux1", "inception4d": "aux2"}


def _scaled(channels: int, width: float) -> int:
    return max(1, int(round(channels * width)))


class AuxClassifier(Sequential):
    """avg pool 5x5/3 -> 1x1 conv -> ReLU -> fc -> ReLU -> dropout 0.7 -> linear."""

    def __init__(self, in_channels: int, in_size: int, num_classes: int, conv_channels: int = 128, hidden: int = 1024,
                 rng=None, dtype=np.float32) -> None:
        kw: dict[str, Any] = dict(rng=rng, dtype=dtype)
        head = [("pool", AvgPool2d(5, stride=3)), ("conv", Conv2d(in_channels, conv_channels, 1, **kw)),
                ("relu", ReLU()), ("flatten", Flatten())]
        (features,) = Sequential(*head).output_shape((in_channels, in_size, in_size))
        super().__init__(*head, ("fc", Linear(features, hidden, **kw)), ("relu_fc", ReLU()),
                         ("dropout", Dropout(0.7, rng=rng)), ("classifier", Linear(hidden, num_classes, **kw)))
        self.in_channels, self.num_classes = in_channels, num_classes

    def describe(self) -> str:
        return f"Aux classifier {self.in_channels}->{self.num_classes}"


class GoogLeNet(Sequential):
    """GoogLeNet, with or without its two auxiliary classifiers.

    Parameters
    ----------
    num_classes : int
    aux_logits : bool
        Build the two auxiliary classifiers. In training mode
        :meth:`forward` then also computes their logits, kept in
        :attr:`aux_outputs`; :meth:`backward` takes their gradients.
    input_size : int
        224 in the paper; the final 7x7 average pool needs 7x7 maps there.
    width : float
        Multiplies every channel count (1.0 = the paper), for affordable tests.
    seed : int or numpy Generator
    dtype : float32 (default) or float64
    """

    def __init__(self, num_classes: int = 1000, aux_logits: bool = False, input_size: int = 224, width: float = 1.0,
                 seed=0, dtype=np.float32) -> None:
        rng = as_rng(seed)
        input_size = as_int(input_size, "input_size", 1)
        kw: dict[str, Any] = dict(rng=rng, dtype=dtype)
        s = lambda c: _scaled(c, width)  # noqa: E731
        lrn: dict[str, Any] = dict(size=5, alpha=1e-4, beta=0.75, k=1.0)
        layers: list[tuple[str, Layer]] = [
            ("conv1", Conv2d(3, s(64), 7, stride=2, padding=3, **kw)), ("relu1", ReLU()),
            ("pool1", MaxPool2d(3, stride=2, padding=1)), ("lrn1", LocalResponseNorm(**lrn)),
            ("conv2_reduce", Conv2d(s(64), s(64), 1, **kw)), ("relu2_reduce", ReLU()),
            ("conv2", Conv2d(s(64), s(192), 3, padding=1, **kw)), ("relu2", ReLU()),
            ("lrn2", LocalResponseNorm(**lrn)), ("pool2", MaxPool2d(3, stride=2, padding=1)),
        ]
        channels = s(192)
        for name, row in INCEPTION_TABLE.items():
            sizes = [s(c) for c in row]
            c1, c3r, c3, c5r, c5, proj = sizes
            layers.append((f"inception{name}", Inception(channels, c1, c3r, c3, c5r, c5, proj, **kw)))
            channels = sizes[0] + sizes[2] + sizes[4] + sizes[5]
            if name in _POOL_AFTER:
                layers.append((_POOL_AFTER[name], MaxPool2d(3, stride=2, padding=1)))
        trunk_shape = Sequential(*layers).output_shape((3, input_size, input_size))
        layers += [("avgpool", AvgPool2d(trunk_shape[1:])), ("flatten", Flatten()), ("dropout", Dropout(0.4, rng=rng)),
                   ("fc", Linear(channels, num_classes, **kw))]
        super().__init__(*layers)
        self.aux_logits, self.input_size, self.num_classes = as_bool(aux_logits, "aux_logits"), input_size, num_classes
        self.aux: list[tuple[str, AuxClassifier]] = []
        if self.aux_logits:
            shape: tuple[int, ...] = (3, input_size, input_size)
            for name, layer in self._layers:
                shape = layer.output_shape(shape)
                if name in _AUX_AFTER:
                    self.aux.append((_AUX_AFTER[name], AuxClassifier(shape[0], shape[1], num_classes, s(128), s(1024),
                                                                     rng=rng, dtype=dtype)))
        self.aux_outputs: tuple[np.ndarray, ...] = ()

    def describe(self) -> str:
        return "GoogLeNet with aux classifiers" if self.aux_logits else "GoogLeNet"

    def children(self) -> list[tuple[str, Layer]]:
        return list(self._layers) + list(self.aux)

    def __getitem__(self, key: int | str) -> Layer:
        """A trunk layer by index or name, or an aux classifier by name ("aux1", "aux2")."""
        for name, aux in self.aux:
            if key == name:
                return aux
        return super().__getitem__(key)

    def _aux_for(self, name: str):
        target = _AUX_AFTER.get(name)
        return next((aux for aux_name, aux in self.aux if aux_name == target), None)

    def forward(self, x: np.ndarray) -> np.ndarray:
        """Main logits ``(N, num_classes)``; in training mode with aux, also sets :attr:`aux_outputs`."""
        use_aux = self.aux_logits and self.training
        aux_outputs = []
        for i, (name, layer) in enumerate(self._layers):
            x = self._step(i, name, layer, layer.forward, x)
            aux = self._aux_for(name) if use_aux else None
            if aux is not None:
                aux_outputs.append(aux.forward(x))
        self.aux_outputs = tuple(aux_outputs)
        return x

    def backward(self, dout: np.ndarray, aux_douts=None) -> np.ndarray:
        """Backward through the trunk; `aux_douts` (one per aux classifier) join it at their taps."""
        if aux_douts is not None and len(aux_douts) != len(self.aux):
            raise ValueError(f"aux_douts has {len(aux_douts)} gradients; this model has {len(self.aux)} aux classifiers")
        grads = dict(zip((n for n, _ in self.aux), aux_douts or ()))
        if not grads:
            for _, aux in self.aux:
                aux.zero_grad()  # no aux loss: an optimiser step must leave the heads alone
        for i, (name, layer) in reversed(list(enumerate(self._layers))):
            aux = self._aux_for(name)
            if aux is not None and grads:
                dout = dout + aux.backward(grads[_AUX_AFTER[name]])
            dout = self._step(i, name, layer, layer.backward, dout)
        return dout

    def _rows_after(self, name: str, shape: Shape, prefix: str, depth: int) -> list[SummaryRow]:
        aux = self._aux_for(name)
        if aux is None:
            return []
        aux_name = _AUX_AFTER[name]
        return aux.summary_rows(shape, f"{prefix}.{aux_name}" if prefix else aux_name, depth - 1)[0]

