"""Residual connections (He et al., 2016).

``Residual(body, shortcut)`` computes ``body(x) + shortcut(x)``, the
shortcut being the identity when None. Backward is the sum rule: the input
fed both branches, so

    dL/dx = body.backward(delta) + shortcut.backward(delta)   (+ delta itself for the identity)

and the upstream gradient reaches x unchanged through the identity however
deep the body is.
"""

from __future__ import annotations

import numpy as np

from .base import Layer, Shape, SummaryRow, format_shape

__all__ = ["Residual", "check_distinct_layers"]


def _walk(layer: Layer, path: str):
    yield path, layer
    for name, child in layer.children():
        yield from _walk(child, f"{path}.{name}")


def check_distinct_layers(*named: tuple[str, Layer]) -> None:
    """Raise ``ValueError`` if one Layer object appears twice in the given trees.

    A layer keeps the input of its last forward call for backward, so an
    object used in two places would compute one of its gradients from the
    other place's input: refuse that when the model is built.
    """
    seen: dict[int, str] = {}
    for root_name, root in named:
        for path, layer in _walk(root, root_name):
            if id(layer) in seen:
                raise ValueError(
                    f"the same {layer.describe()} object is used twice ('{seen[id(layer)]}' and '{path}'); a layer "
                    "caches its input for backward, so build a separate layer for each place"
                )
            seen[id(layer)] = path


class Residual(Layer):
    """``y = body(x) + shortcut(x)``; the shortcut is the identity when None.

    Parameters
    ----------
    body : Layer
        The residual branch (e.g. conv-BN-ReLU-conv-BN).
    shortcut : Layer, optional
        A projection (e.g. a strided 1x1 conv and BN) when the body changes
        the shape; None for the identity.

    Both outputs must have the same shape. The children are named ``body``
    and ``shortcut``, so parameters are ``"body.0.weight"`` and so on.
    """

    def __init__(self, body: Layer, shortcut: Layer | None = None) -> None:
        super().__init__()
        for name, value in (("body", body), ("shortcut", shortcut)):
            if value is not None and not isinstance(value, Layer):
                raise TypeError(f"{name} must be a cnnlib Layer{' or None' if name == 'shortcut' else ''}; "
                                f"got {type(value).__name__}")
        if body is None:
            raise TypeError("body must be a cnnlib Layer; got None")
        self.body, self.shortcut = body, shortcut
        check_distinct_layers(*self.children())

    def children(self) -> list[tuple[str, Layer]]:
        return [("body", self.body)] + ([("shortcut", self.shortcut)] if self.shortcut is not None else [])

    def describe(self) -> str:
        return "Residual (identity)" if self.shortcut is None else "Residual (projection)"

    def _same(self, a: Shape, b: Shape) -> None:
        if tuple(a) != tuple(b):
            what = "the input" if self.shortcut is None else "the shortcut's output"
            raise ValueError(f"the body gives {format_shape(a)} per sample but {what} is {format_shape(b)}; "
                             "the two must have the same shape to be added (use a projection shortcut)")

    def output_shape(self, input_shape: Shape) -> Shape:
        out = self.body.output_shape(input_shape)
        self._same(out, input_shape if self.shortcut is None else self.shortcut.output_shape(input_shape))
        return out

    def forward(self, x: np.ndarray) -> np.ndarray:
        y = self.body.forward(x)
        s = x if self.shortcut is None else self.shortcut.forward(x)
        self._same(y.shape[1:], s.shape[1:])
        return y + s

    def backward(self, dout: np.ndarray) -> np.ndarray:
        dx = self.body.backward(dout)
        return dx + (dout if self.shortcut is None else self.shortcut.backward(dout))

    def summary_rows(self, input_shape: Shape, prefix: str = "", depth: int = 1) -> tuple[list[SummaryRow], Shape]:
        out = self.output_shape(input_shape)
        if depth <= 0:
            return [(prefix or "Residual", self.describe(), out, self.num_params())], out
        rows: list[SummaryRow] = []
        for name, child in self.children():
            rows += child.summary_rows(input_shape, f"{prefix}.{name}" if prefix else name, depth - 1)[0]
        return rows, out
