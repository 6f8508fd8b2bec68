"""Training: optimisers, the Trainer, and saving weights.

``Adam(model, lr=0.001)`` updates the parameters of `model` from their
gradients; ``Trainer(model, optimizer, batch_size=100).fit(x, y, epochs)``
runs the mini-batch loop with a progress bar and keeps a per-epoch history;
``save_weights`` / ``load_weights`` store the weights in a ``.npz`` file.
"""

from .checkpoint import load_weights, save_weights
from .optimizers import SGD, Adam, Momentum, Optimizer
from .trainer import Trainer

__all__ = ["Optimizer", "SGD", "Momentum", "Adam", "Trainer", "save_weights", "load_weights"]
