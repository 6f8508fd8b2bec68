"""summary(model, input_shape): a table of output shapes, parameters and MACs.

Shapes come from each layer's ``output_shape`` -- nothing is convolved --
so summarising AlexNet at 227x227 is instant, and a wrong input size fails
with an error naming the first layer that cannot take it.

MACs (multiply-accumulates) per sample are counted for the layers that do
products of weights and inputs, as ``torch.utils.flop_counter`` does
(which reports FLOPs = 2 MACs): a convolution ``F (C / groups) K_H K_W O_H
O_W``, a dense layer ``in_features x out_features``, and any layer with a
``macs(input_shape)`` method (e.g. ConvTranspose2d). Biases, activations,
pooling and normalisation are not counted. Each leaf layer's input shape
is recorded while the table is built, so the count follows the same walk
as the shapes, through any container.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from .._validation import as_int
from ..layers.base import Layer, Shape, SummaryRow, format_shape
from ..layers.conv import Conv2d
from ..layers.dense import Linear

__all__ = ["summary", "Summary"]


@dataclass(frozen=True)
class Summary:
    """The rows of a model summary.

    Attributes
    ----------
    input_shape : tuple
        One sample, without the batch axis.
    rows : list of (name, description, output_shape, params)
    total_params : int
        Every parameter of the model (equal to the sum of the rows).
    macs : list of int
        Multiply-accumulates per sample of each row (empty: not counted).
    total_macs : int
        Their sum, the MACs of one forward pass of one sample.
    show_macs : bool
        Whether :meth:`table` prints the MAC column and total.
    """

    model_name: str
    input_shape: Shape
    rows: list[SummaryRow]
    total_params: int
    macs: list[int] = field(default_factory=list)
    total_macs: int = 0
    show_macs: bool = False

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1][2] if self.rows else self.input_shape

    def table(self) -> str:
        """The table as text (what :func:`summary` prints)."""
        with_macs = self.show_macs and len(self.macs) == len(self.rows) and bool(self.rows)
        header = ("Layer", "Type", "Output shape", "Params") + (("MACs",) if with_macs else ())
        body: list[tuple[str, ...]] = [(name, desc, format_shape(shape), f"{params:,}") for name, desc, shape, params in self.rows]
        if with_macs:
            body = [row + (_short(m),) for row, m in zip(body, self.macs)]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(len(header))]
        def line(r):
            cells = [f"{r[0]:<{widths[0]}}", f"{r[1]:<{widths[1]}}"] + [f"{v:>{w}}" for v, w in zip(r[2:], widths[2:])]
            return "  ".join(cells)
        rule = "-" * (sum(widths) + 2 * (len(widths) - 1))
        lines = [f"{self.model_name}, input {format_shape(self.input_shape)}", rule, line(header), rule]
        lines += [line(r) for r in body]
        lines += [rule, f"Total params: {self.total_params:,}"]
        if with_macs:
            lines.append(f"Total MACs: {self.total_macs:,} per sample")
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return f"<Summary of {self.model_name}: {len(self.rows)} rows, {self.total_params:,} parameters>"


def _short(n: int) -> str:
    """1,234,567 -> "1.23M": three significant digits keep the column narrow."""
    for scale, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "K")):
        if n >= scale:
            return f"{n / scale:.3g}{suffix}"
    return str(n)


def layer_macs(layer: Layer, input_shape: Shape, output_shape: Shape) -> int:
    """Multiply-accumulates of one plain layer for one sample (0 for layers without products)."""
    if hasattr(layer, "macs"):
        return int(layer.macs(input_shape))
    if isinstance(layer, Conv2d):
        # Every output value is a dot product over (C / groups) K_H K_W taps.
        per_output = layer.params["weight"][0].size
        return int(per_output * output_shape[0] * output_shape[1] * output_shape[2])
    if isinstance(layer, Linear):
        return layer.in_features * layer.out_features
    return 0


def _leaves(layer: Layer, name: str = ""):
    children = layer.children()
    if not children:
        yield name, layer
    for child_name, child in children:
        yield from _leaves(child, f"{name}.{child_name}" if name else child_name)


def _rows_and_macs(model: Layer, input_shape: Shape, depth: int) -> tuple[list[SummaryRow], list[int], int]:
    """The summary rows, and the MACs of each, from the leaves' recorded input shapes."""
    leaves = list(_leaves(model))
    counted: dict[int, int] = {}

    def recording(leaf: Layer):
        original = leaf.output_shape

        def output_shape(shape):
            out = original(shape)
            # A dict, not a sum: a container may ask a leaf for its shape twice.
            counted[id(leaf)] = layer_macs(leaf, tuple(shape), out)
            return out
        return output_shape

    for _, leaf in leaves:
        leaf.output_shape = recording(leaf)  # an instance attribute, removed below
    try:
        rows, _ = model.summary_rows(input_shape, "", depth)
    finally:
        for _, leaf in leaves:
            leaf.__dict__.pop("output_shape", None)
    total = sum(counted.values())
    if not model.children():
        return rows, [total], total
    macs = []
    for row in rows:
        name = row[0]
        macs.append(sum(counted.get(id(leaf), 0) for leaf_name, leaf in leaves
                        if leaf_name == name or leaf_name.startswith(name + ".")))
    return rows, macs, total


def summary(model: Layer, input_shape, depth: int = 1, show: bool = True, macs: bool = False) -> Summary:
    """Print (and return) each layer's output shape, parameters and MACs, and the totals.

    Parameters
    ----------
    model : Layer
        A model or any layer.
    input_shape : tuple of int
        The shape of ONE input sample, without the batch axis, e.g.
        ``(1, 28, 28)``.
    depth : int
        How many levels of nested blocks to list (1: the model's own layers,
        an Inception module as one row; 2: also the branches inside).
    show : bool
        Print the table.
    macs : bool
        Add the MAC column and total to the table. (They are always in the
        returned Summary; the column is opt-in so that tables printed
        before it existed keep their width.)

    Returns
    -------
    Summary
        With ``macs`` per row and ``total_macs`` (per sample).
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a cnnlib Layer; got {type(model).__name__}")
    input_shape = tuple(as_int(s, "input_shape", 1) for s in input_shape)
    depth = as_int(depth, "depth", 0)
    rows, row_macs, total_macs = _rows_and_macs(model, input_shape, depth)
    total = model.num_params()
    listed = sum(r[3] for r in rows)
    if listed != total:
        raise AssertionError(f"summary rows hold {listed:,} parameters but the model has {total:,}")
    result = Summary(model.describe(), input_shape, rows, total, row_macs, sum(row_macs), bool(macs))
    if result.total_macs != total_macs:
        raise AssertionError(f"summary rows hold {result.total_macs:,} MACs but the model's layers do {total_macs:,}")
    if show:
        print(result.table())
    return result
