"""The chapter 3, 4 and 9 diagrams (architecture, Inception, volumes, transposed conv, receptive field).

Each test reads back what the figure draws (box labels, cell numbers,
outlined squares, arrows) and compares it with an independent source:
a forward pass, torch's ``conv2d`` / ``conv_transpose2d``, or the gradient
of one output unit with respect to the input (for receptive fields). The
figure-wide rules (width, text size, alt text) are in test_figure_style.py.
"""

from __future__ import annotations

import re

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import torch  # noqa: E402
import torch.nn.functional as TF  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cnnlib.layers import Conv2d, Flatten, Linear, MaxPool2d, ReLU, Sequential  # noqa: E402
from cnnlib.models import INCEPTION_TABLE, AlexNet, GoogLeNet, Inception, LeNet5  # noqa: E402
from cnnlib.viz import (animation_html, conv_volumes_animation, plot_architecture,  # noqa: E402
                        plot_conv_volumes, plot_inception_module, plot_receptive_field, plot_transposed_conv)
from cnnlib.viz._boxes import count_gids  # noqa: E402
from cnnlib.viz._style import get_alt  # noqa: E402
from cnnlib.viz.volumes import volume_example  # noqa: E402

NUMBER = re.compile(r"^-?\d+(\.\d+)?$")


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


def _boxes(fig) -> list[str]:
    return [p.get_gid() for ax in fig.axes for p in ax.patches if (p.get_gid() or "").startswith("box:")]


def _texts(fig) -> list[str]:
    return [t.get_text() for ax in fig.axes for t in ax.texts] + [t.get_text() for t in fig.texts]


def _numbers(ax) -> list[float]:
    """Every visible text of `ax` that is a plain number, in drawing order."""
    return [float(t.get_text()) for t in ax.texts if t.get_visible() and NUMBER.match(t.get_text())]


def _assert_texts_inside(fig) -> None:
    """No label sticks out of the figure (it would be cut off on the page)."""
    renderer = fig.canvas.get_renderer()
    width, height = fig.bbox.width, fig.bbox.height
    for text in [t for ax in fig.axes for t in ax.texts] + list(fig.texts):
        box = text.get_window_extent(renderer)
        assert box.x0 >= -1 and box.y0 >= -1 and box.x1 <= width + 1 and box.y1 <= height + 1, text.get_text()


def _box_text_fits(fig) -> None:
    """Each box is at least as wide as every line written in it."""
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    boxes = [p for p in ax.patches if (p.get_gid() or "").startswith("box:")]
    for text in ax.texts:
        tb = text.get_window_extent(renderer)
        cx, cy = (tb.x0 + tb.x1) / 2, (tb.y0 + tb.y1) / 2
        for patch in boxes:
            pb = patch.get_window_extent(renderer)
            if pb.x0 <= cx <= pb.x1 and pb.y0 <= cy <= pb.y1:
                assert tb.width <= pb.width + 0.5, (text.get_text(), tb.width, pb.width)


# --------------------------------------------------------------- architecture


def _forward_shapes(model, input_shape, keep) -> list[tuple]:
    """Output shapes of the layers whose class is in `keep`, from a real forward pass."""
    x = np.zeros((1, *input_shape), dtype=np.float32)
    shapes = []
    for layer in model:
        x = layer.forward(x)
        if type(layer).__name__ in keep:
            shapes.append(x.shape[1:])
    return shapes


def _shape_text(shape) -> str:
    return "×".join(str(s) for s in shape)


def test_lenet_diagram_matches_a_forward_pass():
    model = LeNet5()
    fig = plot_architecture(model, (1, 32, 32))
    names = [gid.split(":")[2] for gid in _boxes(fig)]
    assert names == ["input", "c1", "s2", "c3", "s4", "c5", "f6", "output"]
    texts = _texts(fig)
    shapes = _forward_shapes(model, (1, 32, 32), {"Conv2d", "AvgPool2d", "Linear"})
    assert [_shape_text(s) for s in shapes] == ["6×28×28", "6×14×14", "16×10×10", "16×5×5", "120×1×1", "84", "10"]
    for shape in shapes:
        assert _shape_text(shape) in texts
    assert "conv 5×5" in texts and "avg pool 2×2/2" in texts and "fc 84→10" in texts
    assert count_gids(fig, "arrow") == 7  # one between each pair of consecutive boxes
    assert "Tanh" in " ".join(texts)  # the folded activations are named
    alt = get_alt(fig)
    assert "c3 (conv 5×5, 16×10×10)" in alt and "7 layers" in alt
    _assert_texts_inside(fig)
    _box_text_fits(fig)


