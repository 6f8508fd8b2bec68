"""summary(model, input_shape): a table of output shapes and parameter counts.

Shapes come from each layer's ``output_shape`` -- nothing is convolved --
so summarising AlexNet at 227x227 is instant, and a wrong input size fails
with an error naming the first layer that cannot take it.
"""

from __future__ import annotations

from dataclasses import dataclass

from .._validation import as_int
from ..layers.base import Layer, Shape, SummaryRow, format_shape

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
    """

    model_name: str
    input_shape: Shape
    rows: list[SummaryRow]
    total_params: int

    @property
    def output_shape(self) -> Shape:
        return self.rows[-1][2] if self.rows else self.input_shape

    def table(self) -> str:
        """The table as text (what :func:`summary` prints)."""
        header = ("Layer", "Type", "Output shape", "Params")
        body = [(name, desc, format_shape(shape), f"{params:,}") for name, desc, shape, params in self.rows]
        widths = [max(len(r[i]) for r in [header, *body]) for i in range(4)]
        def line(r):
            return f"{r[0]:<{widths[0]}}  {r[1]:<{widths[1]}}  {r[2]:>{widths[2]}}  {r[3]:>{widths[3]}}"
        rule = "-" * (sum(widths) + 6)
        lines = [f"{self.model_name}, input {format_shape(self.input_shape)}", rule, line(header), rule]
        lines += [line(r) for r in body]
        lines += [rule, f"Total params: {self.total_params:,}"]
        return "\n".join(lines)

    __str__ = table

    def __repr__(self) -> str:
        return f"<Summary of {self.model_name}: {len(self.rows)} rows, {self.total_params:,} parameters>"


def summary(model: Layer, input_shape, depth: int = 1, show: bool = True) -> Summary:
    """Print (and return) each layer's output shape and parameter count, and the total.

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

    Returns
    -------
    Summary
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a cnnlib Layer; got {type(model).__name__}")
    input_shape = tuple(as_int(s, "input_shape", 1) for s in input_shape)
    depth = as_int(depth, "depth", 0)
    rows, _ = model.summary_rows(input_shape, "", depth)
    total = model.num_params()
    listed = sum(r[3] for r in rows)
    if listed != total:
        raise AssertionError(f"summary rows hold {listed:,} parameters but the model has {total:,}")
    result = Summary(model.describe(), input_shape, rows, total)
    if show:
        print(result.table())
    return result
