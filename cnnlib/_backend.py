"""Which implementation runs: the backend registry.

Backends are modules with the same functions and signatures (see
``cnnlib.functional.naive`` for the reference contract). They are imported
on first use by name, so that importing cnnlib does not compile numba
kernels a learner never calls, and so that low modules (``cnnlib.im2col``)
can dispatch to a backend without importing ``cnnlib.functional``.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from types import ModuleType
from typing import Iterator

BACKENDS = {
    "naive": "cnnlib.functional.naive",
    "im2col": "cnnlib.functional.im2col_backend",
    "numba": "cnnlib.functional.numba_backend",
}

_default = "numba"


def get_backend() -> str:
    """Name of the backend used when a function is called with ``backend=None``."""
    return _default


def set_backend(name: str) -> None:
    """Set the default backend: ``"naive"``, ``"im2col"`` or ``"numba"``."""
    global _default
    _check_name(name)
    _default = name


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager: run a block with another default backend."""
    global _default
    _check_name(name)
    previous, _default = _default, name
    try:
        yield
    finally:
        _default = previous


def resolve(name: str | None) -> ModuleType:
    """The backend module for `name` (None means the default)."""
    name = _default if name is None else name
    _check_name(name)
    return importlib.import_module(BACKENDS[name])


def _check_name(name: object) -> None:
    if name not in BACKENDS:
        raise ValueError(f"backend must be one of {sorted(BACKENDS)}; got {name!r}")