def test_alexnet_two_towers():
    fig = plot_architecture(AlexNet(two_gpu=True), (3, 227, 227))
    names = [gid.split(":")[2] for gid in _boxes(fig)]
    towers = [n for n in names if "#" in n]
    assert towers == ["conv2#0", "conv2#1", "conv4#0", "conv4#1", "conv5#0", "conv5#1"]
    assert len(names) == 12 + 3  # input + 11 layers, three of them split in two
    texts = _texts(fig)
    # The paper's sizes: 55x55 after conv1, 27 after pool1, 13 after pool2, 6 after pool5.
    for shape in ["96×55×55", "96×27×27", "256×13×13", "384×13×13", "256×6×6", "4096", "1000"]:
        assert shape in texts
    assert texts.count("128×27×27") == 2 and texts.count("192×13×13") == 2 and texts.count("128×13×13") == 2
    assert texts.count("conv 5×5, 128 of 256") == 2
    # 11 links between 12 stages; conv2 -> pool2 and conv5 -> pool5 join two towers (+1 each),
    # conv4 -> conv5 runs tower to tower (+1).
    assert count_gids(fig, "arrow") == 14
    assert fig.get_size_inches()[0] <= 7.2 + 1e-9
    _assert_texts_inside(fig)
    _box_text_fits(fig)


def test_one_tower_alexnet_has_no_split_boxes():
    fig = plot_architecture(AlexNet(two_gpu=False, width=0.25, hidden=64), (3, 227, 227))
    assert not [g for g in _boxes(fig) if "#" in g]
    assert "24×55×55" in _texts(fig)  # width 0.25: 96 / 4 filters


def test_googlenet_is_compact_and_wraps():
    fig = plot_architecture(GoogLeNet(), (3, 224, 224))
    names = [gid.split(":")[2] for gid in _boxes(fig)]
    assert [n for n in names if n[0].isdigit()] == list(INCEPTION_TABLE)
    assert names[:6] == ["input", "conv1", "pool1", "conv2_reduce", "conv2", "pool2"]
    assert names[-2:] == ["avgpool", "fc"] and len(names) == 19
    texts = _texts(fig)
    for shape in ["64×112×112", "192×28×28", "256×28×28", "480×14×14", "832×7×7", "1024×7×7", "1024×1×1", "1000"]:
        assert shape in texts
    ax = fig.axes[0]
    rows = {round(p.get_y(), 3) for p in ax.patches if (p.get_gid() or "").startswith("box:")}
    assert len(rows) >= 3  # wrapped into rows to fit 7.2 in
    assert fig.get_size_inches()[0] <= 7.2 + 1e-9
    _assert_texts_inside(fig)
    _box_text_fits(fig)


def test_googlenet_aux_heads_are_named_not_drawn():
    fig = plot_architecture(GoogLeNet(aux_logits=True, width=0.25, num_classes=10), (3, 224, 224))
    assert len(_boxes(fig)) == 19
    text = " ".join(_texts(fig))
    assert "aux1 after 4a" in text and "aux2 after 4d" in text


