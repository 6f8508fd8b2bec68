"""Exercises on batch normalization (chapter 10).

Training-mode batch normalization of images ``(N, C, H, W)``, forward and
backward. The references are written here in float64 from the chapter's
formulas (cnnlib's BatchNorm2d builds on the same ones, and the tests
compare them): per channel c, over the m = N H W values of that channel,

    mu = mean(x),  var = mean((x - mu)^2),  xhat = (x - mu) / sqrt(var + eps),
    y = gamma xhat + beta,
    dx = gamma / (m sqrt(var + eps)) (m dy - sum(dy) - xhat sum(dy xhat)).
"""

from __future__ import annotations

import numpy as np

from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._kinds import ArrayKind

__all__ = ["BATCHNORM_FORWARD", "BATCHNORM_BACKWARD"]

_AXES = (0, 2, 3)  # a channel's statistics run over the batch and the pixels


def _f64(a):
    return np.asarray(a, dtype=np.float64)


def _col(v):
    """(C,) -> (1, C, 1, 1), to broadcast against (N, C, H, W)."""
    return _f64(v).reshape(1, -1, 1, 1)


def _normalise(x, eps, axes=_AXES, ddof=0, eps_outside=False):
    x = _f64(x)
    mu = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True, ddof=ddof)
    std = np.sqrt(var) + eps if eps_outside else np.sqrt(var + eps)
    return (x - mu) / std


# --- forward --------------------------------------------------------------------

def _forward(x, gamma, beta, eps=1e-5):
    return _col(gamma) * _normalise(x, eps) + _col(beta)


def _case_arrays(rng, n, c, h, w, small_channel=False):
    x = 2.0 + 3.0 * rng.standard_normal((n, c, h, w))
    if small_channel:  # a channel of tiny spread, where eps matters
        x[:, -1] = 0.5 + 0.01 * rng.standard_normal((n, h, w))
    gamma = 1.0 + 0.5 * rng.standard_normal(c)
    beta = rng.standard_normal(c)
    return x, gamma, beta


def _forward_cases():
    rng = np.random.default_rng(1010)
    x1 = np.arange(8.0).reshape(2, 1, 2, 2)
    return [
        Case("x = arange(8).reshape(2, 1, 2, 2), gamma = [2], beta = [1]", (x1, np.array([2.0]), np.array([1.0]))),
        Case("x of shape (4, 3, 5, 5)", _case_arrays(rng, 4, 3, 5, 5)),
        Case("x of shape (2, 4, 3, 3), the last channel of tiny spread", _case_arrays(rng, 2, 4, 3, 3, True)),
        Case("x of shape (8, 2, 1, 1) (1x1 maps: statistics over the batch alone)", _case_arrays(rng, 8, 2, 1, 1)),
        Case("x of shape (3, 5, 4, 2), eps = 1e-3", _case_arrays(rng, 3, 5, 4, 2, True), {"eps": 1e-3}),
    ]


def _fwd_wrong(**how):
    return lambda x, g, b, eps=1e-5: _col(g) * _normalise(x, eps, **how) + _col(b)


def _by_variance(x, gamma, beta, eps=1e-5):
    x = _f64(x)
    centred = x - x.mean(axis=_AXES, keepdims=True)
    return _col(gamma) * centred / (x.var(axis=_AXES, keepdims=True) + eps) + _col(beta)


BATCHNORM_FORWARD = Exercise(
    name="batchnorm_forward", chapter=10,
    summary="batch normalization forward, training mode, per channel over (N, H, W)",
    signature="batchnorm_forward(x, gamma, beta, eps=1e-5) -> out  (x: (N, C, H, W), gamma, beta: (C,))",
    reference=_forward, make_cases=_forward_cases,
    mistakes=(
        Mistake("per-position", "the statistics of a channel run over the batch AND the pixels, axes (0, 2, 3): "
                "you normalised each (c, i, j) position over the batch alone (axis 0)",
                _fwd_wrong(axes=(0,))),
        Mistake("per-sample", "the statistics run over the batch too: you normalised each image's channel over "
                "its own pixels (axes 2, 3); use axes (0, 2, 3)",
                _fwd_wrong(axes=(2, 3))),
        Mistake("all-channels", "each channel has its own mean and variance: you mixed the channels "
                "(axes (1, 2, 3) or all axes); use axes (0, 2, 3)",
                _fwd_wrong(axes=(1, 2, 3))),
        Mistake("all-axes", "each channel has its own mean and variance: you took one mean and variance over "
                "the whole array; use axes (0, 2, 3)",
                _fwd_wrong(axes=(0, 1, 2, 3))),
        Mistake("unbiased", "normalise with the biased variance, mean((x - mu)**2) (np.var's default, ddof=0); "
                "the unbiased one (ddof=1) is only what torch stores in running_var",
                _fwd_wrong(ddof=1)),
        Mistake("eps-outside", "eps goes inside the square root: (x - mu) / np.sqrt(var + eps), "
                "not / (np.sqrt(var) + eps)",
                _fwd_wrong(eps_outside=True)),
        Mistake("no-beta", "add the shift beta after scaling: out = gamma * xhat + beta",
                lambda x, g, b, eps=1e-5: _col(g) * _normalise(x, eps)),
        Mistake("no-gamma", "scale by gamma before adding beta: out = gamma * xhat + beta",
                lambda x, g, b, eps=1e-5: _normalise(x, eps) + _col(b)),
        Mistake("var-not-std", "divide by the standard deviation, np.sqrt(var + eps), not by the variance",
                _by_variance),
    ),
    outputs=ArrayKind("(N, C, H, W)"),
    forbid=NO_LIBRARY_HELP,
)


