"""VGG, ResNet and MobileNet against torch twins built here with torch.nn.

torchvision is not installed, so each twin follows torchvision's model
definitions by hand (VGG with its 7x7 adaptive pool, ResNet v1.5 with the
stride on the bottleneck's 3x3 conv, MobileNet v1 with BN after every
conv). Checks:

* full size (224x224, 1000 classes): parameter totals equal the twin's and
  torchvision's published totals; ``summary``'s MACs equal half the FLOPs of
  ``torch.utils.flop_counter.FlopCounterMode`` on the twin (built on the
  meta device: no memory, no arithmetic);
* reduced width, 32x32 input, float64: the twin with cnnlib's weights
  copied in gives the same logits (training mode, so BatchNorm uses batch
  statistics and updates its running ones), VGG at ``helpers.TOL``; the
  ResNets and the MobileNet, with their input and parameter gradients and
  running statistics, at ``DEEP_TOL``: with 2 samples, the last stages'
  BatchNorms normalise a handful of values per channel, each dividing by
  a small spread, and a dozen or more in series grow the float64 rounding
  differences between two correct implementations to ~1e-8 relative (an
  indexing bug is O(1)).
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn
from torch.utils.flop_counter import FlopCounterMode

from cnnlib.models import VGG11, VGG16, MobileNetV1, ResNet18, ResNet34, ResNet50, summary
from cnnlib.models.mobilenet import MOBILENET_V1_BLOCKS
from helpers import assert_close, t

DEEP_TOL = dict(rtol=1e-6, atol=1e-9)


def assert_deep_close(actual, expected, what):
    assert actual.shape == expected.shape and actual.dtype == np.float64, what
    np.testing.assert_allclose(actual, expected, err_msg=what, **DEEP_TOL)

# --------------------------------------------------------------------------
# torch twins, after torchvision's definitions
# --------------------------------------------------------------------------

VGG_CFG = {"vgg11": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
           "vgg16": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"]}


def torch_vgg(cfg, num_classes=1000, width=1.0, hidden=4096, input_size=224):
    layers, c = [], 3
    for v in cfg:
        if v == "M":
            layers.append(nn.MaxPool2d(2, 2))
        else:
            out = max(1, int(round(v * width)))
            layers += [nn.Conv2d(c, out, 3, padding=1), nn.ReLU(inplace=True)]
            c = out
    side = input_size // 32
    # torchvision pools to 7x7 whatever the input; at 224 that pool is the identity
    pool = nn.AdaptiveAvgPool2d((7, 7)) if input_size == 224 else nn.Identity()
    side = 7 if input_size == 224 else side
    return nn.Sequential(*layers, pool, nn.Flatten(),
                         nn.Linear(c * side * side, hidden), nn.ReLU(True), nn.Dropout(),
                         nn.Linear(hidden, hidden), nn.ReLU(True), nn.Dropout(), nn.Linear(hidden, num_classes))


class TorchBasicBlock(nn.Module):
    expansion = 1

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.downsample = None
        if stride != 1 or cin != planes:
            self.downsample = nn.Sequential(nn.Conv2d(cin, planes, 1, stride, bias=False), nn.BatchNorm2d(planes))

    def forward(self, x):
        out = self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x)))))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


class TorchBottleneck(nn.Module):
    expansion = 4

    def __init__(self, cin, planes, stride=1):
        super().__init__()
        out = planes * 4
        self.conv1 = nn.Conv2d(cin, planes, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.conv3 = nn.Conv2d(planes, out, 1, bias=False)
        self.bn3 = nn.BatchNorm2d(out)
        self.downsample = None
        if stride != 1 or cin != out:
            self.downsample = nn.Sequential(nn.Conv2d(cin, out, 1, stride, bias=False), nn.BatchNorm2d(out))

    def forward(self, x):
        out = torch.relu(self.bn1(self.conv1(x)))
        out = torch.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return torch.relu(out + (x if self.downsample is None else self.downsample(x)))


def torch_resnet(block, layers, num_classes=1000, width=1.0):
    base = max(1, int(round(64 * width)))
    mods = [nn.Conv2d(3, base, 7, 2, 3, bias=False), nn.BatchNorm2d(base), nn.ReLU(True), nn.MaxPool2d(3, 2, 1)]
    c = base
    for i, n in enumerate(layers):
        planes = base * 2 ** i
        for j in range(n):
            mods.append(block(c, planes, 2 if i > 0 and j == 0 else 1))
            c = planes * block.expansion
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


def torch_mobilenet(num_classes=1000, width=1.0):
    def conv_bn(cin, cout, k, stride, groups=1):
        return [nn.Conv2d(cin, cout, k, stride, k // 2, groups=groups, bias=False), nn.BatchNorm2d(cout), nn.ReLU(True)]

    c = max(1, int(32 * width))
    mods = conv_bn(3, c, 3, 2)
    for out, stride in MOBILENET_V1_BLOCKS:
        out = max(1, int(out * width))
        mods += conv_bn(c, c, 3, stride, groups=c) + conv_bn(c, out, 1, 1)
        c = out
    return nn.Sequential(*mods, nn.AdaptiveAvgPool2d(1), nn.Flatten(), nn.Linear(c, num_classes))


# name: (cnnlib constructor, torch twin constructor, torchvision's published parameter total)
MODELS = {
    "VGG11": (VGG11, lambda **kw: torch_vgg(VGG_CFG["vgg11"], **kw), 132_863_336),
    "VGG16": (VGG16, lambda **kw: torch_vgg(VGG_CFG["vgg16"], **kw), 138_357_544),
    "ResNet18": (ResNet18, lambda **kw: torch_resnet(TorchBasicBlock, [2, 2, 2, 2], **kw), 11_689_512),
    "ResNet34": (ResNet34, lambda **kw: torch_resnet(TorchBasicBlock, [3, 4, 6, 3], **kw), 21_797_672),
    "ResNet50": (ResNet50, lambda **kw: torch_resnet(TorchBottleneck, [3, 4, 6, 3], **kw), 25_557_032),
    "MobileNetV1": (MobileNetV1, torch_mobilenet, 4_231_976),
}


def torch_count(twin, input_size=224):
    """(parameters, FLOPs of one sample) of a twin built on the meta device."""
    twin.eval()  # BatchNorm in eval mode: a 1x1 map of one sample is fine there
    with FlopCounterMode(display=False) as counter:
        twin(torch.empty(1, 3, input_size, input_size, device="meta"))
    return sum(p.numel() for p in twin.parameters()), counter.get_total_flops()


@pytest.mark.parametrize("name", list(MODELS))
def test_full_size_parameters_and_macs_match_the_torch_twin(name):
    ours_fn, twin_fn, published = MODELS[name]
    with torch.device("meta"):
        twin = twin_fn()
    params, flops = torch_count(twin)
    table = summary(ours_fn(), (3, 224, 224), show=False)  # float32, never run
    assert table.total_params == params == published
    assert 2 * table.total_macs == flops
    assert table.output_shape == (1000,)
    assert sum(table.macs) == table.total_macs


def test_summary_mac_rows_of_mobilenet_follow_the_cost_formula():
    """Depthwise 3x3 then pointwise: C K^2 O^2 + C F O^2 MACs per block, rows at depth 2."""
    table = summary(MobileNetV1(num_classes=10, width=0.25), (3, 32, 32), depth=2, show=False, macs=True)
    macs = dict(zip([r[0] for r in table.rows], table.macs))
    # block2: 16 -> 32 channels, stride 2, 16x16 -> 8x8
    assert macs["block2.dw"] == 16 * 9 * 8 * 8
    assert macs["block2.pw"] == 16 * 32 * 8 * 8
    assert macs["block2.dw_bn"] == macs["block2.dw_relu"] == 0
    assert "MACs" in table.table().splitlines()[2] and "Total MACs: 834,688 per sample" in table.table()
    plain = summary(MobileNetV1(num_classes=10, width=0.25), (3, 32, 32), show=False)
    assert "MACs" not in plain.table() and plain.total_macs == table.total_macs  # the column is opt-in
    with torch.device("meta"):
        _, flops = torch_count(torch_mobilenet(num_classes=10, width=0.25), 32)
    assert 2 * table.total_macs == flops


# --------------------------------------------------------------------------
# Small configurations: same logits (and gradients) as the twin
# --------------------------------------------------------------------------

SMALL = {  # cnnlib kwargs, twin kwargs
    "VGG11": (dict(width=1 / 16, hidden=16, input_size=32), dict(width=1 / 16, hidden=16, input_size=32)),
    "VGG16": (dict(width=1 / 16, hidden=16, input_size=32), dict(width=1 / 16, hidden=16, input_size=32)),
    "ResNet18": (dict(width=1 / 8, input_size=32), dict(width=1 / 8)),
    "ResNet34": (dict(width=1 / 16, input_size=32), dict(width=1 / 16)),
    "ResNet50": (dict(width=1 / 16, input_size=32), dict(width=1 / 16)),
    "MobileNetV1": (dict(width=0.25, input_size=32), dict(width=0.25)),
}


def copy_weights(ours, twin):
    """Copy cnnlib's parameters into the twin in order; every shape must agree."""
    theirs = list(twin.parameters())
    mine = [p for _, p, _ in ours.parameters()]
    assert len(mine) == len(theirs)
    with torch.no_grad():
        for a, b in zip(mine, theirs):
            assert tuple(b.shape) == a.shape
            b.copy_(torch.from_numpy(a))


