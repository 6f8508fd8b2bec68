"""Chapter 12's exercises: references against torch, solutions pass, mistakes named, hidden cases.

The learner-style wrong implementations below are written independently of
the mistakes listed in cnnlib.exercises.efficient (loops, np.convolve,
formulas typed from memory) and must fail with the hint of their mistake.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cnnlib.exercises as ex
from cnnlib.exercises import solutions as sol
from cnnlib.exercises._core import judge
from cnnlib.exercises._hidden import hidden_cases

NAMES = ["separable_macs", "conv_transpose_output_size", "conv_transpose1d"]


def _fails_with(checker, fn, hint_part: str) -> str:
    with pytest.raises(AssertionError) as info:
        checker(fn)
    message = str(info.value)
    assert hint_part in message, message
    return message


@pytest.mark.parametrize("name", NAMES)
def test_registered_for_chapter_12_with_a_passing_solution(name, capsys):
    exercise = ex.by_name(name)
    assert exercise.chapter == 12 and f"check_{name}" in ex.__all__
    getattr(ex, f"check_{name}")(getattr(sol, name))
    assert capsys.readouterr().out == f"check_{name}: all {len(exercise.make_cases())} cases passed\n"


@pytest.mark.parametrize("name", NAMES)
def test_each_listed_mistake_is_named(name):
    exercise = ex.by_name(name)
    for mistake in exercise.mistakes:
        _fails_with(getattr(ex, f"check_{name}"), mistake.wrong, f"hint: {mistake.hint}")


@pytest.mark.parametrize("name", NAMES)
def test_hidden_cases_are_fresh_valid_and_reproducible(name):
    exercise = ex.by_name(name)
    first, again, other = hidden_cases(exercise, 3), hidden_cases(exercise, 3), hidden_cases(exercise, 4)
    assert len(first) >= 5
    assert repr(first) == repr(again) and repr(first) != repr(other)
    # the reference solution passes them, a listed mistake fails one of them
    solution = getattr(sol, name)
    assert judge(exercise, first, lambda i: (True, solution(*first[i].args, **first[i].kwargs))) is None
    wrong = exercise.mistakes[0].wrong
    assert judge(exercise, first, lambda i: (True, wrong(*first[i].args, **first[i].kwargs))) is not None


# --- the references against torch --------------------------------------------

def _torch_macs(c, f, k, size, stride, padding):
    """MACs of the depthwise and the pointwise convolution, from torch's FLOP counter (2 FLOPs per MAC)."""
    from torch.utils.flop_counter import FlopCounterMode

    dw = torch.nn.Conv2d(c, c, k, stride=stride, padding=padding, groups=c, bias=False)
    pw = torch.nn.Conv2d(c, f, 1, bias=False)
    x = torch.zeros(1, c, size, size)
    counts = []
    with torch.no_grad():
        for layer in (dw, pw):
            with FlopCounterMode(display=False) as counter:
                x = layer(x)
            counts.append(counter.get_total_flops() // 2)
    return tuple(counts)


def test_separable_reference_matches_torch_flop_counter():
    exercise = ex.by_name("separable_macs")
    for case in exercise.make_cases()[1:5]:
        c, f, k, size = case.args
        stride, padding = case.kwargs.get("stride", 1), case.kwargs.get("padding", 0)
        expected = _torch_macs(c, f, k, size, stride, padding)
        assert exercise.reference(c, f, k, size, stride, padding) == expected
        assert sol.separable_macs(c, f, k, size, stride, padding) == expected


def test_transpose_size_reference_matches_torch_on_hidden_draws():
    exercise = ex.by_name("conv_transpose_output_size")
    for case in exercise.make_cases() + hidden_cases(exercise, 11):
        size, k = case.args
        kw = case.kwargs
        y = torch.nn.functional.conv_transpose2d(torch.zeros(1, 1, 1, size), torch.zeros(1, 1, 1, k),
                                                 stride=(1, kw.get("stride", 1)), padding=(0, kw.get("padding", 0)),
                                                 output_padding=(0, kw.get("output_padding", 0)),
                                                 dilation=(1, kw.get("dilation", 1)))
        assert exercise.reference(size, k, **kw) == y.shape[-1], case


def test_transpose1d_reference_matches_torch():
    for case in ex.by_name("conv_transpose1d").make_cases():
        x, w = (np.asarray(a, dtype=np.float64) for a in case.args)
        expected = torch.nn.functional.conv_transpose1d(torch.tensor(x)[None, None], torch.tensor(w)[None, None],
                                                        stride=case.kwargs.get("stride", 1))[0, 0].numpy()
        np.testing.assert_allclose(sol.conv_transpose1d(x, w, **case.kwargs), expected, rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(ex.by_name("conv_transpose1d").reference(x, w, **case.kwargs), expected,
                                   rtol=1e-12, atol=1e-12)


# --- learner-style wrong implementations ---------------------------------------

def _out(size, k, stride, padding):
    return (size + 2 * padding - k) // stride + 1


def _as_standard(c, f, k, size, stride=1, padding=0):
    o = _out(size, k, stride, padding)
    return c * f * k * k * o * o, f * c * o * o        # depthwise counted like a dense conv


def _only_depthwise(c, f, k, size, stride=1, padding=0):
    o = _out(size, k, stride, padding)
    return c * k ** 2 * o ** 2, 0


def _on_the_input(c, f, k, size, stride=1, padding=0):
    return c * k ** 2 * size ** 2, c * f * size ** 2


def _upsample_then_convolve(x, w, stride=1):
    up = np.zeros(len(x) * stride)                # a zero after the last value too
    up[::stride] = x
    return np.convolve(up, w)                     # np.convolve is a true convolution: right orientation


def _upsample_then_correlate(x, w, stride=1):
    up = np.zeros((len(x) - 1) * stride + 1)
    up[::stride] = x
    return np.correlate(np.pad(up, len(w) - 1), w, mode="valid")   # forgot to rotate the kernel


def _overlapping(x, w, stride=1):
    y = np.zeros(len(x) + len(w) - 1)
    for i, v in enumerate(x):
        y[i:i + len(w)] += v * w
    return y


#: (exercise, a learner's wrong function, a phrase its diagnosis must contain);
#: tests/test_exercises_checkers.py counts these with its own list
WRONG_CH12 = [
    ("separable_macs", _as_standard, "not F \\* C \\* K \\* K"),
    ("separable_macs", _only_depthwise, "the pointwise part is missing"),
    ("separable_macs", _on_the_input, "OUTPUT pixel"),
    ("separable_macs", lambda *a, **k: tuple(reversed(sol.separable_macs(*a, **k))), "in place of depthwise"),
    ("separable_macs", lambda c, f, k, size, stride=1, padding=0: tuple(
        float(v) for v in sol.separable_macs(c, f, k, size, stride, padding)), "return an int"),
    ("conv_transpose_output_size", lambda h, k, stride=1, padding=0, output_padding=0, dilation=1:
        (h + 2 * padding - dilation * (k - 1) - 1) // stride + 1, "convolution's formula"),
    ("conv_transpose_output_size", lambda h, k, stride=1, padding=0, output_padding=0, dilation=1:
        stride * (h - 1) + dilation * (k - 1) + 1 - 2 * padding, "output_padding is missing"),
    ("conv_transpose_output_size", lambda h, k, stride=1, padding=0, output_padding=0, dilation=1:
        stride * (h - 1) + dilation * (k - 1) + 1 - padding + output_padding, "subtract 2P, not P"),
    ("conv_transpose_output_size", lambda h, k, stride=1, padding=0, output_padding=0, dilation=1:
        (h - 1) * stride - 2 * padding + dilation * (k - 1) + output_padding, "off by one"),
    ("conv_transpose1d", _upsample_then_convolve, "BETWEEN the input values"),
    ("conv_transpose1d", _upsample_then_correlate, "kernel reversed"),
    ("conv_transpose1d", _overlapping, "S apart"),
    ("conv_transpose1d", lambda x, w, stride=1: list(sol.conv_transpose1d(x, w, stride)), "np.array"),
]


@pytest.mark.parametrize("name,wrong,phrase", WRONG_CH12, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG_CH12)])
def test_learner_mistake_gets_its_hint(name, wrong, phrase):
    with pytest.raises(AssertionError, match=phrase):
        getattr(ex, f"check_{name}")(wrong)


def test_transpose1d_forbids_library_help():
    assert "cnnlib" in ex.by_name("conv_transpose1d").forbid and "torch" in ex.by_name("conv_transpose1d").forbid