# --- backward -------------------------------------------------------------------

def _backward(dout, x, gamma, eps=1e-5):
    dout, x = _f64(dout), _f64(x)
    m = x.shape[0] * x.shape[2] * x.shape[3]
    xhat = _normalise(x, eps)
    inv_std = 1.0 / np.sqrt(x.var(axis=_AXES, keepdims=True) + eps)
    dbeta = dout.sum(axis=_AXES)
    dgamma = (dout * xhat).sum(axis=_AXES)
    dx = _col(gamma) * inv_std / m * (m * dout - _col(dbeta) - xhat * _col(dgamma))
    return dx, dgamma, dbeta


def _backward_cases():
    rng = np.random.default_rng(1011)

    def case(n, c, h, w, small=False):
        x, gamma, _ = _case_arrays(rng, n, c, h, w, small)
        return (rng.standard_normal((n, c, h, w)), x, gamma)

    return [
        Case("x of shape (2, 1, 2, 2), gamma = [2]",
             (np.array([1.0, -2.0, 0.5, 3.0, -1.0, 2.0, 0.0, 1.5]).reshape(2, 1, 2, 2),
              np.arange(8.0).reshape(2, 1, 2, 2), np.array([2.0]))),
        Case("x and dout of shape (4, 3, 5, 5)", case(4, 3, 5, 5)),
        Case("x and dout of shape (2, 4, 3, 3), the last channel of tiny spread", case(2, 4, 3, 3, True)),
        Case("x and dout of shape (8, 2, 1, 1) (1x1 maps)", case(8, 2, 1, 1)),
        Case("x and dout of shape (3, 5, 4, 2), eps = 1e-3", case(3, 5, 4, 2, True), {"eps": 1e-3}),
    ]


def _replace(result, index, value):
    parts = list(result)
    parts[index] = value
    return tuple(parts)


def _no_mean_terms(dout, x, gamma, eps=1e-5):
    # treats mu and var as constants: only the direct path through xhat
    inv_std = 1.0 / np.sqrt(_f64(x).var(axis=_AXES, keepdims=True) + eps)
    return _replace(_backward(dout, x, gamma, eps), 0, _f64(dout) * _col(gamma) * inv_std)


def _no_var_term(dout, x, gamma, eps=1e-5):
    # keeps the path through the mean, forgets the one through the variance
    dout = _f64(dout)
    inv_std = 1.0 / np.sqrt(_f64(x).var(axis=_AXES, keepdims=True) + eps)
    dx = _col(gamma) * inv_std * (dout - dout.mean(axis=_AXES, keepdims=True))
    return _replace(_backward(dout, x, gamma, eps), 0, dx)


def _no_gamma_in_dx(dout, x, gamma, eps=1e-5):
    return _replace(_backward(dout, x, gamma, eps), 0, _backward(dout, x, np.ones_like(_f64(gamma)), eps)[0])


BATCHNORM_BACKWARD = Exercise(
    name="batchnorm_backward", chapter=10,
    summary="batch normalization backward, training mode: dx, dgamma and dbeta",
    signature="batchnorm_backward(dout, x, gamma, eps=1e-5) -> (dx, dgamma, dbeta)  "
              "(dout, x: (N, C, H, W), gamma: (C,))",
    reference=_backward, make_cases=_backward_cases,
    mistakes=(
        Mistake("no-mean-terms", "mu and var depend on x too: dx = gamma / (m sigma) * (m dout - sum(dout) "
                "- xhat sum(dout xhat)), the sums over (N, H, W) per channel; dout * gamma / sigma alone "
                "treats them as constants",
                _no_mean_terms),
        Mistake("no-var-term", "you kept the path through the mean but not the one through the variance: "
                "subtract also xhat * sum(dout * xhat) / m (per channel) inside the bracket",
                _no_var_term),
        Mistake("no-gamma-in-dx", "dx passes through the scale too: multiply by gamma (dxhat = dout * gamma)",
                _no_gamma_in_dx),
        Mistake("dgamma-with-x", "dgamma = sum(dout * xhat), with the normalised xhat, not the raw x",
                lambda d, x, g, eps=1e-5: _replace(_backward(d, x, g, eps), 1, (_f64(d) * _f64(x)).sum(axis=_AXES))),
        Mistake("dgamma-not-summed", "gamma is shared by every sample and pixel of a channel: sum dout * xhat "
                "over axes (0, 2, 3), leaving shape (C,)",
                lambda d, x, g, eps=1e-5: _replace(_backward(d, x, g, eps), 1,
                                                   (_f64(d) * _normalise(x, eps)).sum(axis=0))),
        Mistake("dbeta-not-summed", "beta is shared by every sample and pixel of a channel: dbeta = dout summed "
                "over axes (0, 2, 3), shape (C,)",
                lambda d, x, g, eps=1e-5: _replace(_backward(d, x, g, eps), 2, _f64(d).sum(axis=0))),
        Mistake("dbeta-mean", "dbeta is the sum of dout over (N, H, W), not the mean",
                lambda d, x, g, eps=1e-5: _replace(_backward(d, x, g, eps), 2, _f64(d).mean(axis=_AXES))),
    ),
    outputs=(("dx", ArrayKind("(N, C, H, W)")), ("dgamma", ArrayKind("(C,)")), ("dbeta", ArrayKind("(C,)"))),
    forbid=NO_LIBRARY_HELP,
)