@pytest.mark.parametrize("name", list(SMALL))
def test_small_model_matches_the_twin(name):
    ours_fn, twin_fn, _ = MODELS[name]
    ours_kw, twin_kw = SMALL[name]
    ours = ours_fn(num_classes=5, dtype=np.float64, seed=1, **ours_kw)
    twin = twin_fn(num_classes=5, **twin_kw).double()
    copy_weights(ours, twin)
    # dropout off on both sides (VGG); BatchNorm in training mode on both
    for m in twin.modules():
        if isinstance(m, nn.Dropout):
            m.p = 0.0
    for layer in (layer for _, layer in _named_layers(ours)):
        if hasattr(layer, "p"):
            layer.p = 0.0
    x = np.random.default_rng(0).standard_normal((2, 3, 32, 32))
    xt = t(x, True)
    yt = twin(xt)
    y = ours.forward(x)
    if name.startswith("VGG"):  # no BatchNorm: the usual tolerance
        assert_close(y, yt.detach().numpy(), what="model logits")
        return
    assert_deep_close(y, yt.detach().numpy(), "model logits")
    dout = np.random.default_rng(1).standard_normal(y.shape)
    yt.backward(t(dout))
    assert_deep_close(ours.backward(dout), xt.grad.numpy(), "model dx")
    for (pname, _, grad), p in zip(ours.parameters(), twin.parameters()):
        assert_deep_close(grad, p.grad.numpy(), f"model gradient of {pname}")
    bn_stats = [b for b in twin.buffers() if b.dtype == torch.float64]
    ours_stats = [v for n, v in ours.named_buffers() if v.dtype == np.float64]
    assert len(bn_stats) == len(ours_stats) > 0
    for a, b in zip(ours_stats, bn_stats):
        assert_deep_close(a, b.numpy(), "model running statistics")


