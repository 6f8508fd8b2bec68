"""Sequential: layers run one after the other, errors that say which one failed."""

from __future__ import annotations

from typing import Iterator

import numpy as np

from .base import Layer, Shape, SummaryRow

__all__ = ["Sequential", "LayerError"]


class LayerError(Exception):
    """A bad input met a layer inside a model; the message names the layer.

    Raised as a subclass of both LayerError and the original exception's
    type (``LayerError`` and ``ValueError``, or ``LayerError`` and
    ``TypeError``), with the original as ``__cause__``: code that catches
    ``ValueError`` or ``TypeError`` keeps working, and a wrong dtype is never
    turned into a shape error.
    """


_LAYER_ERRORS: dict[type, type] = {}


def _layer_error_type(original: type) -> type:
    """The subclass of `original` and LayerError (made once per exception type)."""
    if issubclass(original, LayerError):
        return original
    if original not in _LAYER_ERRORS:
        # Named LayerError too, so that tracebacks and type(error).__name__ read the same
        # whatever the original type was.
        _LAYER_ERRORS[original] = type("LayerError", (LayerError, original),
                                       {"__module__": __name__, "__qualname__": "LayerError", "__doc__": LayerError.__doc__})
    return _LAYER_ERRORS[original]


def _wrap(index: int, name: str, layer: Layer, exc: Exception) -> Exception:
    label = f"layer {index}" if name == str(index) else f"layer {index} '{name}'"
    message = f"{label} ({layer.describe()}): {exc}"
    try:
        return _layer_error_type(type(exc))(message)
    except TypeError:  # an exception class whose constructor wants other arguments: keep it, add a note
        exc.add_note(message)
        return exc


def _layers_below(layer: Layer, path: str) -> Iterator[tuple[str, Layer]]:
    """`layer` and every layer inside it, with their paths."""
    yield path, layer
    for name, child in layer.children():
        yield from _layers_below(child, f"{path}.{name}")


class Sequential(Layer):
    """Layers applied in order; backward runs them in reverse.

    Parameters
    ----------
    *layers : Layer or (name, Layer)
        Unnamed layers are named by their index, as in torch, so parameter
        names look like ``"0.weight"`` or ``"conv1.weight"``.

    Raises
    ------
    ValueError
        If one layer object appears twice (directly or inside another
        layer). A layer keeps the input of its last forward pass and
        overwrites its gradients in backward, so a second use would give
        the first a wrong gradient; build a second layer instead (and copy
        the weights into it if they should start equal).

    Examples
    --------
    >>> from cnnlib.layers import Linear, ReLU, Sequential
    >>> net = Sequential(("fc1", Linear(4, 3)), ("relu", ReLU()), ("fc2", Linear(3, 2)))
    >>> net.output_shape((4,))
    (2,)
    """

    def __init__(self, *layers) -> None:
        super().__init__()
        if len(layers) == 1 and isinstance(layers[0], dict):
            layers = tuple(layers[0].items())
        self._layers: list[tuple[str, Layer]] = []
        for i, item in enumerate(layers):
            name, layer = item if isinstance(item, tuple) else (str(i), item)
            if not isinstance(layer, Layer):
                raise TypeError(f"item {i} of Sequential is a {type(layer).__name__}, not a Layer")
            if not isinstance(name, str) or not name or "." in name:
                raise ValueError(f"layer name {name!r} must be a non-empty string without dots")
            if any(name == other for other, _ in self._layers):
                raise ValueError(f"two layers are named {name!r}")
            self._layers.append((name, layer))
        seen: dict[int, str] = {}
        for name, layer in self._layers:
            for path, sub in _layers_below(layer, name):
                if id(sub) in seen:
                    raise ValueError(
                        f"layer {path!r} ({sub.describe()}) is the same object as layer {seen[id(sub)]!r}: a layer "
                        "used twice keeps only its last input and gradient, so backward would be wrong; "
                        "create a separate layer for each use"
                    )
                seen[id(sub)] = path

    # -- access ------------------------------------------------------------
    def children(self) -> list[tuple[str, Layer]]:
        return list(self._layers)

    def __len__(self) -> int:
        return len(self._layers)

    def __iter__(self) -> Iterator[Layer]:
        return (layer for _, layer in self._layers)

    def __getitem__(self, key: int | str) -> Layer:
        if isinstance(key, str):
            for name, layer in self._layers:
                if name == key:
                    return layer
            raise KeyError(f"no layer named {key!r}; layers: {[n for n, _ in self._layers]}")
        return self._layers[key][1]

    def describe(self) -> str:
        return f"{type(self).__name__} of {len(self)} layers"

    # -- computation -------------------------------------------------------
    @staticmethod
    def _step(index: int, name: str, layer: Layer, fn, *args):
        """``fn(*args)``; a ValueError or TypeError is re-raised, same type, naming the layer."""
        try:
            return fn(*args)
        except (ValueError, TypeError) as exc:
            wrapped = _wrap(index, name, layer, exc)
            if wrapped is exc:
                raise
            raise wrapped from exc

    def forward(self, x: np.ndarray) -> np.ndarray:
        for i, (name, layer) in enumerate(self._layers):
            x = self._step(i, name, layer, layer.forward, x)
        return x

    def backward(self, dout: np.ndarray) -> np.ndarray:
        for i, (name, layer) in reversed(list(enumerate(self._layers))):
            dout = self._step(i, name, layer, layer.backward, dout)
        return dout

    def backward_params(self, dout: np.ndarray) -> None:
        """:meth:`backward` without the input's gradient: the first layer skips its dx."""
        if type(self).backward is not Sequential.backward:  # a model with its own backward (GoogLeNet's aux heads)
            self.backward(dout)
            return
        for i, (name, layer) in reversed(list(enumerate(self._layers))):
            if i == 0:
                self._step(i, name, layer, layer.backward_params, dout)
            else:
                dout = self._step(i, name, layer, layer.backward, dout)

    def output_shape(self, input_shape: Shape) -> Shape:
        shape = tuple(input_shape)
        for i, (name, layer) in enumerate(self._layers):
            shape = self._step(i, name, layer, layer.output_shape, shape)
        return shape

    def trace(self, x: np.ndarray) -> list[tuple[str, np.ndarray]]:
        """Run forward and return every layer's output, by name (for feature-map figures)."""
        outputs = []
        for i, (name, layer) in enumerate(self._layers):
            x = self._step(i, name, layer, layer.forward, x)
            outputs.append((name, x))
        return outputs

    def summary_rows(self, input_shape: Shape, prefix: str = "", depth: int = 1) -> tuple[list[SummaryRow], Shape]:
        """Rows of a model summary and the output shape; `depth` levels of nesting are expanded."""
        if depth <= 0:
            return super().summary_rows(input_shape, prefix, depth)
        rows: list[SummaryRow] = []
        shape = tuple(input_shape)
        for i, (name, layer) in enumerate(self._layers):
            qualified = f"{prefix}.{name}" if prefix else name
            sub, shape = self._step(i, name, layer, layer.summary_rows, shape, qualified, depth - 1)
            rows += sub
            rows += self._rows_after(name, shape, prefix, depth)
        return rows, shape

    def _rows_after(self, name: str, shape: Shape, prefix: str, depth: int) -> list[SummaryRow]:
        """Summary rows of side branches that leave the trunk after layer `name` (none here)."""
        return []

