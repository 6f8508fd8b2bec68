"""Chapter 11's checkers: bottleneck_params and basic_block_forward.

The references are checked against torch (parameter counts of torch
modules built here, forward passes of torch's conv2d); the reference
solutions pass; every listed mistake is diagnosed; wrong implementations
written the way a learner would (independently of the listed mistakes) get
the hint that names their mistake; hidden cases are drawn, differ from the
public ones, repeat with the seed, and grade the solution as passing.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

import cnnlib.exercises as ex
from cnnlib.exercises import solutions as sol
from cnnlib.exercises._core import Case, judge
from cnnlib.exercises._hidden import hidden_cases

NAMES = ["bottleneck_params", "basic_block_forward"]


def _torch_bottleneck(cin, mid, cout, stride=1, bias=False, batchnorm=True) -> int:
    def conv_bn(a, b, k, s=1):
        layers = [nn.Conv2d(a, b, k, stride=s, padding=k // 2, bias=bias)]
        return layers + ([nn.BatchNorm2d(b)] if batchnorm else [])

    body = nn.Sequential(*conv_bn(cin, mid, 1), *conv_bn(mid, mid, 3, stride), *conv_bn(mid, cout, 1))
    modules = [body]
    if stride != 1 or cin != cout:
        modules.append(nn.Sequential(*conv_bn(cin, cout, 1, stride)))
    return sum(p.numel() for m in modules for p in m.parameters())


def _torch_basic_block(x, w1, w2, w_proj=None, stride=1) -> np.ndarray:
    t = [None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64)) for a in (x, w1, w2, w_proj)]
    x_, w1_, w2_, wp_ = t
    h = torch.relu(torch.nn.functional.conv2d(x_, w1_, stride=stride, padding=1))
    body = torch.nn.functional.conv2d(h, w2_, padding=1)
    skip = x_ if wp_ is None else torch.nn.functional.conv2d(x_, wp_, stride=stride)
    return torch.relu(body + skip).numpy()


def _all_cases(name):
    exercise = ex.by_name(name)
    return exercise.make_cases() + hidden_cases(exercise, seed=5)


@pytest.mark.parametrize("case", _all_cases("bottleneck_params"), ids=lambda c: c.label)
def test_bottleneck_reference_equals_torch_modules(case: Case):
    assert ex.by_name("bottleneck_params").reference(*case.args, **case.kwargs) == _torch_bottleneck(
        *case.args, **case.kwargs)


def test_bottleneck_reference_equals_resnet50_blocks():
    # torchvision's ResNet-50: layer1.0 (projection, stride 1), layer1.1 (identity), layer2.0 (stride 2)
    from cnnlib.models.resnet import bottleneck_block

    for cin, planes, stride in ((64, 64, 1), (256, 64, 1), (256, 128, 2)):
        block = bottleneck_block(cin, planes, stride, rng=0)
        assert sol.bottleneck_params(cin, planes, 4 * planes, stride) == block.num_params()


@pytest.mark.parametrize("case", _all_cases("basic_block_forward"), ids=lambda c: c.label)
def test_basic_block_reference_equals_torch(case: Case):
    ours = ex.by_name("basic_block_forward").reference(*case.args, **case.kwargs)
    theirs = _torch_basic_block(*case.args, **case.kwargs)
    assert ours.shape == theirs.shape
    np.testing.assert_allclose(ours, theirs, rtol=1e-12, atol=1e-12)


def test_basic_block_cases_have_negative_body_outputs():
    # otherwise "relu before the add" and "two ReLUs" could not be told from the right answer
    ref = ex.by_name("basic_block_forward")
    for case in ref.make_cases():
        assert ref.reference(*case.args, **case.kwargs).min() == 0


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes(name, capsys):
    getattr(ex, f"check_{name}")(getattr(sol, name))
    n = len(ex.by_name(name).make_cases())
    assert capsys.readouterr().out == f"check_{name}: all {n} cases passed\n"


@pytest.mark.parametrize("name,key", [(n, m.key) for n in NAMES for m in ex.by_name(n).mistakes])
def test_every_listed_mistake_is_diagnosed(name, key):
    mistake = next(m for m in ex.by_name(name).mistakes if m.key == key)
    with pytest.raises(AssertionError) as info:
        getattr(ex, f"check_{name}")(mistake.wrong)
    assert f"hint: {mistake.hint}" in str(info.value)


# --- learner-style wrong implementations ---------------------------------------

def _bottleneck_loops(cin, mid, cout, stride=1, bias=False, batchnorm=True, *, bn=2, project="right",
                      kernel_1=1, bias_flag=True):
    total = 0
    layers = [(cin, mid, kernel_1), (mid, mid, 3), (mid, cout, kernel_1)]
    needs = {"right": stride != 1 or cin != cout, "never": False, "stride": stride > 1, "always": True}[project]
    if needs:
        layers.append((cin, cout, 1))
    for a, b, k in layers:
        total += a * b * k * k
        if bias or not bias_flag:
            total += b
        if batchnorm:
            total += bn * b
    return total


def _block_loops(x, w1, w2, w_proj=None, stride=1, *, order="right"):
    def conv(a, w, s, p):
        a = np.pad(a, [(0, 0), (0, 0), (p, p), (p, p)])
        f, _, k, _ = w.shape
        oh, ow = (a.shape[2] - k) // s + 1, (a.shape[3] - k) // s + 1
        out = np.zeros((a.shape[0], f, oh, ow))
        for i in range(oh):
            for j in range(ow):
                patch = a[:, :, i * s:i * s + k, j * s:j * s + k]
                out[:, :, i, j] = np.einsum("nchw,fchw->nf", patch, w)
        return out

    h = np.maximum(conv(x, w1, stride, 1), 0)
    body = conv(h, w2, 1, 1)
    skip = x if w_proj is None else conv(x, w_proj, stride, 0)
    if order == "relu-then-add":
        return np.maximum(body, 0) + skip
    if order == "no-relu":
        return body + skip
    if order == "plain":
        return np.maximum(body, 0)
    if order == "stride-late":
        h = np.maximum(conv(x, w1, 1, 1), 0)
        return np.maximum(conv(h, w2, stride, 1) + skip, 0)
    return np.maximum(body + skip, 0)


WRONG = [
    ("bottleneck_params", lambda *a, **k: _bottleneck_loops(*a, **k, project="never"), "shortcut is a 1x1"),
    ("bottleneck_params", lambda *a, **k: _bottleneck_loops(*a, **k, project="stride"), "OR when"),
    ("bottleneck_params", lambda *a, **k: _bottleneck_loops(*a, **k, bn=4), "running mean and variance"),
    ("bottleneck_params", lambda *a, **k: _bottleneck_loops(*a, **k, bias_flag=False), "bias=False"),
    ("bottleneck_params", lambda *a, **k: _bottleneck_loops(*a, **k, kernel_1=3), "first and last are 1x1"),
    ("bottleneck_params", lambda *a, **k: float(_bottleneck_loops(*a, **k)), "a float"),
    ("basic_block_forward", lambda *a, **k: _block_loops(*a, **k, order="relu-then-add"), "not before it"),
    ("basic_block_forward", lambda *a, **k: _block_loops(*a, **k, order="no-relu"), "AFTER the addition"),
    ("basic_block_forward", lambda *a, **k: _block_loops(*a, **k, order="plain"), "left out the shortcut"),
    ("basic_block_forward", lambda *a, **k: _block_loops(*a, **k, order="stride-late"), "FIRST 3x3"),
]


@pytest.mark.parametrize("name,wrong,phrase", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_learner_mistake_gets_its_hint(name, wrong, phrase):
    with pytest.raises(AssertionError, match=phrase):
        getattr(ex, f"check_{name}")(wrong)


def test_learner_style_right_implementations_pass(capsys):
    ex.check_bottleneck_params(_bottleneck_loops)
    ex.check_basic_block_forward(_block_loops)
    assert capsys.readouterr().out.count("passed") == 2


# --- hidden cases ----------------------------------------------------------------

@pytest.mark.parametrize("name", NAMES)
def test_hidden_cases_are_fresh_repeatable_and_pass_the_solution(name):
    exercise = ex.by_name(name)
    first, again, other = (hidden_cases(exercise, seed) for seed in (1, 1, 2))
    assert len(first) >= 5
    assert [c.label for c in first] == [c.label for c in again]
    assert repr([(c.args, c.kwargs) for c in first]) == repr([(c.args, c.kwargs) for c in again])
    assert repr([(c.args, c.kwargs) for c in first]) != repr([(c.args, c.kwargs) for c in other])
    public = exercise.make_cases()
    assert repr([c.args for c in first]) != repr([c.args for c in public])
    solution = getattr(sol, name)
    cases = public + first
    assert judge(exercise, cases, lambda i: (True, solution(*cases[i].args, **cases[i].kwargs)),
                 n_public=len(public)) is None
    mistake = exercise.mistakes[0]
    failure = judge(exercise, first, lambda i: (True, mistake.wrong(*first[i].args, **first[i].kwargs)),
                    n_public=0)
    assert failure is not None and "hidden case" in failure[1]


def test_hidden_bottleneck_cases_cover_both_shortcuts():
    cases = hidden_cases(ex.by_name("bottleneck_params"), seed=3)
    kinds = {c.kwargs["stride"] != 1 or c.args[0] != c.args[2] for c in cases}
    assert kinds == {True, False}
