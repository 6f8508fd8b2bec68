"""Trainer: mini-batches, a progress bar, history, evaluation.

One epoch visits every training image once, in a new random order drawn
from the trainer's seeded generator, in mini-batches of `batch_size`; each
batch is one forward pass, one backward pass and one optimiser step.
"""

from __future__ import annotations

import sys
import time

import numpy as np
from tqdm import tqdm

from .._validation import as_bool, as_int
from ..layers.base import Layer, as_rng
from ..layers.loss import SoftmaxCrossEntropy, labels_as_indices
from .optimizers import Optimizer

__all__ = ["Trainer"]

_NEVER = 1e9  # seconds: longer than any training run


def _is_terminal(stream) -> bool:
    try:
        return stream.isatty()
    except (AttributeError, ValueError):
        return False

HISTORY_KEYS = ("epoch", "train_loss", "train_acc", "val_loss", "val_acc", "seconds")


def _check_data(x, y, what: str) -> tuple[np.ndarray, np.ndarray]:
    if not isinstance(x, np.ndarray) or not isinstance(y, np.ndarray):
        raise TypeError(f"{what}: images and labels must be NumPy arrays")
    if len(x) != len(y) or len(x) == 0:
        raise ValueError(f"{what}: {len(x)} images but {len(y)} labels (need the same number, at least 1)")
    return x, y


