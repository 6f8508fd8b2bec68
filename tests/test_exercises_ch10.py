"""Chapter 10's exercises: batch normalization forward and backward.

The references are checked against torch and cnnlib's BatchNorm2d, the
reference solutions must pass with one line, and wrong implementations
written the way a learner would (independently of the mistakes listed in
cnnlib.exercises.normalization) must fail with the hint naming their
mistake, on the public cases and on hidden ones.
"""

from __future__ import annotations

import numpy as np
import pytest
import torch

import cnnlib.exercises as ex
from cnnlib.exercises import solutions as sol
from cnnlib.exercises._core import Case, judge
from cnnlib.exercises._hidden import hidden_cases
from cnnlib.layers import BatchNorm2d

NAMES = ["batchnorm_forward", "batchnorm_backward"]


def _torch_bn(x, gamma, beta, eps):
    """Training-mode batch norm in torch, float64, with autograd on x, gamma and beta."""
    tx = torch.tensor(x, requires_grad=True)
    tg = torch.tensor(gamma, requires_grad=True)
    tb = torch.tensor(beta, requires_grad=True)
    y = torch.nn.functional.batch_norm(tx, None, None, tg, tb, training=True, eps=eps)
    return y, (tx, tg, tb)


@pytest.mark.parametrize("name", NAMES)
def test_both_are_chapter_10_and_registered(name):
    exercise = ex.by_name(name)
    assert exercise.chapter == 10
    assert f"check_{name}" in ex.__all__ and callable(getattr(sol, name))


def test_forward_reference_matches_torch_and_the_layer_on_every_case():
    exercise = ex.by_name("batchnorm_forward")
    for case in exercise.make_cases():
        x, gamma, beta = case.args
        eps = case.kwargs.get("eps", 1e-5)
        expected = exercise.reference(*case.args, **case.kwargs)
        y, _ = _torch_bn(x, gamma, beta, eps)
        np.testing.assert_allclose(expected, y.detach().numpy(), rtol=1e-12, atol=1e-12, err_msg=case.label)
        layer = BatchNorm2d(x.shape[1], eps=eps, dtype=np.float64)
        layer.params["weight"][...] = gamma
        layer.params["bias"][...] = beta
        np.testing.assert_allclose(expected, layer.forward(x), rtol=1e-12, atol=1e-12, err_msg=case.label)


def test_backward_reference_matches_torch_autograd_and_the_layer_on_every_case():
    exercise = ex.by_name("batchnorm_backward")
    for case in exercise.make_cases():
        dout, x, gamma = case.args
        eps = case.kwargs.get("eps", 1e-5)
        dx, dgamma, dbeta = exercise.reference(*case.args, **case.kwargs)
        y, (tx, tg, tb) = _torch_bn(x, gamma, np.zeros_like(gamma), eps)
        y.backward(torch.tensor(dout))
        for ours, theirs in ((dx, tx.grad), (dgamma, tg.grad), (dbeta, tb.grad)):
            np.testing.assert_allclose(ours, theirs.numpy(), rtol=1e-9, atol=1e-11, err_msg=case.label)
        layer = BatchNorm2d(x.shape[1], eps=eps, dtype=np.float64)
        layer.params["weight"][...] = gamma
        layer.forward(x)
        np.testing.assert_allclose(dx, layer.backward(dout), rtol=1e-9, atol=1e-11, err_msg=case.label)
        np.testing.assert_allclose(dgamma, layer.grads["weight"], rtol=1e-9, atol=1e-11)
        np.testing.assert_allclose(dbeta, layer.grads["bias"], rtol=1e-9, atol=1e-11)


def test_the_cases_exercise_what_the_mistakes_need():
    # eps matters only where a channel's variance is small: some case must have one
    cases = ex.by_name("batchnorm_forward").make_cases()
    variances = [c.args[0].var(axis=(0, 2, 3)).min() for c in cases]
    assert min(variances) < 1e-3
    assert any(c.args[0].shape[2:] == (1, 1) for c in cases)  # 1x1 maps: per-sample norm degenerates
    assert all(c.args[0].shape[0] > 1 for c in cases)  # training mode needs a batch


