"""Which implementation runs: the backend registry and its contract.

A *backend* is any object (usually a module) with the eight functions of
:class:`Backend`. The contract is written once, here, as a
``typing.Protocol``; every registered backend is tested against it by one
suite (``tests/test_backend_contract.py`` and the per-backend tests that
``tests/helpers.BACKENDS`` parametrizes).

Backends are registered by name with :func:`register_backend`, either as an
object or as the dotted name of a module that is imported on first use, so
that importing cnnlib does not compile numba kernels a learner never calls,
and so that low modules (``cnnlib.im2col``) can dispatch to a backend
without importing ``cnnlib.functional``.

The default backend (used when a function is called with ``backend=None``)
lives in a :class:`contextvars.ContextVar`: :func:`use_backend` changes it
for one block, and only in the thread or asyncio task that runs the block;
:func:`set_backend` changes it for the rest of the current context. A new
thread starts with the library default, ``"numba"``; an asyncio task starts
with a copy of its creator's default.
"""

from __future__ import annotations

import importlib
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Iterator, Protocol, runtime_checkable

import numpy as np

__all__ = ["Backend", "register_backend", "registered_backends", "get_backend", "set_backend", "use_backend",
           "resolve"]

Pair = tuple[int, int]


@runtime_checkable
class Backend(Protocol):
    """The functions every backend provides, their shapes and guarantees.

    What a backend may assume (the public functions in
    :mod:`cnnlib.functional` and :mod:`cnnlib.im2col` check it first):

    * arrays are C-contiguous, native byte order, float32 or float64, all of
      one dtype, finite;
    * ``stride``, ``padding``, ``dilation`` and ``kernel`` are ``(h, w)``
      pairs of Python ints: stride, dilation, kernel >= 1, padding >= 0, and
      padding is symmetric (``padding="same"`` is resolved before);
    * the (dilated) kernel fits the padded input, so every output size
      ``O = (H + 2P - D(K - 1) - 1) // S + 1`` is at least 1; the batch N may
      be 0;
    * pooling padding is at most half the window, so every window holds at
      least one real pixel.

    What a backend guarantees:

    * results have the input dtype and are C-contiguous NumPy arrays that do
      not alias the inputs; inputs are never modified;
    * float64 results agree with torch to rtol 1e-10, float32 to rtol 1e-4
      (``tests/helpers.TOL``); max pooling and im2col, which only move
      values, agree exactly, and max-pool gradient ties go to the first
      maximum in row-major order (torch's rule);
    * the same input gives bit-identical output on every call, whatever the
      number of threads.

    Later additions (grouped convolution, ``conv_transpose2d``) will be
    declared here as further methods when a backend first implements them.
    """

    def conv2d(self, x: np.ndarray, weight: np.ndarray, bias: np.ndarray | None, stride: Pair, padding: Pair,
               dilation: Pair) -> np.ndarray:
        """``x (N, C, H, W)``, ``weight (F, C, KH, KW)``, ``bias (F,)`` or None -> ``y (N, F, OH, OW)``."""
        ...

    def conv2d_backward(self, dout: np.ndarray, x: np.ndarray, weight: np.ndarray, stride: Pair, padding: Pair,
                        dilation: Pair) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``dout (N, F, OH, OW)`` -> ``(dx (N, C, H, W), dweight (F, C, KH, KW), dbias (F,))``."""
        ...

    def max_pool2d(self, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair) -> np.ndarray:
        """``x (N, C, H, W)`` -> ``(N, C, OH, OW)``; padding is -inf."""
        ...

    def max_pool2d_backward(self, dout: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair,
                            padding: Pair) -> np.ndarray:
        """``dout (N, C, OH, OW)`` -> ``dx (N, C, H, W)``; overlapping windows add up."""
        ...

    def avg_pool2d(self, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair,
                   count_include_pad: bool) -> np.ndarray:
        """``x (N, C, H, W)`` -> ``(N, C, OH, OW)``; divisors from :func:`cnnlib._geometry.avg_pool_divisors`."""
        ...

    def avg_pool2d_backward(self, dout: np.ndarray, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair,
                            count_include_pad: bool) -> np.ndarray:
        """``dout (N, C, OH, OW)`` -> ``dx (N, C, H, W)``."""
        ...

    def im2col(self, x: np.ndarray, kernel: Pair, stride: Pair, padding: Pair, dilation: Pair) -> np.ndarray:
        """``x (N, C, H, W)`` -> ``col (N*OH*OW, C*KH*KW)``, rows (n, oh, ow), columns (c, kh, kw)."""
        ...

    def col2im(self, col: np.ndarray, x_shape: tuple[int, int, int, int], kernel: Pair, stride: Pair,
               padding: Pair, dilation: Pair) -> np.ndarray:
        """Adjoint of :meth:`im2col`: ``col`` -> ``(N, C, H, W)``, overlapping patches add up."""
        ...


CONTRACT = ("conv2d", "conv2d_backward", "max_pool2d", "max_pool2d_backward", "avg_pool2d", "avg_pool2d_backward",
            "im2col", "col2im")

# name -> a Backend, or the dotted name of a module not imported yet
_REGISTRY: dict[str, Backend | str] = {}

LIBRARY_DEFAULT = "numba"
_default: ContextVar[str] = ContextVar("cnnlib_backend", default=LIBRARY_DEFAULT)


def register_backend(name: str, backend: Backend | str, *, replace: bool = False) -> None:
    """Make `backend` available as ``backend=name`` and to :func:`use_backend`.

    Parameters
    ----------
    name : str
        A new name (e.g. ``"my-gpu"``); re-registering a name needs ``replace=True``.
    backend : Backend or str
        An object with every function of :class:`Backend`, or the dotted name
        of a module that has them, imported (and checked) on first use.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty string; got {name!r}")
    if not isinstance(replace, bool):
        raise TypeError(f"replace must be True or False; got {replace!r}")
    if name in _REGISTRY and not replace:
        raise ValueError(f"a backend named {name!r} is already registered; pass replace=True to replace it")
    if not isinstance(backend, str):
        _check_contract(name, backend)
    _REGISTRY[name] = backend


