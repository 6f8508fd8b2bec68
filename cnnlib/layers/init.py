"""Seeded weight initialisers: He (for ReLU) and Xavier/Glorot (for tanh, sigmoid).

Both scale random weights by the number of inputs of a unit (``fan_in``:
``C*KH*KW`` for a conv filter, ``in_features`` for a dense unit) so that
the variance of the activations neither explodes nor dies out with depth.

* He et al. (2015): normal with variance ``2 / fan_in`` -- ReLU zeroes half
  of its inputs, and the factor 2 makes up for it.
* Glorot and Bengio (2010): uniform on ``[-a, a]`` with
  ``a = sqrt(6 / (fan_in + fan_out))``, variance ``2 / (fan_in + fan_out)``.
"""

from __future__ import annotations

import numpy as np

__all__ = ["he_normal", "xavier_uniform", "init_weight", "INITIALISERS"]


def he_normal(shape: tuple[int, ...], fan_in: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Normal(0, 2 / fan_in) weights of `shape`."""
    std = np.sqrt(2.0 / fan_in)
    return (rng.standard_normal(shape) * std).astype(dtype)


def xavier_uniform(shape: tuple[int, ...], fan_in: int, fan_out: int, rng: np.random.Generator, dtype=np.float32) -> np.ndarray:
    """Uniform(-a, a) weights of `shape`, ``a = sqrt(6 / (fan_in + fan_out))``."""
    limit = np.sqrt(6.0 / (fan_in + fan_out))
    return rng.uniform(-limit, limit, size=shape).astype(dtype)


INITIALISERS = ("he", "xavier")


def init_weight(shape: tuple[int, ...], fan_in: int, fan_out: int, method: str, rng: np.random.Generator, dtype) -> np.ndarray:
    """Dispatch on `method` ("he" or "xavier")."""
    if method == "he":
        return he_normal(shape, fan_in, rng, dtype)
    if method == "xavier":
        return xavier_uniform(shape, fan_in, fan_out, rng, dtype)
    raise ValueError(f"init must be one of {INITIALISERS}; got {method!r}")
