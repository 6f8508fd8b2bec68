"""The layer contract: forward, backward, named parameters, train/eval mode.

A layer is an object with

* ``forward(x)`` -- computes the output and keeps what ``backward`` needs;
* ``backward(dout)`` -- takes dL/d(output), *overwrites* ``grads`` (same
  keys as ``params``) with the gradient of this pass and returns
  dL/d(input). Gradients never accumulate across calls, so no
  ``zero_grad`` is needed between training steps; ``zero_grad`` sets every
  gradient to zero, so that an optimiser step leaves alone the parameters
  that took no part in the last backward pass (e.g. GoogLeNet's auxiliary
  heads when no auxiliary loss is given). A layer object is used once per
  model (``Sequential`` refuses a second use);
* ``params`` / ``grads`` -- dicts of named arrays (``"weight"``, ``"bias"``);
* ``output_shape(input_shape)`` -- the shape of one output sample, computed
  from the shape of one input sample without running the layer, so that a
  model summary of AlexNet costs nothing;
* ``training`` -- switched by ``train()`` and ``eval()`` (dropout uses it).

Shapes in ``output_shape`` leave out the batch axis: ``(C, H, W)`` for
images, ``(features,)`` for vectors.
"""

from __future__ import annotations

from typing import Iterator, TypeVar

import numpy as np

from .._validation import as_bool, as_param_dtype

__all__ = ["Layer", "Shape", "SummaryRow", "as_rng", "format_shape", "checked_parameter"]

Shape = tuple[int, ...]
T = TypeVar("T")
# (qualified name, description, output shape of one sample, parameter count)
SummaryRow = tuple[str, str, Shape, int]


def as_rng(rng: np.random.Generator | int | None) -> np.random.Generator:
    """A NumPy Generator from a Generator, a seed, or None (seed 0).

    None means seed 0, not fresh entropy: every weight in the course is
    reproducible unless a learner asks otherwise.
    """
    if isinstance(rng, np.random.Generator):
        return rng
    if rng is None:
        return np.random.default_rng(0)
    if isinstance(rng, (bool, np.bool_)) or not isinstance(rng, (int, np.integer)):
        raise TypeError(f"rng must be a numpy Generator, an int seed or None; got {type(rng).__name__}")
    return np.random.default_rng(int(rng))


def checked_parameter(name: str, value, target: np.ndarray) -> np.ndarray:
    """`value` as an array of the dtype and shape of parameter `target`, or a clear error naming `name`."""
    value = np.asarray(value)
    if value.dtype.kind not in "iuf":
        raise TypeError(f"parameter {name!r}: dtype {value.dtype} cannot be loaded; expected real numbers")
    if value.shape != target.shape:
        raise ValueError(f"parameter {name!r}: model has shape {target.shape}, state dict has {value.shape}")
    if value.size and not np.isfinite(value).all():
        bad = int(value.size - np.count_nonzero(np.isfinite(value)))
        raise ValueError(f"parameter {name!r}: {bad} NaN or infinite value(s)")
    with np.errstate(over="ignore"):
        converted = value.astype(target.dtype)
    if converted.size and not np.isfinite(converted).all():
        largest = float(np.max(np.abs(value)))
        raise ValueError(f"parameter {name!r}: values up to {largest:.3g} do not fit in {target.dtype}")
    return converted


def format_shape(shape) -> str:
    """``(30, 24, 24)`` -- a shape as torch and NumPy print it."""
    shape = tuple(int(s) for s in shape)
    return f"({shape[0]},)" if len(shape) == 1 else str(shape)