def registered_backends() -> list[str]:
    """Names of every registered backend, in registration order."""
    return list(_REGISTRY)


def get_backend() -> str:
    """Name of the backend used when a function is called with ``backend=None`` (in this context)."""
    return _default.get()


def set_backend(name: str) -> None:
    """Set the default backend for the rest of the current thread or asyncio task."""
    _check_name(name)
    _default.set(name)


@contextmanager
def use_backend(name: str) -> Iterator[None]:
    """Context manager: run a block with another default backend (this thread or task only)."""
    _check_name(name)
    token = _default.set(name)
    try:
        yield
    finally:
        _default.reset(token)


def resolve(name: str | None) -> Backend:
    """The backend registered as `name` (None means the current default)."""
    name = _default.get() if name is None else name
    _check_name(name)
    backend = _REGISTRY[name]
    if isinstance(backend, str):
        module = importlib.import_module(backend)
        _check_contract(name, module)
        backend = _REGISTRY[name] = module  # type: ignore[assignment]
    return backend  # type: ignore[return-value]


def _check_contract(name: str, backend: object) -> None:
    missing = [fn for fn in CONTRACT if not callable(getattr(backend, fn, None))]
    if missing:
        raise TypeError(f"backend {name!r} lacks {missing}; a backend needs every function of cnnlib._backend.Backend")


def _check_name(name: object) -> None:
    if not isinstance(name, str) or name not in _REGISTRY:
        raise ValueError(f"backend must be one of {registered_backends()}; got {name!r}")


register_backend("naive", "cnnlib.functional.naive")
register_backend("im2col", "cnnlib.functional.im2col_backend")
register_backend("numba", "cnnlib.functional.numba_backend")
