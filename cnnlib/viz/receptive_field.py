"""Receptive-field growth through a stack of layers, drawn on the input grid.

Unit (0, 0) of layer k (no padding) depends on the input rows and columns
``0 .. r_l - 1``, where ``r_l`` is :func:`cnnlib.shapes.receptive_field`'s
answer; the figure outlines one such square per layer, nested, on a grid of
input pixels.
"""

from __future__ import annotations

from typing import Sequence

import matplotlib.pyplot as plt
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from .._validation import as_int
from ..shapes import receptive_field
from ._grid import EDGE
from ._style import MAX_WIDTH_IN, set_alt
from ._tables import color, tint

__all__ = ["plot_receptive_field", "layer_specs"]

_TEXT_PT = 9.5
_LINE = 0.24  # inches per legend line


def layer_specs(layers: Sequence) -> list[tuple[int, int, int]]:
    """``(kernel_size, stride, dilation)`` per layer from tuples or cnnlib conv/pool layers.

    A layer object needs ``kernel_size`` and ``stride`` attributes (pairs or
    ints, the first axis is used); ``dilation`` defaults to 1.
    """
    specs = []
    for i, layer in enumerate(layers):
        if isinstance(layer, (tuple, list)):
            if len(layer) not in (2, 3):
                raise ValueError(f"layers[{i}] must be (kernel_size, stride) or (kernel_size, stride, dilation); "
                                 f"got {layer!r}")
            k, s, d = (*layer, 1) if len(layer) == 2 else layer
        elif hasattr(layer, "kernel_size") and hasattr(layer, "stride"):
            first = lambda v: v[0] if isinstance(v, (tuple, list)) else v  # noqa: E731
            k, s, d = first(layer.kernel_size), first(layer.stride), first(getattr(layer, "dilation", 1))
        else:
            raise TypeError(f"layers[{i}] must be a (kernel_size, stride) tuple or a conv/pool layer; "
                            f"got {type(layer).__name__}")
        specs.append((as_int(k, f"layers[{i}] kernel_size", 1), as_int(s, f"layers[{i}] stride", 1),
                      as_int(d, f"layers[{i}] dilation", 1)))
    if not specs:
        raise ValueError("layers must list at least one layer")
    return specs


def _describe(spec: tuple[int, int, int]) -> str:
    k, s, d = spec
    return f"{k}×{k}, stride {s}" + (f", dilation {d}" if d != 1 else "")


def plot_receptive_field(layers: Sequence, input_size: int, *, dpi: float = 100) -> Figure:
    """Nested squares: the input pixels one unit of each layer depends on.

    Parameters
    ----------
    layers : sequence of (kernel_size, stride[, dilation]) or conv/pool layers
        From the input upwards.
    input_size : int
        Side of the input grid drawn; at least the last receptive field.
    dpi : float

    Returns
    -------
    matplotlib.figure.Figure
        The input grid with one outlined square per layer (patch gids
        ``"field:<l>"``, side ``r_l`` cells) and a legend listing each
        layer and its receptive field.
    """
    specs = layer_specs(layers)
    input_size = as_int(input_size, "input_size", 1)
    fields = receptive_field(specs)
    if fields[-1] > input_size:
        raise ValueError(f"the last layer sees {fields[-1]}×{fields[-1]} input pixels, more than input_size "
                         f"{input_size}; draw a larger input or fewer layers")
    legend = [f"layer {k + 1} ({_describe(spec)}): sees {r}×{r}" for k, (spec, r) in enumerate(zip(specs, fields))]
    legend_w = 0.45 + max(len(line) for line in legend) * 0.075
    grid_in = min(4.2, MAX_WIDTH_IN - legend_w - 0.3, 0.32 * input_size)
    width = grid_in + legend_w + 0.3
    height = max(grid_in, _LINE * (len(legend) + 1)) + 0.75
    fig = plt.figure(figsize=(width, height), dpi=dpi)
    ax = fig.add_axes((0.1 / width, 0.15 / height, grid_in / width, grid_in / height))
    for k in reversed(range(len(fields))):  # largest first, so each smaller square stays visible
        r = fields[k]
        ax.add_patch(Rectangle((0, 0), r, r, facecolor=tint(color(k), 0.3), edgecolor="none"))
    for r in range(input_size):  # the pixel grid over the fills
        for c in range(input_size):
            ax.add_patch(Rectangle((c, r), 1, 1, fill=False, edgecolor="#9a9a9a", linewidth=0.5))
    for k in reversed(range(len(fields))):
        patch = Rectangle((0, 0), fields[k], fields[k], fill=False, edgecolor=color(k), linewidth=2.2)
        patch.set_gid(f"field:{k}")
        ax.add_patch(patch)
    ax.set_xlim(-0.05, input_size + 0.05)
    ax.set_ylim(input_size + 0.05, -0.05)
    ax.set_aspect("equal")
    ax.axis("off")
    fig.text(0.1 / width, 1 - 0.3 / height, f"Receptive field of unit (0, 0), on a {input_size}×{input_size} input",
             ha="left", va="center", fontsize=10, fontweight="bold")
    x0 = (grid_in + 0.3) / width
    for k, line in enumerate(legend):
        y = 1 - (0.75 + k * _LINE) / height
        fig.patches.append(Rectangle((x0, y - 0.06 / height), 0.16 / width, 0.12 / height, transform=fig.transFigure,
                                     facecolor=tint(color(k), 0.3), edgecolor=color(k), linewidth=1.5, figure=fig))
        fig.text(x0 + 0.25 / width, y, line, ha="left", va="center", fontsize=_TEXT_PT, color=EDGE)
    alt = (f"Receptive-field growth on a {input_size}×{input_size} input grid: nested squares anchored at the top-left "
           f"pixel show how many input pixels one unit sees after each of {len(fields)} layers: "
           + "; ".join(legend) + ".")
    return set_alt(fig, alt)
