"""Softmax and the cross-entropy loss on top of it.

Softmax turns K scores (logits) into probabilities; cross-entropy is minus
the log of the probability given to the right class. Together their
gradient is remarkably simple:

    dL/dlogits = (softmax(logits) - onehot(labels)) / N

for the mean loss over a batch of N -- which is why the two are one layer.
"""

from __future__ import annotations

import numpy as np

__all__ = ["softmax", "log_softmax", "SoftmaxCrossEntropy", "labels_as_indices"]


def log_softmax(logits: np.ndarray) -> np.ndarray:
    """``log softmax`` along the last axis, computed without overflow."""
    shifted = logits - logits.max(axis=-1, keepdims=True)  # the largest becomes 0: exp cannot overflow
    return shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True))


def softmax(logits: np.ndarray) -> np.ndarray:
    """``exp(z_k) / sum_j exp(z_j)`` along the last axis."""
    return np.exp(log_softmax(logits))


def labels_as_indices(labels, n: int, k: int) -> np.ndarray:
    """Class indices ``(N,)`` from integer labels ``(N,)`` or one-hot rows ``(N, K)``."""
    labels = np.asarray(labels)
    if labels.ndim == 2:
        if labels.shape != (n, k):
            raise ValueError(f"one-hot labels have shape {labels.shape}; expected ({n}, {k})")
        return labels.argmax(axis=1)
    if labels.shape != (n,):
        raise ValueError(f"labels have shape {labels.shape}; expected ({n},) class indices or ({n}, {k}) one-hot")
    if labels.dtype.kind not in "iu":
        raise TypeError(f"labels must be integers (class indices); got dtype {labels.dtype}")
    if n and (labels.min() < 0 or labels.max() >= k):
        raise ValueError(f"labels must lie in 0..{k - 1}; got values from {labels.min()} to {labels.max()}")
    return labels


class SoftmaxCrossEntropy:
    """Mean cross-entropy of softmax(logits) against the labels.

    ``loss = SoftmaxCrossEntropy(); value = loss(logits, labels)`` then
    ``dlogits = loss.backward()``.

    Parameters of ``forward``
    -------------------------
    logits : (N, K) array
    labels : (N,) int class indices, or (N, K) one-hot
    """

    def __init__(self) -> None:
        self._cache: tuple[np.ndarray, np.ndarray] | None = None
        self.probs: np.ndarray | None = None

    def __repr__(self) -> str:
        return "<SoftmaxCrossEntropy>"

    def forward(self, logits: np.ndarray, labels) -> float:
        logits = np.asarray(logits)
        if logits.ndim != 2 or logits.shape[0] == 0:
            raise ValueError(f"logits must be (N, K) with N >= 1; got shape {logits.shape}")
        n, k = logits.shape
        idx = labels_as_indices(labels, n, k)
        logp = log_softmax(logits)
        self.probs = np.exp(logp)
        self._cache = (self.probs, idx)
        return float(-logp[np.arange(n), idx].mean())

    __call__ = forward

    def backward(self, dout: float = 1.0) -> np.ndarray:
        """dL/dlogits ``(N, K)``, times `dout` (the gradient of whatever uses the loss)."""
        if self._cache is None:
            raise RuntimeError("SoftmaxCrossEntropy: backward called before forward")
        probs, idx = self._cache
        n = probs.shape[0]
        grad = probs.copy()
        grad[np.arange(n), idx] -= 1
        return grad * (dout / n)
