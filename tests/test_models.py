"""cnnlib.models: summaries, forward passes and gradients against equivalent torch models.

The torch models below are written from the papers' layer tables, not
generated from the cnnlib ones, and use the same module names, so a cnnlib
state dict loads into them unchanged. Full-size AlexNet and GoogLeNet are
summarised on torch's "meta" device (shapes without memory or arithmetic);
forward passes are compared at reduced width.
"""

from __future__ import annotations

from collections import OrderedDict

import numpy as np
import pytest
import torch
import torch.nn as nn

from cnnlib.data import load_mnist
from cnnlib.gradcheck import numerical_gradient, rel_error
from cnnlib.layers import Dropout, LayerError, SoftmaxCrossEntropy
from cnnlib.models import INCEPTION_TABLE, AlexNet, GoogLeNet, Inception, LeNet5, SimpleConvNet, summary
from helpers import assert_close, t

# --------------------------------------------------------------------------
# The torch models
# --------------------------------------------------------------------------


def torch_simple_convnet():
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(1, 30, 5), relu1=nn.ReLU(), pool1=nn.MaxPool2d(2), flatten=nn.Flatten(),
        fc1=nn.Linear(30 * 12 * 12, 100), relu2=nn.ReLU(), fc2=nn.Linear(100, 10)))


def torch_lenet5(act=nn.Tanh):
    return nn.Sequential(OrderedDict(
        c1=nn.Conv2d(1, 6, 5), act1=act(), s2=nn.AvgPool2d(2),
        c3=nn.Conv2d(6, 16, 5), act3=act(), s4=nn.AvgPool2d(2),
        c5=nn.Conv2d(16, 120, 5), act5=act(), flatten=nn.Flatten(),
        f6=nn.Linear(120, 84), act6=act(), output=nn.Linear(84, 10)))


def torch_alexnet(groups=1, channels=(96, 256, 384, 384, 256), hidden=4096, fc6_in=9216, classes=1000):
    c1, c2, c3, c4, c5 = channels
    lrn = lambda: nn.LocalResponseNorm(5, alpha=5e-4, beta=0.75, k=2.0)  # noqa: E731
    return nn.Sequential(OrderedDict(
        conv1=nn.Conv2d(3, c1, 11, stride=4), relu1=nn.ReLU(), lrn1=lrn(), pool1=nn.MaxPool2d(3, 2),
        conv2=nn.Conv2d(c1, c2, 5, padding=2, groups=groups), relu2=nn.ReLU(), lrn2=lrn(), pool2=nn.MaxPool2d(3, 2),
        conv3=nn.Conv2d(c2, c3, 3, padding=1), relu3=nn.ReLU(),
        conv4=nn.Conv2d(c3, c4, 3, padding=1, groups=groups), relu4=nn.ReLU(),
        conv5=nn.Conv2d(c4, c5, 3, padding=1, groups=groups), relu5=nn.ReLU(), pool5=nn.MaxPool2d(3, 2),
        flatten=nn.Flatten(),
        fc6=nn.Linear(fc6_in, hidden), relu6=nn.ReLU(), drop6=nn.Dropout(0.5),
        fc7=nn.Linear(hidden, hidden), relu7=nn.ReLU(), drop7=nn.Dropout(0.5),
        fc8=nn.Linear(hidden, classes)))


class TorchInception(nn.Module):
    def __init__(self, cin, c1, c3r, c3, c5r, c5, pool_proj):
        super().__init__()
        self.branch1 = nn.Sequential(OrderedDict(conv=nn.Conv2d(cin, c1, 1), relu=nn.ReLU()))
        self.branch2 = nn.Sequential(OrderedDict(reduce=nn.Conv2d(cin, c3r, 1), relu_reduce=nn.ReLU(),
                                                 conv=nn.Conv2d(c3r, c3, 3, padding=1), relu=nn.ReLU()))
        self.branch3 = nn.Sequential(OrderedDict(reduce=nn.Conv2d(cin, c5r, 1), relu_reduce=nn.ReLU(),
                                                 conv=nn.Conv2d(c5r, c5, 5, padding=2), relu=nn.ReLU()))
        self.branch4 = nn.Sequential(OrderedDict(pool=nn.MaxPool2d(3, 1, padding=1), proj=nn.Conv2d(cin, pool_proj, 1),
                                                 relu=nn.ReLU()))

    def forward(self, x):
        return torch.cat([self.branch1(x), self.branch2(x), self.branch3(x), self.branch4(x)], dim=1)