def _named_layers(layer, prefix=""):
    yield prefix, layer
    for name, child in layer.children():
        yield from _named_layers(child, f"{prefix}.{name}")


def test_models_check_their_input_size():
    # five 2x2 pools need at least 32 pixels
    with pytest.raises(ValueError, match="pooling window 2x2 is larger than the padded input 1x1"):
        VGG11(width=1 / 16, hidden=4, input_size=16)
    with pytest.raises(ValueError, match="input_size must be >= 1"):
        MobileNetV1(width=0.25, input_size=0)


def test_summary_macs_reach_side_branches_and_single_layers():
    """GoogLeNet's aux heads (rows after the trunk layer they tap) and a bare layer get their MACs too."""
    from cnnlib.layers import Conv2d
    from cnnlib.models import GoogLeNet

    table = summary(GoogLeNet(num_classes=10, aux_logits=True, width=0.25), (3, 224, 224), show=False)
    macs = dict(zip([r[0] for r in table.rows], table.macs))
    # aux1 taps inception4a (128 channels at width 0.25, 14x14): avg pool 5x5/3 -> 4x4,
    # 1x1 conv to 32 channels, fc 512 -> 256, classifier 256 -> 10
    assert macs["aux1"] == 128 * 32 * 4 * 4 + 512 * 256 + 256 * 10
    assert sum(table.macs) == table.total_macs
    single = summary(Conv2d(3, 8, 3, stride=2, groups=1), (3, 9, 9), show=False)
    assert single.macs == [8 * 3 * 9 * 4 * 4] and single.total_macs == 8 * 27 * 16