@pytest.mark.parametrize("name", NAMES)
def test_reference_solution_passes_with_one_line(name, capsys):
    getattr(ex, f"check_{name}")(getattr(sol, name))
    n_cases = len(ex.by_name(name).make_cases())
    assert capsys.readouterr().out == f"check_{name}: all {n_cases} cases passed\n"


# --- learner-style wrong implementations ------------------------------------------

def _fwd(x, gamma, beta, eps=1e-5, axes=(0, 2, 3), ddof=0, eps_out=False, shift=True):
    mu = np.mean(x, axis=axes, keepdims=True)
    var = np.var(x, axis=axes, keepdims=True, ddof=ddof)
    sd = np.sqrt(var) + eps if eps_out else np.sqrt(var + eps)
    out = gamma[None, :, None, None] * (x - mu) / sd
    return out + beta[None, :, None, None] if shift else out


def _fwd_loops(x, gamma, beta, eps=1e-5):
    """Loops over channels with statistics over the batch only, per pixel."""
    out = np.empty_like(x)
    for c in range(x.shape[1]):
        for i in range(x.shape[2]):
            for j in range(x.shape[3]):
                v = x[:, c, i, j]
                out[:, c, i, j] = gamma[c] * (v - v.mean()) / np.sqrt(v.var() + eps) + beta[c]
    return out


def _bwd(dout, x, gamma, eps=1e-5, mean_terms=True, var_term=True, dgamma_axes=(0, 2, 3), dbeta_axes=(0, 2, 3),
         raw_x_dgamma=False, gamma_in_dx=True):
    axes = (0, 2, 3)
    m = x.size // x.shape[1]
    mu = x.mean(axis=axes, keepdims=True)
    sd = np.sqrt(x.var(axis=axes, keepdims=True) + eps)
    xhat = (x - mu) / sd
    g = gamma[None, :, None, None] if gamma_in_dx else 1.0
    dxhat = dout * g
    if not mean_terms:
        dx = dxhat / sd
    elif not var_term:
        dx = (dxhat - dxhat.mean(axis=axes, keepdims=True)) / sd
    else:
        dx = (dxhat - dxhat.mean(axis=axes, keepdims=True)
              - xhat * (dxhat * xhat).sum(axis=axes, keepdims=True) / m) / sd
    dgamma = (dout * (x if raw_x_dgamma else xhat)).sum(axis=dgamma_axes)
    dbeta = dout.sum(axis=dbeta_axes)
    return dx, dgamma, dbeta


WRONG = [
    ("batchnorm_forward", _fwd_loops, "you normalised each (c, i, j) position over the batch alone"),
    ("batchnorm_forward", lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, axes=(2, 3)),
     "you normalised each image's channel over its own pixels"),
    ("batchnorm_forward", lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, axes=None),
     "one mean and variance over the whole array"),
    ("batchnorm_forward", lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, ddof=1), "the biased variance"),
    ("batchnorm_forward", lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, eps_out=True),
     "eps goes inside the square root"),
    ("batchnorm_forward", lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, shift=False), "add the shift beta"),
    ("batchnorm_forward", lambda x, g, b, eps=1e-5: _fwd(x, np.ones_like(g), b, eps), "scale by gamma"),
    ("batchnorm_backward", lambda d, x, g, eps=1e-5: _bwd(d, x, g, eps, mean_terms=False), "mu and var depend on x"),
    ("batchnorm_backward", lambda d, x, g, eps=1e-5: _bwd(d, x, g, eps, var_term=False),
     "not the one through the variance"),
    ("batchnorm_backward", lambda d, x, g, eps=1e-5: _bwd(d, x, g, eps, gamma_in_dx=False), "multiply by gamma"),
    ("batchnorm_backward", lambda d, x, g, eps=1e-5: _bwd(d, x, g, eps, raw_x_dgamma=True),
     "with the normalised xhat, not the raw x"),
    ("batchnorm_backward", lambda d, x, g, eps=1e-5: _bwd(d, x, g, eps, dgamma_axes=0),
     "gamma is shared by every sample and pixel"),
    ("batchnorm_backward", lambda d, x, g, eps=1e-5: _bwd(d, x, g, eps, dbeta_axes=0),
     "beta is shared by every sample and pixel"),
]