def test_a_model_change_redraws_the_diagram():
    def net(k):
        size = 28 - k + 1
        return Sequential(("conv", Conv2d(1, 4, k)), ("relu", ReLU()), ("pool", MaxPool2d(2)), ("flat", Flatten()),
                          ("fc", Linear(4 * (size // 2) ** 2, 10)))

    three, five = plot_architecture(net(3), (1, 28, 28)), plot_architecture(net(5), (1, 28, 28))
    assert "4×26×26" in _texts(three) and "4×13×13" in _texts(three)
    assert "4×24×24" in _texts(five) and "4×12×12" in _texts(five) and "conv 5×5" in _texts(five)
    assert len(_boxes(three)) == 4


def test_architecture_rejects_bad_input():
    with pytest.raises(TypeError, match="model"):
        plot_architecture("LeNet", (1, 32, 32))
    with pytest.raises(ValueError):
        plot_architecture(LeNet5(), (1, 28, 28))  # C5 needs 5x5 maps: 28x28 inputs leave 4x4


def test_inception_module_3a():
    fig = plot_inception_module()
    boxes = _boxes(fig)
    assert len(boxes) == 1 + 7 + 1  # input, 1 + 2 + 2 + 2 branch layers, concatenation
    kinds = [g.split(":")[1] for g in boxes]
    assert kinds.count("reduce") == 4 and kinds.count("conv") == 2 and kinds.count("pool") == 1
    texts = _texts(fig)
    c1, r3, c3, r5, c5, pp = INCEPTION_TABLE["3a"]
    for label in [f"1×1 conv, {c1}", f"1×1 reduce, {r3}", f"3×3 conv, {c3}", f"1×1 reduce, {r5}",
                  f"5×5 conv, {c5}", "3×3 max pool", f"1×1 proj, {pp}"]:
        assert label in texts
    out = Inception(192, *INCEPTION_TABLE["3a"]).forward(np.zeros((1, 192, 28, 28), np.float32)).shape
    assert out == (1, 256, 28, 28)
    assert f"{c1} + {c3} + {c5} + {pp} = {out[1]} maps, 256×28×28" in texts
    assert count_gids(fig, "arrow") == 4 + 3 + 4
    _assert_texts_inside(fig)
    _box_text_fits(fig)


def test_inception_module_from_a_block_and_a_key():
    fig = plot_inception_module("4e", input_shape=(528, 14, 14))
    assert "256 + 320 + 128 + 128 = 832 maps, 832×14×14" in _texts(fig)
    block = Inception(8, 2, 3, 4, 1, 2, 2)
    assert "2 + 4 + 2 + 2 = 10 maps, 10×28×28" in _texts(plot_inception_module(block))
    with pytest.raises(ValueError, match="block"):
        plot_inception_module("9z")
    with pytest.raises(TypeError, match="block"):
        plot_inception_module(3)


# -------------------------------------------------------------------- volumes


def test_volumes_draw_the_example_and_torch_output():
    c, h, f, k = 3, 5, 2, 3
    fig = plot_conv_volumes(c, h, f, k)
    x, w, b, y = volume_example(c, h, f, k)
    ax = fig.axes[0]
    filled = [p for p in ax.patches if isinstance(p, Rectangle) and p.get_fill()]
    assert len(filled) == c * h * h + f * c * k * k + f * 3 * 3
    numbers = _numbers(ax)
    inputs, rest = numbers[:c * h * h + f * c * k * k], numbers[c * h * h + f * c * k * k:]
    expected = TF.conv2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b))[0].numpy()
    np.testing.assert_array_equal(np.array(rest).reshape(f, 3, 3), expected)
    # Row by row: the channel of x, then the same channel of every filter.
    per_row = np.array(inputs).reshape(c, h * h + f * k * k)
    np.testing.assert_array_equal(per_row[:, :h * h].reshape(c, h, h), x)
    np.testing.assert_array_equal(per_row[:, h * h:].reshape(c, f, k, k).transpose(1, 0, 2, 3), w)
    line = [t for t in _texts(fig) if t.startswith("y[0,0,0] =")][0]
    assert line.endswith(f"= {int(expected[0, 0, 0])}")
    parts = [float(v) for v in re.findall(r"\((-?\d+)\)", line)[:c]]
    assert sum(parts) + b[0] == expected[0, 0, 0]
    alt = get_alt(fig)
    assert "3-channel 5×5 input" in alt and "2 filters of 3×3×3" in alt


def test_volumes_with_stride_and_padding():
    fig = plot_conv_volumes(2, 5, 3, 3, stride=2, padding=1, position=(2, 1, 2))
    x, w, b, y = volume_example(2, 5, 3, 3, stride=2, padding=1)
    assert y.shape == (3, 3, 3)
    expected = TF.conv2d(torch.tensor(x)[None], torch.tensor(w), torch.tensor(b), stride=2, padding=1)[0].numpy()
    np.testing.assert_array_equal(np.array(_numbers(fig.axes[0])[-27:]).reshape(3, 3, 3), expected)
    assert any(t.startswith("y[2,1,2] =") for t in _texts(fig))
    with pytest.raises(ValueError, match="position"):
        plot_conv_volumes(position=(2, 0, 0))
    with pytest.raises(ValueError, match="kernel_size"):
        plot_conv_volumes(size=2, kernel_size=3)


def test_volumes_animation_fills_one_output_per_frame():
    anim = conv_volumes_animation()
    x, w, b, y = volume_example()
    ax = anim._fig.axes[0]
    fixed = x.size + w.size
    for step in (0, 4, 17):
        anim._func(step)
        shown = _numbers(ax)[fixed:]
        assert len(shown) == step + 1
        np.testing.assert_array_equal(shown, y.ravel()[:step + 1])
    html = animation_html(anim, "volumes_test")
    assert len(re.findall(r"frames\[\d+\] = ", html)) == 18
    assert "Animation in 18 frames" in html and re.search(r"https?:", html) is None
    with pytest.raises(ValueError, match="frames"):
        conv_volumes_animation(size=9, out_channels=2, kernel_size=2)


# ------------------------------------------------------------------ transposed


@pytest.mark.parametrize("h, k, stride, padding", [(2, 3, 2, 0), (3, 3, 2, 1), (2, 2, 1, 0), (3, 4, 3, 2)])
def test_transposed_conv_output_equals_torch(h, k, stride, padding):
    rng = np.random.default_rng(h * 100 + k * 10 + stride)
    x = rng.integers(1, 5, size=(h, h)).astype(float)
    weight = rng.integers(-1, 3, size=(k, k)).astype(float)
    fig = plot_transposed_conv(x, weight, stride=stride, padding=padding)
    expected = TF.conv_transpose2d(torch.tensor(x)[None, None], torch.tensor(weight)[None, None], stride=stride,
                                   padding=padding)[0, 0].numpy()
    o = expected.shape[0]
    spread = (h - 1) * stride + 1 + 2 * (k - 1 - padding)
    numbers = _numbers(fig.axes[0])
    assert len(numbers) == h * h + spread * spread + 2 * k * k + o * o
    np.testing.assert_array_equal(np.array(numbers[-o * o:]).reshape(o, o), expected)
    grid = np.array(numbers[h * h:h * h + spread * spread]).reshape(spread, spread)
    q = k - 1 - padding
    np.testing.assert_array_equal(grid[q:spread - q:stride, q:spread - q:stride], x)  # the inputs, spread out
    assert np.count_nonzero(grid) == np.count_nonzero(x)  # everything else is an inserted or padding zero
    np.testing.assert_array_equal(np.array(numbers[-o * o - k * k:-o * o]).reshape(k, k), weight[::-1, ::-1])
    assert any(t.endswith(f"= {o}") and "(H − 1)S − 2P + K" in t for t in _texts(fig))
    assert " ".join(str(int(v)) for v in expected.ravel()) in get_alt(fig)
    _assert_texts_inside(fig)


def test_transposed_conv_rejects_more_padding_than_the_picture_shows():
    with pytest.raises(ValueError, match="padding"):
        plot_transposed_conv(np.ones((2, 2)), np.ones((3, 3)), stride=2, padding=3)
    with pytest.raises(ValueError, match="position"):
        plot_transposed_conv(np.ones((2, 2)), np.ones((3, 3)), position=(5, 0))
    with pytest.raises(ValueError, match="x"):
        plot_transposed_conv(np.ones(4), np.ones((3, 3)))


# ------------------------------------------------------------- receptive field


def _field_by_gradient(specs, size: int) -> int:
    """Rows of the input that reach unit (0, 0) of the last layer (torch autograd, ones as weights)."""
    x = torch.zeros(1, 1, size, size, requires_grad=True)
    y = x
    for k, s, d in specs:
        y = TF.conv2d(y, torch.ones(1, 1, k, k), stride=s, dilation=d)
    y[0, 0, 0, 0].backward()
    rows = torch.nonzero(x.grad[0, 0].abs().sum(dim=1)).flatten()
    return int(rows.max()) + 1


@pytest.mark.parametrize("layers", [[(3, 1), (3, 1), (3, 1)], [(3, 1), (2, 2), (3, 1), (3, 1)],
                                    [(5, 2), (3, 2, 2)], [(7, 2), (3, 2), (3, 1)]])
def test_receptive_field_squares_match_autograd(layers):
    specs = [(*layer, 1) if len(layer) == 2 else layer for layer in layers]
    fig = plot_receptive_field(layers, 24)
    ax = fig.axes[0]
    squares = {p.get_gid(): p for p in ax.patches if (p.get_gid() or "").startswith("field:")}
    assert len(squares) == len(layers)
    for k in range(len(layers)):
        side = _field_by_gradient(specs[:k + 1], 24)
        square = squares[f"field:{k}"]
        assert square.get_width() == side and square.get_height() == side
        assert any(t.endswith(f"sees {side}×{side}") and t.startswith(f"layer {k + 1} ") for t in _texts(fig))
    _assert_texts_inside(fig)


def test_receptive_field_from_layer_objects_and_errors():
    layers = [Conv2d(1, 1, 3), MaxPool2d(2), Conv2d(1, 1, 3)]
    fig = plot_receptive_field(layers, 10)
    sides = sorted(p.get_width() for p in fig.axes[0].patches if (p.get_gid() or "").startswith("field:"))
    assert sides == [3, 4, 8]
    assert "layer 2 (2×2, stride 2): sees 4×4" in get_alt(fig)
    with pytest.raises(ValueError, match="input_size"):
        plot_receptive_field([(3, 1)] * 5, 8)
    with pytest.raises(TypeError, match="layers"):
        plot_receptive_field(["conv"], 8)
    with pytest.raises(ValueError, match="layers"):
        plot_receptive_field([], 8)


# ------------------------------------------------------------ notebook display


def _tiny_figure():
    return plot_receptive_field([(3, 1), (3, 1)], 6)


def test_figure_png_has_twice_the_pixels_and_the_alt_text():
    import base64
    import io

    from PIL import Image

    from cnnlib.viz._display import figure_png, png_description

    fig = _tiny_figure()
    data, metadata = figure_png(fig)
    png = base64.b64decode(data)
    width, height = Image.open(io.BytesIO(png)).size
    assert (metadata["width"], metadata["height"]) == (width // 2, height // 2)
    one_x = io.BytesIO()
    fig.savefig(one_x, format="png", dpi=fig.dpi, bbox_inches="tight")
    size_1x = Image.open(io.BytesIO(one_x.getvalue())).size
    # shown at the 1x size (the tight bounding box rounds differently at 2x: a few pixels)
    assert abs(metadata["width"] - size_1x[0]) <= 5 and abs(metadata["height"] - size_1x[1]) <= 5
    assert metadata["alt"] == get_alt(fig) == png_description(png)
    plain = plt.figure(figsize=(2, 1))
    plain.add_subplot().plot([0, 1])
    data, metadata = figure_png(plain)
    assert "alt" not in metadata and png_description(base64.b64decode(data)) is None


_NOTEBOOK_CELLS = [
    "import matplotlib.pyplot as plt\nfrom IPython.display import HTML\nfrom cnnlib import viz",
    "%matplotlib inline",  # re-selecting the backend must not undo the setup
    "fig = viz.plot_receptive_field([(3, 1), (3, 1)], 6)\nplt.show()",
    "fig, ax = plt.subplots(figsize=(3, 2))\nax.plot([1, 2])\nplt.show()",
    "HTML(viz.animation_html(viz.sliding_window_animation([[1, 2, 0], [0, 1, 2], [2, 0, 1]], [[1, 0], [0, 1]]),"
    " 'nb_test', alt='A 2x2 kernel sliding over a 3x3 input'))",
]


def _run_notebook(cells: list[str]):
    import nbformat
    from nbclient import NotebookClient

    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(source) for source in cells]
    NotebookClient(nb, timeout=120, kernel_name="python3").execute()
    return nb


def test_notebook_figures_are_2x_with_alt_and_unchanged_text():
    """``import cnnlib.viz`` in a kernel: 2x PNG + alt in the output, text/plain as without it (nbval)."""
    import base64
    import io

    from PIL import Image

    from cnnlib.viz._display import png_description

    nb = _run_notebook(_NOTEBOOK_CELLS)
    outputs = [o for cell in nb.cells for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "stream" and o.name == "stderr"]
    figure, plain, animation = (o for o in outputs if o.output_type in ("display_data", "execute_result"))
    png = base64.b64decode(figure.data["image/png"])
    meta = figure.metadata["image/png"]
    assert Image.open(io.BytesIO(png)).size[0] // 2 == meta["width"]
    assert meta["alt"].startswith("Receptive-field growth on a 6×6 input grid") and png_description(png) == meta["alt"]
    assert "alt" not in plain.metadata["image/png"]
    html = animation.data["text/html"]
    assert 'aria-label="A 2x2 kernel sliding over a 3x3 input"' in html and "flex-wrap: wrap" in html
    # The same notebook without the setup: identical text/plain, which is what nbval compares.
    off = _run_notebook(_NOTEBOOK_CELLS[:1] + ["viz.setup_notebook(False)"] + _NOTEBOOK_CELLS[1:4])
    off_outputs = [o for cell in off.cells for o in cell.outputs if o.output_type == "display_data"]
    assert [o.data["text/plain"] for o in off_outputs] == [figure.data["text/plain"], plain.data["text/plain"]]
    assert "alt" not in off_outputs[0].metadata.get("image/png", {})
    assert Image.open(io.BytesIO(base64.b64decode(off_outputs[0].data["image/png"]))).size[0] < 2 * meta["width"]