class TorchGoogLeNet(nn.Module):
    """Table 1 of Szegedy et al. (2014); aux classifiers after 4a and 4d, run in training mode only."""

    def __init__(self, aux=False, width=1.0, input_size=224, classes=1000):
        super().__init__()
        s = lambda c: max(1, int(round(c * width)))  # noqa: E731
        lrn = lambda: nn.LocalResponseNorm(5, alpha=1e-4, beta=0.75, k=1.0)  # noqa: E731
        pool = lambda: nn.MaxPool2d(3, 2, padding=1)  # noqa: E731
        layers = [("conv1", nn.Conv2d(3, s(64), 7, stride=2, padding=3)), ("relu1", nn.ReLU()), ("pool1", pool()),
                  ("lrn1", lrn()), ("conv2_reduce", nn.Conv2d(s(64), s(64), 1)), ("relu2_reduce", nn.ReLU()),
                  ("conv2", nn.Conv2d(s(64), s(192), 3, padding=1)), ("relu2", nn.ReLU()), ("lrn2", lrn()),
                  ("pool2", pool())]
        cin = s(192)
        for name, row in INCEPTION_TABLE.items():
            c = [s(v) for v in row]
            layers.append((f"inception{name}", TorchInception(cin, *c)))
            cin = c[0] + c[2] + c[4] + c[5]
            if name in ("3b", "4e"):
                layers.append(({"3b": "pool3", "4e": "pool4"}[name], pool()))
        final = input_size // 32  # five stride-2 stages with padding 1 on even sizes
        layers += [("avgpool", nn.AvgPool2d(final)), ("flatten", nn.Flatten()), ("dropout", nn.Dropout(0.4)),
                   ("fc", nn.Linear(cin, classes))]
        self.names = [n for n, _ in layers]
        for name, module in layers:
            self.add_module(name, module)
        self.taps = {}
        if aux:
            tap_size = input_size // 16
            pooled = (tap_size - 5) // 3 + 1
            for tap, name, ch in (("inception4a", "aux1", s(512)), ("inception4d", "aux2", s(528))):
                self.add_module(name, nn.Sequential(OrderedDict(
                    pool=nn.AvgPool2d(5, 3), conv=nn.Conv2d(ch, s(128), 1), relu=nn.ReLU(), flatten=nn.Flatten(),
                    fc=nn.Linear(s(128) * pooled * pooled, s(1024)), relu_fc=nn.ReLU(), dropout=nn.Dropout(0.7),
                    classifier=nn.Linear(s(1024), classes))))
                self.taps[tap] = name

    def forward(self, x):
        aux_out = []
        for name in self.names:
            x = getattr(self, name)(x)
            if self.training and name in self.taps:
                aux_out.append(getattr(self, self.taps[name])(x))
        return (x, *aux_out) if aux_out else x


def torch_rows(model: nn.Module, input_shape, order):
    """(name, output shape, params) per top-level module, in `order`, from one forward on the meta device."""
    shapes = {}
    hooks = [getattr(model, name).register_forward_hook(
        lambda m, i, o, name=name: shapes.__setitem__(name, tuple(o.shape[1:]))) for name in order]
    with torch.no_grad():
        model(torch.empty((1, *input_shape), device=next(model.parameters()).device))
    for h in hooks:
        h.remove()
    return [(name, shapes[name], sum(p.numel() for p in getattr(model, name).parameters())) for name in order]