@pytest.mark.parametrize("name,wrong,phrase", WRONG, ids=[f"{n}-{i}" for i, (n, _, _) in enumerate(WRONG)])
def test_learner_mistake_gets_its_hint(name, wrong, phrase):
    with pytest.raises(AssertionError) as info:
        getattr(ex, f"check_{name}")(wrong)
    assert phrase in str(info.value)


def test_each_checker_has_at_least_two_learner_style_wrong_implementations():
    assert all(sum(1 for n, _, _ in WRONG if n == name) >= 2 for name in NAMES)


@pytest.mark.parametrize("name", NAMES)
def test_every_listed_mistake_fails_and_is_named(name):
    exercise = ex.by_name(name)
    for mistake in exercise.mistakes:
        with pytest.raises(AssertionError) as info:
            getattr(ex, f"check_{name}")(mistake.wrong)
        assert f"hint: {mistake.hint}" in str(info.value), mistake.key


def test_float32_answer_is_not_good_enough_and_says_why():
    def in_float32(x, gamma, beta, eps=1e-5):
        return sol.batchnorm_forward(x.astype(np.float32), gamma.astype(np.float32), beta.astype(np.float32), eps)

    with pytest.raises(AssertionError, match="close but not exact"):
        ex.check_batchnorm_forward(in_float32)


def test_swapped_gradients_are_named():
    def swapped(dout, x, gamma, eps=1e-5):
        dx, dgamma, dbeta = sol.batchnorm_backward(dout, x, gamma, eps)
        return dx, dbeta, dgamma

    with pytest.raises(AssertionError, match="you returned dbeta in place of dgamma"):
        ex.check_batchnorm_backward(swapped)


# --- hidden cases ---------------------------------------------------------------------

def _judge(exercise, cases, fn):
    def outcome(i):
        c = cases[i]
        return True, fn(*c.args, **c.kwargs)
    return judge(exercise, cases, outcome)


@pytest.mark.parametrize("name", NAMES)
def test_hidden_cases_are_fresh_repeatable_and_graded(name):
    exercise = ex.by_name(name)
    public = exercise.make_cases()
    hidden = hidden_cases(exercise, seed=7)
    again = hidden_cases(exercise, seed=7)
    other = hidden_cases(exercise, seed=8)
    assert len(hidden) == len(public)
    for h, a, o, p in zip(hidden, again, other, public):
        assert all(np.array_equal(u, v) for u, v in zip(h.args, a.args))
        assert all(u.shape == v.shape for u, v in zip(h.args, p.args))
        assert not all(np.array_equal(u, v) for u, v in zip(h.args, p.args)), h.label
        assert not all(np.array_equal(u, v) for u, v in zip(h.args, o.args)), h.label
        assert h.kwargs == p.kwargs
    assert _judge(exercise, hidden, getattr(sol, name)) is None


def test_a_table_of_public_answers_fails_the_hidden_cases():
    exercise = ex.by_name("batchnorm_forward")
    public = exercise.make_cases()
    table = {c.args[0].tobytes(): exercise.reference(*c.args, **c.kwargs) for c in public}

    def memorised(x, gamma, beta, eps=1e-5):
        return table.get(x.tobytes(), np.zeros_like(x))

    assert _judge(exercise, public, memorised) is None
    hidden = hidden_cases(exercise, seed=3)
    failure = _judge(exercise, public + hidden, memorised)
    assert failure is not None and failure[0] == len(public)


@pytest.mark.parametrize("wrong,phrase", [
    (lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, ddof=1), "the biased variance"),
    (lambda x, g, b, eps=1e-5: _fwd(x, g, b, eps, axes=(2, 3)), "over its own pixels"),
])
def test_mistakes_are_named_on_hidden_cases_too(wrong, phrase):
    exercise = ex.by_name("batchnorm_forward")
    hidden = hidden_cases(exercise, seed=11)
    failure = _judge(exercise, hidden, wrong)
    assert failure is not None and phrase in failure[1]


def test_bad_case_raises_are_reported():
    def crashes(dout, x, gamma, eps=1e-5):
        raise ValueError("operands could not be broadcast together")

    with pytest.raises(AssertionError, match="your function raised ValueError"):
        ex.check_batchnorm_backward(crashes)
    assert isinstance(ex.by_name("batchnorm_backward").make_cases()[0], Case)
