"""Optimisers: how a step turns gradients into parameter updates.

Each optimiser holds the model and reads ``model.parameters()`` at every
step, updating the parameter arrays *in place*. The update rules are
torch's (``torch.optim.SGD`` with and without momentum, ``torch.optim.Adam``),
so the tests can compare step by step.

* SGD: ``p -= lr * g``
* Momentum: ``v = mu * v + g;  p -= lr * v`` -- a velocity that averages
  recent gradients (Saito's ``Momentum`` keeps ``-lr * v`` instead, the
  same update for a fixed learning rate).
* Adam (Kingma and Ba, 2015): running means of ``g`` and ``g^2``, corrected
  for their start at zero; each parameter gets its own step size
  ``lr * m_hat / (sqrt(v_hat) + eps)``.
"""

from __future__ import annotations

import numpy as np

from .._validation import as_real
from ..functional import elementwise
from ..layers.base import Layer

__all__ = ["Optimizer", "SGD", "Momentum", "Adam"]


class Optimizer:
    """Base class: ``step()`` updates every parameter of `model` from its gradient."""

    def __init__(self, model: Layer, lr: float) -> None:
        if not hasattr(model, "parameters"):
            raise TypeError(f"model must be a cnnlib layer or model (with .parameters()); got {type(model).__name__}")
        self.model = model
        self.lr = as_real(lr, "lr", positive=True)
        self.state: dict[str, dict[str, np.ndarray]] = {}
        self.steps = 0

    def step(self) -> None:
        self.steps += 1
        for name, param, grad in self.model.parameters():
            self._update(name, param, grad.astype(param.dtype, copy=False))

    def _update(self, name: str, param: np.ndarray, grad: np.ndarray) -> None:
        raise NotImplementedError

    def __repr__(self) -> str:
        return f"<{type(self).__name__} lr={self.lr:g}>"


class SGD(Optimizer):
    """Plain stochastic gradient descent: ``p -= lr * g``."""

    def __init__(self, model: Layer, lr: float = 0.01) -> None:
        super().__init__(model, lr)

    def _update(self, name, param, grad) -> None:
        param -= self.lr * grad


class Momentum(Optimizer):
    """SGD with momentum (torch's form): ``v = momentum * v + g;  p -= lr * v``."""

    def __init__(self, model: Layer, lr: float = 0.01, momentum: float = 0.9) -> None:
        super().__init__(model, lr)
        self.momentum = as_real(momentum, "momentum", minimum=0.0, below=1.0)

    def _update(self, name, param, grad) -> None:
        state = self.state.get(name)
        if state is None:
            # torch starts the velocity at the first gradient
            state = self.state[name] = {"velocity": grad.copy()}
        else:
            state["velocity"] *= self.momentum
            state["velocity"] += grad
        param -= self.lr * state["velocity"]


class Adam(Optimizer):
    """Adam, with torch's defaults (betas 0.9 and 0.999, eps 1e-8).

    ``m = b1 m + (1 - b1) g``, ``v = b2 v + (1 - b2) g^2``,
    ``p -= lr / (1 - b1^t) * m / (sqrt(v) / sqrt(1 - b2^t) + eps)``.
    """

    def __init__(self, model: Layer, lr: float = 0.001, betas: tuple[float, float] = (0.9, 0.999), eps: float = 1e-8) -> None:
        super().__init__(model, lr)
        if not isinstance(betas, (tuple, list)) or len(betas) != 2:
            raise TypeError(f"betas must be a pair (beta1, beta2); got {betas!r}")
        self.betas = (as_real(betas[0], "betas[0]", minimum=0.0, below=1.0),
                      as_real(betas[1], "betas[1]", minimum=0.0, below=1.0))
        self.eps = as_real(eps, "eps", positive=True)

    def _update(self, name, param, grad) -> None:
        b1, b2 = self.betas
        state = self.state.get(name)
        if state is None:
            state = self.state[name] = {"m": np.zeros_like(param), "v": np.zeros_like(param)}
        m, v = state["m"], state["v"]
        t = self.steps
        step_size = self.lr / (1 - b1 ** t)
        if elementwise.fused_applies(param, grad, m, v):
            # the same expression in one pass, bit-identical (cnnlib.functional.elementwise)
            elementwise.adam_update(param, grad, m, v, b1, b2, step_size, np.sqrt(1 - b2 ** t), self.eps)
            return
        m *= b1
        m += (1 - b1) * grad
        v *= b2
        v += (1 - b2) * grad * grad
        denom = np.sqrt(v) / np.sqrt(1 - b2 ** t) + self.eps
        param -= step_size * m / denom
