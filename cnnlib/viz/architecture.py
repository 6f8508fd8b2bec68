"""Architecture diagrams drawn from the model objects themselves.

:func:`plot_architecture` walks a model's layers with
:func:`cnnlib.models.summary` (each layer's own ``output_shape``, nothing is
convolved), so the boxes and their output shapes are whatever the model
computes: change a kernel size in :mod:`cnnlib.models` and the figure
changes with it. Element-wise layers (activations, LRN, dropout, flatten)
fold into the box before them, grouped convolutions (AlexNet's two GPUs)
split into one box per group, and long networks wrap into rows.

:func:`plot_inception_module` draws one Inception block, its four branches
and 1x1 reductions, from an :class:`cnnlib.models.Inception` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from matplotlib.figure import Figure

from .._validation import as_int
from ..layers.base import Layer
from ..models import INCEPTION_TABLE, Inception
from ..models.summary import summary
from ._boxes import LINE_IN, box_size, canvas, draw_arrow, draw_box, wrap_to_width
from ._style import MAX_WIDTH_IN, set_alt

__all__ = ["plot_architecture", "plot_inception_module", "shape_text", "layer_label"]

# Layers that keep the shape (or only flatten it) and are drawn inside the box before them.
_FOLDED = {"ReLU", "Tanh", "Sigmoid", "LocalResponseNorm", "Dropout", "Flatten"}
_GAP_X = 0.30  # room for an arrow between two boxes, inches
_GAP_Y = 0.42  # between two rows (the wrap-around arrow runs here)
_TOWER_GAP = 0.08  # between the halves of a grouped layer
_MARGIN = 0.08


def shape_text(shape) -> str:
    """``(96, 55, 55)`` as ``96×55×55``; a vector ``(4096,)`` as ``4096``."""
    return "×".join(str(int(s)) for s in shape)


def layer_label(layer: Layer) -> tuple[str, str]:
    """(kind, operation text) of a layer: ``("conv", "conv 11×11/4")``, ``("pool", "max pool 3×3/2")``..."""
    kind_name = type(layer).__name__
    if kind_name == "Conv2d":
        kh, kw = layer.kernel_size
        stride = f"/{layer.stride[0]}" if layer.stride != (1, 1) else ""
        return ("reduce" if (kh, kw) == (1, 1) else "conv"), f"conv {kh}×{kw}{stride}"
    if kind_name in ("MaxPool2d", "AvgPool2d"):
        kh, kw = layer.kernel_size
        stride = f"/{layer.stride[0]}" if layer.stride != (1, 1) else ""
        return "pool", f"{kind_name[:3].lower()} pool {kh}×{kw}{stride}"
    if kind_name == "Linear":
        return "fc", f"fc {layer.in_features}→{layer.out_features}"
    if isinstance(layer, Inception):
        return "inception", "Inception"
    return "other", kind_name


@dataclass
class _Stage:
    name: str
    kind: str
    op: str
    shape: tuple
    groups: int = 1
    folded: list[str] = field(default_factory=list)

    def lines(self, part: int | None = None) -> list[str]:
        if part is None:
            return [self.name, self.op, shape_text(self.shape)]
        share = (self.shape[0] // self.groups, *self.shape[1:])
        return [f"{self.name} · tower {part + 1}", f"{self.op}, {share[0]} of {self.shape[0]}", shape_text(share)]


def _stages(model: Layer, input_shape: tuple) -> tuple[list[_Stage], list[str]]:
    """Boxes of the diagram (input first) and notes on what is not drawn as a box."""
    rows = summary(model, input_shape, depth=1, show=False).rows
    layers = dict(model.children())
    stages = [_Stage("input", "input", "image", tuple(input_shape))]
    notes: list[str] = []
    for name, _, shape, _ in rows:
        layer = layers.get(name)
        kind_name = type(layer).__name__
        if kind_name in _FOLDED:
            stages[-1].folded.append(kind_name)
            continue
        if kind_name == "AuxClassifier":  # GoogLeNet's training-only heads branch off the trunk
            notes.append(f"{name} after {stages[-1].name} (training only)")
            continue
        kind, op = layer_label(layer)
        label = name[len("inception"):] if kind == "inception" and name.startswith("inception") else name
        stages.append(_Stage(label, kind, op, tuple(shape), int(getattr(layer, "groups", 1))))
    return stages, notes


def _slot(stage: _Stage, box_w: float, box_h: float) -> float:
    """Height of a stage's slot: one box, or one box per group stacked."""
    return stage.groups * box_h + (stage.groups - 1) * _TOWER_GAP


