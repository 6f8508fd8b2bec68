"""The Inception module of GoogLeNet, with 1x1 dimension reductions.

Four branches see the same input and their outputs are stacked along the
channel axis:

    1x1 conv (c1)
    1x1 conv (c3_reduce) -> 3x3 conv (c3)
    1x1 conv (c5_reduce) -> 5x5 conv (c5)
    3x3 max pool, stride 1 -> 1x1 conv (pool_proj)

Every conv is followed by a ReLU and padded so the height and width stay
the same. The 1x1 "reduce" convolutions shrink the channels before the
expensive 3x3 and 5x5 filters: that is where GoogLeNet saves its parameters.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .._validation import as_int
from ..layers import Conv2d, Layer, MaxPool2d, ReLU, Sequential
from ..layers.base import Shape, SummaryRow, format_shape
from ..layers.container import _layer_error_type

__all__ = ["Inception"]


class Inception(Layer):
    """``(N, in_channels, H, W) -> (N, c1 + c3 + c5 + pool_proj, H, W)``.

    Parameters
    ----------
    in_channels, c1, c3_reduce, c3, c5_reduce, c5, pool_proj : int
        The columns of the GoogLeNet paper's Table 1, in its order
        ("#1x1", "#3x3 reduce", "#3x3", "#5x5 reduce", "#5x5", "pool proj").
    init, rng, dtype
        As for :class:`cnnlib.layers.Conv2d`.

    The branches are children named ``branch1`` .. ``branch4``.
    """

    def __init__(self, in_channels: int, c1: int, c3_reduce: int, c3: int, c5_reduce: int, c5: int, pool_proj: int,
                 init: str = "he", rng=None, dtype=np.float32) -> None:
        super().__init__()
        self.in_channels = as_int(in_channels, "in_channels", 1)
        kw: dict[str, Any] = dict(init=init, rng=rng, dtype=dtype)
        self.branches = [
            ("branch1", Sequential(("conv", Conv2d(in_channels, c1, 1, **kw)), ("relu", ReLU()))),
            ("branch2", Sequential(("reduce", Conv2d(in_channels, c3_reduce, 1, **kw)), ("relu_reduce", ReLU()),
                                   ("conv", Conv2d(c3_reduce, c3, 3, padding=1, **kw)), ("relu", ReLU()))),
            ("branch3", Sequential(("reduce", Conv2d(in_channels, c5_reduce, 1, **kw)), ("relu_reduce", ReLU()),
                                   ("conv", Conv2d(c5_reduce, c5, 5, padding=2, **kw)), ("relu", ReLU()))),
            ("branch4", Sequential(("pool", MaxPool2d(3, stride=1, padding=1)),
                                   ("proj", Conv2d(in_channels, pool_proj, 1, **kw)), ("relu", ReLU()))),
        ]
        self.out_channels = c1 + c3 + c5 + pool_proj
        self._splits: list[int] | None = None

    def children(self) -> list[tuple[str, Layer]]:
        return list(self.branches)

    def describe(self) -> str:
        return f"Inception {self.in_channels}->{self.out_channels}"

    def _check_channels(self, channels: int, shape) -> None:
        if channels != self.in_channels:
            raise ValueError(f"expected input with {self.in_channels} channels, got {shape}")

    def output_shape(self, input_shape: Shape) -> Shape:
        if len(input_shape) != 3:
            raise ValueError(f"expected a sample shape (C, H, W); got {format_shape(input_shape)}")
        self._check_channels(input_shape[0], f"sample shape {format_shape(input_shape)}")
        shapes = [branch.output_shape(input_shape) for _, branch in self.branches]
        return (sum(s[0] for s in shapes), *shapes[0][1:])

    def forward(self, x: np.ndarray) -> np.ndarray:
        if not isinstance(x, np.ndarray) or x.ndim != 4:
            raise ValueError(f"expected 4-D input (N, C, H, W); got {getattr(x, 'shape', type(x).__name__)}")
        self._check_channels(x.shape[1], x.shape)
        outs = []
        for name, branch in self.branches:
            try:
                outs.append(branch.forward(x))
            except (ValueError, TypeError) as exc:  # same type, cause kept, branch named
                raise _layer_error_type(type(exc))(f"{name}: {exc}") from exc
        self._splits = [o.shape[1] for o in outs]
        return np.concatenate(outs, axis=1)

    def backward(self, dout: np.ndarray) -> np.ndarray:
        splits = self._need_forward(self._splits)
        # The input fed all four branches, so its gradient is the sum of theirs.
        parts = np.split(dout, np.cumsum(splits)[:-1], axis=1)
        dx: np.ndarray | None = None
        for (_, branch), part in zip(self.branches, parts):
            grad = branch.backward(np.ascontiguousarray(part))
            dx = grad if dx is None else dx + grad
        assert dx is not None  # four branches
        return dx

    def summary_rows(self, input_shape: Shape, prefix: str = "", depth: int = 1) -> tuple[list[SummaryRow], Shape]:
        out = self.output_shape(input_shape)
        if depth <= 0:
            return [(prefix or "Inception", self.describe(), out, self.num_params())], out
        rows: list[SummaryRow] = []
        for name, branch in self.branches:
            rows += branch.summary_rows(input_shape, f"{prefix}.{name}" if prefix else name, depth - 1)[0]
        return rows, out
