"""LeNet-5 (LeCun, Bottou, Bengio and Haffner, 1998), in its common modern form.

    input 32x32 -> C1 conv 6@5x5 -> S2 subsampling 2x2 -> C3 conv 16@5x5
    -> S4 subsampling 2x2 -> C5 conv 120@5x5 -> F6 full 84 -> output 10

Three simplifications of the 1998 paper, each changing the parameter count
(chapter 9 counts both):

* S2 and S4 are plain 2x2 average pooling; the paper's subsampling units
  multiply the average by a trainable coefficient and add a trainable bias
  (2 parameters per map);
* C3 connects every S2 map to every C3 filter; the paper's table connects
  each C3 map to only 3, 4 or 6 of the 6 S2 maps (1,516 parameters instead
  of 2,416), to break symmetry and save computation;
* the output is a linear layer with softmax, not the paper's Euclidean
  radial basis function (RBF) units with hand-set targets.

MNIST digits are 28x28; the paper centres them in a 32x32 field, so pad
them by 2 pixels on every side (``np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)])``).
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..layers import AvgPool2d, Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential, Sigmoid, Tanh, as_rng

__all__ = ["LeNet5"]

_ACTIVATIONS = {"tanh": Tanh, "sigmoid": Sigmoid, "relu": ReLU}
_POOLS = {"avg": AvgPool2d, "max": MaxPool2d}


class LeNet5(Sequential):
    """LeNet-5 for 1x32x32 inputs.

    Parameters
    ----------
    activation : {"tanh", "sigmoid", "relu"}
        The paper uses a scaled tanh; many textbooks say sigmoid. Both work.
    pooling : {"avg", "max"}
        The paper's subsampling is an average.
    num_classes : int
    init : {"xavier", "he"}
        Xavier suits tanh and sigmoid.
    seed : int or numpy Generator
    dtype : float32 (default) or float64

    Layers are named after the paper: ``c1, act1, s2, c3, act3, s4, c5, act5,
    flatten, f6, act6, output``.
    """

    def __init__(self, activation: str = "tanh", pooling: str = "avg", num_classes: int = 10,
                 init: str = "xavier", seed=0, dtype=np.float32) -> None:
        if activation not in _ACTIVATIONS:
            raise ValueError(f"activation must be one of {sorted(_ACTIVATIONS)}; got {activation!r}")
        if pooling not in _POOLS:
            raise ValueError(f"pooling must be one of {sorted(_POOLS)}; got {pooling!r}")
        act, pool = _ACTIVATIONS[activation], _POOLS[pooling]
        rng = as_rng(seed)
        kw: dict[str, Any] = dict(init=init, rng=rng, dtype=dtype)
        super().__init__(
            ("c1", Conv2d(1, 6, 5, **kw)), ("act1", act()), ("s2", pool(2)),
            ("c3", Conv2d(6, 16, 5, **kw)), ("act3", act()), ("s4", pool(2)),
            ("c5", Conv2d(16, 120, 5, **kw)), ("act5", act()), ("flatten", Flatten()),
            ("f6", Linear(120, 84, **kw)), ("act6", act()),
            ("output", Linear(84, num_classes, **kw)),
        )
        self.activation, self.pooling = activation, pooling

    def describe(self) -> str:
        return f"LeNet5 ({self.activation}, {self.pooling} pooling)"
