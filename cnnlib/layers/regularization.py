"""Dropout and local response normalisation (AlexNet's two regularisers)."""

from __future__ import annotations

import numpy as np

from .._validation import as_int, as_real
from .base import Layer, Shape, as_rng

__all__ = ["Dropout", "LocalResponseNorm"]


class Dropout(Layer):
    """Zero each activation with probability `p` while training.

    "Inverted" dropout, as in torch: the kept activations are scaled by
    ``1 / (1 - p)`` during training, so the expected activation is the same
    in both modes and evaluation is the identity. (The AlexNet paper instead
    multiplied the outputs by 0.5 at test time; the two are equivalent in
    expectation.)

    Parameters
    ----------
    p : float in [0, 1)
    rng : numpy Generator or int seed, optional
        Draws the masks, so a seeded model drops the same units every run.
    """

    def __init__(self, p: float = 0.5, rng=None) -> None:
        super().__init__()
        self.p = as_real(p, "p", minimum=0.0, below=1.0)  # a probability in [0, 1)
        self.rng = as_rng(rng)
        self._mask: np.ndarray | None = None

    def describe(self) -> str:
        return f"Dropout p={self.p:g}"

    def output_shape(self, input_shape: Shape) -> Shape:
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not self.training or self.p == 0:
            self._mask = np.ones((1,) * x.ndim, dtype=x.dtype)
            return x
        keep = self.rng.random(x.shape, dtype=np.float32) >= self.p
        self._mask = keep.astype(x.dtype) / x.dtype.type(1 - self.p)
        return x * self._mask

    def backward(self, dout: np.ndarray) -> np.ndarray:
        self._need_forward(self._mask)
        return dout * self._mask


def _channel_window_sum(a: np.ndarray, size: int, before: int) -> np.ndarray:
    """Sum over a window of `size` channels starting `before` channels earlier (zeros outside)."""
    c = a.shape[1]
    padded = np.pad(a, [(0, 0), (before, size - 1 - before)] + [(0, 0)] * (a.ndim - 2))
    out = np.zeros_like(a)
    for shift in range(size):
        out += padded[:, shift:shift + c]
    return out


class LocalResponseNorm(Layer):
    """Normalise each activation by the energy of its neighbouring channels.

    ``y_c = x_c / (k + alpha / size * sum_{c' near c} x_{c'}^2) ** beta``,
    the window being channels ``c - size//2 .. c + (size-1)//2``. This is
    torch's ``nn.LocalResponseNorm``: note ``alpha / size``, a *mean* of
    squares. The AlexNet paper (size 5, alpha 1e-4, beta 0.75, k 2)
    multiplies the *sum* by alpha, so the paper's layer is this one with
    ``alpha = 5 * 1e-4``.

    Works on ``(N, C, ...)`` input; no parameters. `alpha`, `beta` and `k`
    must be positive and finite: ``k > 0`` keeps the divisor away from 0, and
    a negative `alpha` could make it negative (a NaN after the power).
    """

    def __init__(self, size: int, alpha: float = 1e-4, beta: float = 0.75, k: float = 1.0) -> None:
        super().__init__()
        self.size = as_int(size, "size", 1)
        self.alpha = as_real(alpha, "alpha", positive=True)
        self.beta = as_real(beta, "beta", positive=True)
        self.k = as_real(k, "k", positive=True)
        self._cache: tuple[np.ndarray, np.ndarray] | None = None

    def describe(self) -> str:
        return f"LocalResponseNorm size={self.size}"

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) < 1:
            raise ValueError(f"expected a sample with a channel axis; got shape {tuple(input_shape)}")
        return tuple(input_shape)

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim < 2:
            raise ValueError(f"expected input (N, C, ...); got {getattr(x, 'shape', type(x).__name__)}")
        scale = self.k + (self.alpha / self.size) * _channel_window_sum(x * x, self.size, self.size // 2)
        self._cache = (x, scale)
        return x * scale ** -self.beta

    def backward(self, dout: np.ndarray) -> np.ndarray:
        x, scale = self._need_forward(self._cache)
        # x_j appears in the scale of every channel whose window holds j: the
        # transposed window, which starts size-1-size//2 channels earlier.
        inner = dout * x * scale ** (-self.beta - 1)
        spread = _channel_window_sum(inner, self.size, self.size - 1 - self.size // 2)
        return dout * scale ** -self.beta - (2 * self.alpha * self.beta / self.size) * x * spread