class Layer:
    """Base class of every layer and container.

    Subclasses set ``self.params`` (and matching zero ``self.grads``) in
    ``__init__`` and implement ``forward``, ``backward``, ``output_shape``
    and ``describe``. Containers also override ``children``.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        # State that is saved and loaded but not learned (BatchNorm's
        # running statistics), as torch's buffers.
        self.buffers: dict[str, np.ndarray] = {}
        self.training = True

    # -- the computation -------------------------------------------------
    def forward(self, x: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward(self, dout: np.ndarray) -> np.ndarray:
        raise NotImplementedError

    def backward_params(self, dout: np.ndarray) -> None:
        """Backward for the parameters' gradients only, when the input needs no gradient.

        What a training step calls on a network, whose input is the data:
        ``grads`` are filled exactly as by :meth:`backward`, and nothing is
        returned. Layers that can skip work override it (:class:`Conv2d`
        skips dx, :class:`Sequential` passes it to its first layer); the
        default runs :meth:`backward` and drops dx.
        """
        self.backward(dout)

    def __call__(self, x: np.ndarray) -> np.ndarray:
        return self.forward(x)

    def output_shape(self, input_shape: Shape) -> Shape:
        """Shape of one output sample for one input sample of `input_shape`."""
        raise NotImplementedError

    # -- description -----------------------------------------------------
    def describe(self) -> str:
        """Short text naming the layer and its sizes, e.g. ``Linear 4320->100``."""
        return type(self).__name__

    def __repr__(self) -> str:
        return f"<{self.describe()}>"

    def summary_rows(self, input_shape: Shape, prefix: str = "", depth: int = 1) -> tuple[list[SummaryRow], Shape]:
        """Rows for :func:`cnnlib.models.summary` and the output shape.

        A plain layer is one row; containers expand `depth` levels of nesting.
        """
        out = self.output_shape(input_shape)
        return [(prefix or type(self).__name__, self.describe(), out, self.num_params())], out

    # -- the tree of layers ------------------------------------------------
    def children(self) -> list[tuple[str, Layer]]:
        """Named sub-layers, in forward order (empty for a plain layer)."""
        return []

    def parameters(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray, np.ndarray]]:
        """Yield ``(qualified_name, array, grad)`` for every parameter.

        Names join the path with dots, as torch does (``"conv1.weight"``),
        so that a state dict can be loaded into an equivalent torch model.
        """
        for key, value in self.params.items():
            yield prefix + key, value, self.grads[key]
        for name, child in self.children():
            yield from child.parameters(prefix + name + ".")

    def named_buffers(self, prefix: str = "") -> Iterator[tuple[str, np.ndarray]]:
        """Yield ``(qualified_name, array)`` for every buffer, named like :meth:`parameters`."""
        for key, value in getattr(self, "buffers", {}).items():
            yield prefix + key, value
        for name, child in self.children():
            yield from child.named_buffers(prefix + name + ".")

    def num_params(self) -> int:
        """Number of learnable scalars in this layer and its children."""
        return sum(int(p.size) for _, p, _ in self.parameters())

    def state_dict(self) -> dict[str, np.ndarray]:
        """Every parameter and buffer by qualified name (the arrays themselves, not copies)."""
        state = {name: value for name, value, _ in self.parameters()}
        state.update(self.named_buffers())
        return state

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Copy arrays into the parameters, in place, all or nothing.

        Every name, shape, dtype and value is checked before anything is
        assigned: names and shapes must match exactly; values must be real
        (no complex, bool or object arrays), finite, and representable in
        the parameter's dtype (a float64 1e300 does not fit in float32).
        Raises ``KeyError``, ``ValueError`` or ``TypeError`` naming the
        parameter, with the model unchanged.
        """
        own = self.state_dict()
        missing = sorted(set(own) - set(state))
        unexpected = sorted(set(state) - set(own))
        if missing or unexpected:
            raise KeyError(f"state dict does not match the model: missing {missing}, unexpected {unexpected}")
        checked = {name: checked_parameter(name, state[name], target) for name, target in own.items()}
        for name, target in own.items():
            target[...] = checked[name]

    def zero_grad(self) -> None:
        """Set every gradient to zero (see the module docstring: backward overwrites, never adds)."""
        for _, _, grad in self.parameters():
            grad[...] = 0

    def astype(self, dtype) -> Layer:
        """Convert every parameter (and gradient) to `dtype`, in place; returns self.

        float64 is for gradient checks; float32 (the default) for training.
        """
        dtype = as_param_dtype(dtype)
        for key in self.params:
            self.params[key] = self.params[key].astype(dtype)
            self.grads[key] = self.grads[key].astype(dtype)
        for key, value in getattr(self, "buffers", {}).items():
            if value.dtype.kind == "f":  # counters stay integers
                self.buffers[key] = value.astype(dtype)
        for _, child in self.children():
            child.astype(dtype)
        return self

    # -- modes ---------------------------------------------------------------
    def train(self, mode: bool = True) -> Layer:
        """Training mode (dropout active); returns self."""
        self.training = as_bool(mode, "mode")
        for _, child in self.children():
            child.train(mode)
        return self

    def eval(self) -> Layer:
        """Evaluation mode (dropout off); returns self."""
        return self.train(False)

    # -- helpers for subclasses ------------------------------------------------
    def _add_param(self, name: str, value: np.ndarray) -> None:
        self.params[name] = value
        self.grads[name] = np.zeros_like(value)

    def _need_forward(self, cache: T | None) -> T:
        """`cache` (what forward kept for backward), or a clear error if forward never ran."""
        if cache is None:
            raise RuntimeError(f"{self.describe()}: backward called before forward")
        return cache