def load_into_torch(cn_model, torch_model, dtype=torch.float64):
    """Copy the cnnlib weights into the torch model (same names); returns the torch model."""
    state = {k: torch.from_numpy(np.array(v)) for k, v in cn_model.state_dict().items()}
    torch_model = torch_model.to(dtype)  # before loading: loading casts to the model's dtype
    torch_model.load_state_dict(state)
    return torch_model


def all_layers(layer):
    yield layer
    for _, child in layer.children():
        yield from all_layers(child)


def cn_rows(model, input_shape):
    return [(name, shape, params) for name, _, shape, params in summary(model, input_shape, show=False).rows]


# --------------------------------------------------------------------------
# Summaries against torch
# --------------------------------------------------------------------------


def test_simple_convnet_summary_matches_torch_and_seed_002():
    model = SimpleConvNet()
    rows = cn_rows(model, (1, 28, 28))
    assert rows == torch_rows(torch_simple_convnet(), (1, 28, 28), [r[0] for r in rows])
    assert dict((r[0], r[1]) for r in rows)["pool1"] == (30, 12, 12)
    assert model.num_params() == 780 + 4320 * 100 + 100 + 100 * 10 + 10 == 433_890


@pytest.mark.parametrize("activation, act", [("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid)])
def test_lenet5_summary_matches_torch(activation, act):
    model = LeNet5(activation=activation)
    rows = cn_rows(model, (1, 32, 32))
    assert rows == torch_rows(torch_lenet5(act), (1, 32, 32), [r[0] for r in rows])
    assert model.num_params() == 61_706


@pytest.mark.parametrize("two_gpu, total", [(False, 62_378_344), (True, 60_965_224)])
def test_alexnet_summary_matches_torch(two_gpu, total):
    model = AlexNet(two_gpu=two_gpu)
    rows = cn_rows(model, (3, 227, 227))
    with torch.device("meta"):
        reference = torch_alexnet(groups=2 if two_gpu else 1)
    assert rows == torch_rows(reference, (3, 227, 227), [r[0] for r in rows])
    assert model.num_params() == sum(p.numel() for p in reference.parameters()) == total


def test_alexnet_seed_004_products_are_per_gpu_weight_counts():
    weights = {k: v.size for k, v in AlexNet(two_gpu=True, hidden=8).state_dict().items()}
    assert weights["conv1.weight"] == 11 * 11 * 3 * 48 * 2
    assert weights["conv2.weight"] == 5 * 5 * 48 * 128 * 2  # seed 004's product is one GPU's half
    assert weights["conv3.weight"] == 3 * 3 * 128 * 2 * 192 * 2  # conv3 sees both GPUs' maps
    assert weights["conv4.weight"] == 3 * 3 * 192 * 192 * 2


def test_alexnet_at_224_fails_at_fc6_with_a_clear_error():
    with pytest.raises(LayerError, match=r"layer 16 'fc6' \(Linear 9216->8\): expected input with 9216 features, got sample shape \(6400,\)"):
        summary(AlexNet(hidden=8), (3, 224, 224), show=False)


@pytest.mark.parametrize("aux, total", [(False, 6_998_552), (True, 13_378_280)])
def test_googlenet_summary_matches_torch(aux, total):
    model = GoogLeNet(aux_logits=aux)
    rows = cn_rows(model, (3, 224, 224))
    with torch.device("meta"):
        reference = TorchGoogLeNet(aux=aux)
    assert rows == torch_rows(reference, (3, 224, 224), [r[0] for r in rows])
    assert model.num_params() == sum(p.numel() for p in reference.parameters()) == total


def test_inception_3a_parameters_by_hand():
    block = Inception(192, *INCEPTION_TABLE["3a"])
    by_hand = (192 * 64 + 64) + (192 * 96 + 96) + (9 * 96 * 128 + 128) + (192 * 16 + 16) + (25 * 16 * 32 + 32) + (192 * 32 + 32)
    assert block.num_params() == by_hand == 163_696
    assert block.output_shape((192, 28, 28)) == (256, 28, 28)
    rows = summary(block, (192, 28, 28), depth=2, show=False).rows
    assert [r[0] for r in rows][:3] == ["branch1.conv", "branch1.relu", "branch2.reduce"]


# --------------------------------------------------------------------------
# Forward passes and gradients against torch
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def digits():
    x, y = load_mnist()
    return x[:16], y[:16]


def test_simple_convnet_logits_and_gradients_match_torch(digits):
    x, y = digits
    model = SimpleConvNet(seed=3, dtype=np.float64)
    reference = load_into_torch(model, torch_simple_convnet())
    xd = x.astype(np.float64)
    logits = model.forward(xd)
    loss = SoftmaxCrossEntropy()
    value = loss(logits, y)
    model.backward(loss.backward())
    tl = reference(t(xd))
    tloss = nn.functional.cross_entropy(tl, torch.tensor(y))
    tloss.backward()
    assert_close(logits, tl.detach().numpy(), what="SimpleConvNet logits")
    assert abs(value - tloss.item()) < 1e-12
    tgrads = {k: p.grad.numpy() for k, p in reference.named_parameters()}
    for name, _, grad in model.parameters():
        assert_close(grad, tgrads[name], what=f"SimpleConvNet d{name}")


def test_simple_convnet_float32_logits_match_torch(digits):
    x, _ = digits
    model = SimpleConvNet(seed=4)
    reference = load_into_torch(model, torch_simple_convnet(), torch.float32)
    with torch.no_grad():
        expected = reference(t(x)).numpy()
    assert_close(model.forward(x), expected, what="SimpleConvNet float32 logits")


def test_whole_simple_convnet_gradient_matches_finite_differences():
    model = SimpleConvNet(input_dim=(1, 10, 10), filter_num=3, filter_size=3, hidden_size=6, output_size=4,
                          seed=5, dtype=np.float64)
    x = np.random.default_rng(6).standard_normal((3, 1, 10, 10))
    y = np.array([0, 3, 2])
    loss = SoftmaxCrossEntropy()

    def f(_=None):
        return loss(model.forward(x), y)

    f()
    dx = model.backward(loss.backward())
    analytic = {name: grad.copy() for name, _, grad in model.parameters()}
    for name, param, _ in list(model.parameters()):
        err = rel_error(analytic[name], numerical_gradient(f, param))
        assert err < 1e-6, f"d{name}: rel error {err:.2e}"
    assert rel_error(dx, numerical_gradient(lambda v: loss(model.forward(v), y), x)) < 1e-6


@pytest.mark.parametrize("activation, act", [("tanh", nn.Tanh), ("sigmoid", nn.Sigmoid)])
def test_lenet5_logits_match_torch(digits, activation, act):
    x, _ = digits
    xp = np.pad(x, [(0, 0), (0, 0), (2, 2), (2, 2)]).astype(np.float64)
    model = LeNet5(activation=activation, seed=7, dtype=np.float64)
    with torch.no_grad():
        expected = load_into_torch(model, torch_lenet5(act))(t(xp)).numpy()
    assert_close(model.forward(xp), expected, what="LeNet-5 logits")


@pytest.mark.parametrize("two_gpu", [False, True])
def test_reduced_alexnet_matches_torch_in_eval_mode(two_gpu):
    model = AlexNet(num_classes=10, two_gpu=two_gpu, input_size=67, width=0.125, hidden=32, seed=8, dtype=np.float64).eval()
    channels = tuple(model[n].out_channels for n in ("conv1", "conv2", "conv3", "conv4", "conv5"))
    assert channels == (12, 32, 48, 48, 32)
    reference = load_into_torch(model, torch_alexnet(2 if two_gpu else 1, channels, 32, model["fc6"].in_features, 10)).eval()
    x = np.random.default_rng(9).standard_normal((2, 3, 67, 67)) * 20  # large enough for LRN to matter
    with torch.no_grad():
        expected = reference(t(x)).numpy()
    assert_close(model.forward(x), expected, what="AlexNet logits")


def test_reduced_googlenet_with_aux_matches_torch_forward_and_backward():
    model = GoogLeNet(num_classes=5, aux_logits=True, input_size=96, width=1 / 16, seed=10, dtype=np.float64)
    reference = load_into_torch(model, TorchGoogLeNet(aux=True, width=1 / 16, input_size=96, classes=5))
    # Training mode runs the aux heads; dropout off on both sides so the outputs are deterministic.
    for module in reference.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    for layer in all_layers(model):
        if isinstance(layer, Dropout):
            layer.p = 0.0
    rng = np.random.default_rng(11)
    x = rng.standard_normal((2, 3, 96, 96))
    main = model.forward(x)
    aux1, aux2 = model.aux_outputs
    douts = [rng.standard_normal(a.shape) for a in (main, aux1, aux2)]
    dx = model.backward(douts[0], aux_douts=douts[1:])
    xt = t(x, True)
    outs = reference(xt)
    sum((o * t(d)).sum() for o, d in zip(outs, douts)).backward()
    for mine, theirs, what in zip((main, aux1, aux2), outs, ("main", "aux1", "aux2")):
        assert_close(mine, theirs.detach().numpy(), what=f"GoogLeNet {what} logits")
    assert_close(dx, xt.grad.numpy(), what="GoogLeNet dx")
    tgrads = dict(reference.named_parameters())
    for name, _, grad in model.parameters():
        assert_close(grad, tgrads[name].grad.numpy(), what=f"GoogLeNet d{name}")


def test_googlenet_eval_mode_skips_the_aux_heads():
    model = GoogLeNet(num_classes=3, aux_logits=True, input_size=96, width=1 / 16).eval()
    out = model.forward(np.zeros((1, 3, 96, 96), dtype=np.float32))
    assert out.shape == (1, 3) and model.aux_outputs == ()


# --------------------------------------------------------------------------
# Clear errors for bad input
# --------------------------------------------------------------------------


def test_bad_image_size_names_the_first_layer_that_cannot_take_it():
    model = SimpleConvNet()
    with pytest.raises(LayerError, match=r"layer 4 'fc1' \(Linear 4320->100\): expected input with 4320 features, got \(2, 3630\)"):
        model.forward(np.zeros((2, 1, 27, 27), dtype=np.float32))


def test_bad_channel_count_names_the_conv_layer():
    with pytest.raises(LayerError, match=r"layer 0 'conv1' \(Conv2d 1->30, 5x5\): expected input with 1 channels, got \(2, 3, 28, 28\)"):
        SimpleConvNet().forward(np.zeros((2, 3, 28, 28), dtype=np.float32))


def test_flat_input_into_a_convnet_is_explained():
    with pytest.raises(LayerError, match=r"layer 0 'conv1'.*4-D input \(N, C, H, W\).*\(2, 784\)"):
        SimpleConvNet().forward(np.zeros((2, 784), dtype=np.float32))


def test_googlenet_errors_name_the_layer_and_the_block():
    model = GoogLeNet(num_classes=3, input_size=96, width=1 / 16)
    with pytest.raises(LayerError, match=r"layer 0 'conv1' \(Conv2d 3->4, 7x7, stride 2, pad 3\): expected input with 3 channels"):
        model.forward(np.zeros((1, 1, 96, 96), dtype=np.float32))
    with pytest.raises(LayerError, match=r"layer 21 'avgpool' \(AvgPool2d 3x3\): pooling window 3x3 is larger"):
        model.output_shape((3, 64, 64))
    from cnnlib.layers import Sequential

    net = Sequential(("inception3a", Inception(12, *[max(1, round(c / 16)) for c in INCEPTION_TABLE["3a"]])))
    with pytest.raises(LayerError, match=r"layer 0 'inception3a' \(Inception 12->16\): expected input with 12 channels, got \(1, 13, 6, 6\)"):
        net.forward(np.zeros((1, 13, 6, 6)))
