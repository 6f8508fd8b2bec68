"""Save and load a model's weights as a NumPy ``.npz`` archive.

The archive maps each qualified parameter name (``"conv1.weight"``) to its
array, dtype and all, so loading gives back bit-identical weights. It holds
no code: build the same model first, then load the weights into it.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from ..layers.base import Layer

__all__ = ["save_weights", "load_weights"]


def save_weights(model: Layer, path: str | Path) -> Path:
    """Write every parameter of `model` to `path` (``.npz`` is added if missing).

    Returns the path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    state = model.state_dict()
    if not state:
        raise ValueError(f"{model.describe()} has no parameters to save")
    np.savez(path, **state)
    return path


def load_weights(model: Layer, path: str | Path) -> Layer:
    """Copy the weights in `path` into `model`, in place; returns the model.

    Raises ``KeyError`` if parameter names differ and ``ValueError`` if a
    shape differs -- the model must be built exactly as the saved one was.
    """
    with np.load(Path(path), allow_pickle=False) as archive:
        state = {name: archive[name] for name in archive.files}
    model.load_state_dict(state)
    return model