class Trainer:
    """Train a classifier with mini-batch gradient descent.

    Parameters
    ----------
    model : Layer
        Maps a batch of inputs to ``(N, K)`` logits.
    optimizer : Optimizer
        Built on the same model, e.g. ``Adam(model, lr=0.001)``.
    loss : SoftmaxCrossEntropy, optional
    batch_size : int
        SimpleConvNet's training in chapter 8 uses 100.
    seed : int or numpy Generator
        Seeds the order of the batches.
    progress : bool
        Show a tqdm progress bar per epoch, on stderr.
    progress_interval : float, optional
        Seconds between redraws of the bar. By default 0.5 on a terminal;
        elsewhere (a notebook, a log file) the bar is drawn once, complete,
        when the epoch ends, so that saved outputs hold one line per epoch
        instead of every intermediate state. Pass e.g. 0.5 for a live bar
        in JupyterLab.
    eval_batch_size : int
        Batch size of :meth:`evaluate` and :meth:`predict` (memory only).

    Attributes
    ----------
    history : dict of lists
        Per epoch: ``epoch``, ``train_loss`` and ``train_acc`` (averaged
        over the epoch's mini-batches, in training mode, as the weights
        changed), ``val_loss`` and ``val_acc`` (after the epoch, in
        evaluation mode; NaN without validation data) and ``seconds``.
    """

    def __init__(self, model: Layer, optimizer: Optimizer, loss: SoftmaxCrossEntropy | None = None,
                 batch_size: int = 100, seed=0, progress: bool = True, eval_batch_size: int = 1000,
                 progress_interval: float | None = None) -> None:
        if not isinstance(model, Layer):
            raise TypeError(f"model must be a cnnlib Layer; got {type(model).__name__}")
        if not isinstance(optimizer, Optimizer):
            raise TypeError(f"optimizer must be a cnnlib Optimizer; got {type(optimizer).__name__}")
        if optimizer.model is not model:
            raise ValueError("the optimizer was built on another model: it would update the wrong weights")
        self.model = model
        self.optimizer = optimizer
        self.loss = SoftmaxCrossEntropy() if loss is None else loss
        self.batch_size = as_int(batch_size, "batch_size", 1)
        self.eval_batch_size = as_int(eval_batch_size, "eval_batch_size", 1)
        self.rng = as_rng(seed)
        self.progress = as_bool(progress, "progress")
        if progress_interval is not None and not progress_interval > 0:
            raise ValueError(f"progress_interval must be a positive number of seconds; got {progress_interval!r}")
        self.progress_interval = progress_interval
        self.history: dict[str, list] = {key: [] for key in HISTORY_KEYS}

    # -- training -------------------------------------------------------------
    def train_step(self, x: np.ndarray, y: np.ndarray) -> tuple[float, int]:
        """One forward, backward and update on a batch; returns (loss, number correct)."""
        logits = self.model.forward(x)
        value = self.loss.forward(logits, y)
        self.model.backward_params(self.loss.backward())  # the data need no gradient: the first layer skips dx
        self.optimizer.step()
        correct = int((logits.argmax(axis=1) == labels_as_indices(y, *logits.shape)).sum())
        return value, correct

    def fit(self, x: np.ndarray, y: np.ndarray, epochs: int = 1, validation: tuple[np.ndarray, np.ndarray] | None = None) -> dict[str, list]:
        """Train for `epochs` more epochs; returns (and extends) :attr:`history`.

        Parameters
        ----------
        x : (N, ...) array
        y : (N,) int labels or (N, K) one-hot
        epochs : int
        validation : (x_val, y_val), optional
            Evaluated after every epoch.
        """
        x, y = _check_data(x, y, "training data")
        if validation is not None:
            _check_data(*validation, "validation data")
        epochs = as_int(epochs, "epochs", 1)
        n = len(x)
        n_batches = -(-n // self.batch_size)
        first = len(self.history["epoch"]) + 1
        for epoch in range(first, first + epochs):
            start = time.perf_counter()
            self.model.train()
            order = self.rng.permutation(n)
            total_loss, total_correct = 0.0, 0
            bar = self._progress_bar(n_batches, f"epoch {epoch}/{first + epochs - 1}")
            for b in range(n_batches):
                idx = order[b * self.batch_size:(b + 1) * self.batch_size]
                value, correct = self.train_step(x[idx], y[idx])
                total_loss += value * len(idx)
                total_correct += correct
                bar.update(1)
                if b % 10 == 9:
                    bar.set_postfix(loss=f"{value:.3f}", refresh=False)
            val_loss, val_acc = self.evaluate(*validation) if validation is not None else (float("nan"),) * 2
            seconds = time.perf_counter() - start
            record = dict(epoch=epoch, train_loss=total_loss / n, train_acc=total_correct / n,
                          val_loss=val_loss, val_acc=val_acc, seconds=seconds)
            for key in HISTORY_KEYS:
                self.history[key].append(record[key])
            postfix = dict(loss=f"{record['train_loss']:.3f}", acc=f"{record['train_acc']:.3f}")
            if validation is not None:
                postfix["val_acc"] = f"{val_acc:.3f}"
            bar.set_postfix(postfix, refresh=False)
            bar.delay = 0  # a bar held back by `delay` is drawn, complete, by close()
            bar.close()
        return self.history

    def _progress_bar(self, total: int, description: str) -> tqdm:
        interval = self.progress_interval
        if interval is None and not _is_terminal(sys.stderr):
            # Drawn once, by close(): `delay` also holds back the initial 0% line.
            return tqdm(total=total, desc=description, disable=not self.progress, file=sys.stderr, leave=True,
                        mininterval=_NEVER, delay=_NEVER, ascii=True)
        return tqdm(total=total, desc=description, disable=not self.progress, file=sys.stderr, leave=True,
                    mininterval=0.5 if interval is None else interval, ascii=True)

    # -- evaluation -------------------------------------------------------------
    def predict(self, x: np.ndarray) -> np.ndarray:
        """Logits ``(N, K)`` in evaluation mode (dropout off), in batches."""
        was_training = self.model.training
        self.model.eval()
        try:
            parts = [self.model.forward(x[i:i + self.eval_batch_size]) for i in range(0, len(x), self.eval_batch_size)]
        finally:
            self.model.train(was_training)
        return np.concatenate(parts)

    def evaluate(self, x: np.ndarray, y: np.ndarray) -> tuple[float, float]:
        """(mean loss, accuracy) on `x`, `y` in evaluation mode."""
        x, y = _check_data(x, y, "evaluation data")
        logits = self.predict(x)
        value = SoftmaxCrossEntropy().forward(logits, y)
        accuracy = float((logits.argmax(axis=1) == labels_as_indices(y, *logits.shape)).mean())
        return value, accuracy