def plot_architecture(model: Layer, input_shape, *, title: str | None = None, max_width: float = MAX_WIDTH_IN) -> Figure:
    """A block diagram of a model: one box per layer with its output shape.

    Parameters
    ----------
    model : Layer
        A :class:`cnnlib.layers.Sequential` model such as ``LeNet5()``,
        ``AlexNet(two_gpu=True)`` or ``GoogLeNet()``.
    input_shape : (C, H, W)
        One input sample, e.g. ``(1, 32, 32)``.
    title : str, optional
        Default: the model's ``describe()`` and the input shape.
    max_width : float
        Figure width limit in inches; boxes wrap into rows to fit.

    Returns
    -------
    matplotlib.figure.Figure
        Boxes (patch gids ``"box:<kind>:<name>"``) from the input to the last
        layer, left to right and row by row; a layer with ``groups = g > 1``
        is ``g`` stacked boxes, one per group (AlexNet's towers), each with
        its share of the channels.
    """
    if not isinstance(model, Layer):
        raise TypeError(f"model must be a cnnlib Layer; got {type(model).__name__}")
    input_shape = tuple(as_int(s, "input_shape", 1) for s in input_shape)
    stages, notes = _stages(model, input_shape)
    sizes = [box_size(s.lines(0 if s.groups > 1 else None)) for s in stages]
    box_w = max(w for w, _ in sizes)
    box_h = max(h for _, h in sizes)
    per_row = max(1, int((max_width - 2 * _MARGIN + _GAP_X) // (box_w + _GAP_X)))
    rows = [stages[i:i + per_row] for i in range(0, len(stages), per_row)]
    row_h = [max(_slot(s, box_w, box_h) for s in row) for row in rows]

    folded = sorted({k for s in stages for k in s.folded})
    footer = []
    if folded:
        footer.append("Each box includes the " + ", ".join(folded) + " layers after it.")
    if any(s.groups > 1 for s in stages):
        footer.append("Split boxes: grouped convolutions, one tower per group.")
    if notes:
        footer.append("Not drawn: " + "; ".join(notes) + ".")
    title = title if title is not None else f"{model.describe()}, input {shape_text(input_shape)}"
    head = 2 * LINE_IN
    width = min(max_width, 2 * _MARGIN + len(rows[0]) * box_w + (len(rows[0]) - 1) * _GAP_X)
    footer = [line for text in footer for line in wrap_to_width(text, width - 2 * _MARGIN)]
    height = head + sum(row_h) + _GAP_Y * (len(rows) - 1) + len(footer) * LINE_IN + 2 * _MARGIN
    fig, ax = canvas(width, height)
    ax.text(width / 2, _MARGIN + LINE_IN * 0.7, title, ha="center", va="center", fontsize=11, fontweight="bold")

    y = _MARGIN + head
    anchors = []  # per stage: (left x, list of box centre y, slot top, slot bottom)
    for row, h in zip(rows, row_h):
        for k, stage in enumerate(row):
            x = _MARGIN + k * (box_w + _GAP_X)
            top = y + (h - _slot(stage, box_w, box_h)) / 2
            centres = []
            for part in range(stage.groups):
                by = top + part * (box_h + _TOWER_GAP)
                lines = stage.lines(part if stage.groups > 1 else None)
                draw_box(ax, x, by, box_w, box_h, lines, stage.kind, f"{stage.name}" + (f"#{part}" if stage.groups > 1 else ""))
                centres.append(by + box_h / 2)
            anchors.append((x, centres, top, top + _slot(stage, box_w, box_h), y + h))
        y += h + _GAP_Y

    for i in range(len(stages) - 1):
        (x0, c0, _, bottom0, row_bottom), (x1, c1, top1, _, _) = anchors[i], anchors[i + 1]
        if x1 > x0:  # same row: straight arrows, tower to tower where both layers are split alike
            pairs = list(zip(c0, c1)) if len(c0) == len(c1) else [(a, b) for a in c0 for b in c1]
            for a, b in pairs:
                draw_arrow(ax, [(x0 + box_w, a), (x1, b)])
        else:  # wrap to the next row: down, back to the left, down
            mid = row_bottom + _GAP_Y / 2
            draw_arrow(ax, [(x0 + box_w / 2, bottom0), (x0 + box_w / 2, mid), (x1 + box_w / 2, mid),
                            (x1 + box_w / 2, top1)])
    for j, line in enumerate(footer):
        ax.text(_MARGIN, y - _GAP_Y + (j + 0.6) * LINE_IN, line, ha="left", va="center", fontsize=9.5)

    parts = [f"{s.name} ({s.op}, {'towers of ' + shape_text((s.shape[0] // s.groups, *s.shape[1:])) + ' each' if s.groups > 1 else shape_text(s.shape)})"
             for s in stages[1:]]
    alt = (f"Block diagram of {title}: {len(stages) - 1} layers from a {shape_text(input_shape)} input, in "
           f"{len(rows)} row(s): " + "; ".join(parts) + ". " + " ".join(footer))
    return set_alt(fig, alt)


def _branch_boxes(block: Inception, input_shape: tuple) -> list[list[tuple[str, str, tuple]]]:
    """Per branch, the (kind, label, output shape) of its conv and pool layers, ReLUs skipped."""
    branches = []
    for _, branch in block.children():
        shape, boxes = input_shape, []
        for name, layer in branch.children():
            shape = layer.output_shape(shape)
            kind, _ = layer_label(layer)
            if kind == "other":
                continue
            kh, kw = layer.kernel_size
            if kind == "pool":
                op = f"{kh}×{kw} max pool" if type(layer).__name__ == "MaxPool2d" else f"{kh}×{kw} avg pool"
            else:
                role = {"reduce": "reduce", "proj": "proj"}.get(name, "conv")
                op = f"{kh}×{kw} {role}, {layer.out_channels}"
            boxes.append((kind, op, shape))
        branches.append(boxes)
    return branches


def plot_inception_module(block: Inception | str | None = None, input_shape=None) -> Figure:
    """The Inception module: four branches side by side, concatenated along channels.

    Parameters
    ----------
    block : Inception, or a key of ``INCEPTION_TABLE`` ("3a" ... "5b"), optional
        Default: block 3a of GoogLeNet, ``Inception(192, *INCEPTION_TABLE["3a"])``.
        A key builds that row of the table with `input_shape`'s channels.
    input_shape : (C, H, W), optional
        Default ``(block.in_channels, 28, 28)`` (the size block 3a sees).

    Returns
    -------
    matplotlib.figure.Figure
        The input box, one column per branch (1x1 reductions in pale blue),
        and the concatenation box with the summed channel count.
    """
    if block is None or isinstance(block, str):
        key = "3a" if block is None else block
        if key not in INCEPTION_TABLE:
            raise ValueError(f"block must be an Inception layer or one of {list(INCEPTION_TABLE)}; got {block!r}")
        channels = 192 if input_shape is None else as_int(input_shape[0], "input_shape", 1)
        block = Inception(channels, *INCEPTION_TABLE[key])
        label = f"Inception {key}"
    elif isinstance(block, Inception):
        label = "Inception module"
    else:
        raise TypeError(f"block must be an Inception layer, a key of INCEPTION_TABLE or None; got {type(block).__name__}")
    if input_shape is None:
        input_shape = (block.in_channels, 28, 28)
    input_shape = tuple(as_int(s, "input_shape", 1) for s in input_shape)
    out_shape = block.output_shape(input_shape)
    branches = _branch_boxes(block, input_shape)
    texts = [[op, shape_text(shape)] for boxes in branches for _, op, shape in boxes]
    box_w = max(box_size(t)[0] for t in texts) + 0.05
    box_h = box_size(["a", "b"])[1]
    gap = min(0.25, (MAX_WIDTH_IN - 2 * _MARGIN - 4 * box_w) / 3)
    if gap < 0.05:
        raise ValueError("the branch labels are too long to fit four columns in the figure width")
    width = 2 * _MARGIN + 4 * box_w + 3 * gap
    depth = max(len(b) for b in branches)
    step = box_h + 0.35
    top = _MARGIN + 2 * LINE_IN
    reductions = [(b[0][1], b[1][1]) for b in branches if len(b) > 1 and b[0][0] == "reduce"]
    note = ("Pale blue: 1×1 convolutions; the reductions cut the " + str(input_shape[0]) + " input channels to "
            + " and ".join(f"{r.split(', ')[1]} before the {c.split(' ')[0]}" for r, c in reductions) + " filters.")
    note_lines = wrap_to_width(note, width - 2 * _MARGIN)
    height = top + (depth + 1) * step + box_h + (len(note_lines) + 0.6) * LINE_IN + _MARGIN
    fig, ax = canvas(width, height)
    ax.text(width / 2, _MARGIN + 0.7 * LINE_IN, f"{label}: four branches, outputs stacked along channels",
            ha="center", va="center", fontsize=11, fontweight="bold")
    wide_w = min(width - 2 * _MARGIN, 2 * box_w)
    cx = width / 2
    draw_box(ax, cx - wide_w / 2, top, wide_w, box_h, ["previous layer", shape_text(input_shape)], "input", "input")
    bottom_y = top + (depth + 1) * step
    concat_lines = ["filter concatenation",
                    " + ".join(str(b[-1][2][0]) for b in branches) + f" = {out_shape[0]} maps, {shape_text(out_shape)}"]
    concat_w = width - 2 * _MARGIN
    for k, boxes in enumerate(branches):
        x = _MARGIN + k * (box_w + gap)
        draw_arrow(ax, [(cx, top + box_h), (x + box_w / 2, top + step)])
        for d, (kind, op, shape) in enumerate(boxes):
            y = top + (d + 1) * step
            draw_box(ax, x, y, box_w, box_h, [op, shape_text(shape)], kind, f"branch{k + 1}.{d}")
            end = top + (d + 2) * step if d + 1 < len(boxes) else bottom_y
            draw_arrow(ax, [(x + box_w / 2, y + box_h), (x + box_w / 2, end)])
    draw_box(ax, cx - concat_w / 2, bottom_y, concat_w, box_h, concat_lines, "concat", "concat")
    for k, line in enumerate(note_lines):
        ax.text(_MARGIN, bottom_y + box_h + (k + 0.9) * LINE_IN, line, ha="left", va="center", fontsize=9.5)
    described = "; ".join(f"branch {k + 1}: " + " then ".join(f"{op} giving {shape_text(s)}" for _, op, s in boxes)
                          for k, boxes in enumerate(branches))
    alt = (f"{label} drawn as a block diagram: the previous layer ({shape_text(input_shape)}) feeds four parallel "
           f"branches; {described}; the four outputs are concatenated into {shape_text(out_shape)}. {note}")
    return set_alt(fig, alt)
