"""Exercises on single signals and images (chapters 1, 2 and 7).

1-D and 2-D sliding sums without batches or channels: where learners meet
the difference between cross-correlation and true convolution.
"""

from __future__ import annotations

import numpy as np

from ..functional import conv1d as _conv1d
from ..functional import correlate2d as _correlate2d
from ._core import NO_LIBRARY_HELP, Case, Exercise, Mistake
from ._kinds import ArrayKind

__all__ = ["CONV1D", "CORRELATE2D", "CONVOLVE2D", "CONV1D_BACKWARD_DW"]


def _corr1d(x, v):
    """Valid cross-correlation h_i = sum_j v_j x_{i+j} (0-based), float64."""
    x, v = np.asarray(x, dtype=np.float64), np.asarray(v, dtype=np.float64)
    return _conv1d(x[None, None], v[None, None], backend="im2col")[0, 0]


def _corr2d(image, kernel, mode="valid"):
    return _correlate2d(np.asarray(image, dtype=np.float64), np.asarray(kernel, dtype=np.float64), mode=mode)


def _rot180(k):
    return np.asarray(k)[::-1, ::-1]


def _pairs_1d(seed: int, second: str, shapes) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = [Case(f"x = [1, 2, 3, 4, 5], {second} = [1, 0, -1] (integers)", (np.arange(1, 6), np.array([1, 0, -1])))]
    for length, k, dtype in shapes:
        if dtype == "float32":  # small integers: exact in float32
            x = rng.integers(-4, 5, length).astype(np.float32)
            v = rng.integers(-3, 4, k).astype(np.float32)
        else:
            x, v = rng.standard_normal(length), rng.standard_normal(k)
        cases.append(Case(f"x of shape ({length},), {second} of shape ({k},), {dtype}", (x, v)))
    return cases


# --- chapter 1: the CNN unit as a 1-D convolution -----------------------------

def _conv1d_cases():
    return _pairs_1d(101, "v", [(8, 3, "float64"), (10, 4, "float64"), (6, 1, "float64"), (5, 5, "float64"),
                           (9, 2, "float32")])


CONV1D = Exercise(
    name="conv1d", chapter=1,
    summary="the shared-weight unit h_i = sum_j v_j x_{i+j-1} over a 1-D signal",
    signature="conv1d(x, v) -> h  (x: (L,), v: (K,), h: (L-K+1,))",
    reference=_corr1d, make_cases=_conv1d_cases,
    mistakes=(
        Mistake("flipped-kernel", "your output equals the correct one with the kernel reversed: you computed a true "
                "convolution (np.convolve flips v); h_i = sum_j v_j x_(i+j-1) slides v without flipping it "
                "(np.correlate, or a loop)", lambda x, v: np.convolve(x, v, "valid")),
        Mistake("full-mode", "you returned every partial overlap (mode 'full', length L + K - 1); only the positions "
                "where the whole kernel fits count: L - K + 1 of them", lambda x, v: np.correlate(x, v, "full")),
        Mistake("full-convolution", "you returned np.convolve's default mode 'full' (length L + K - 1, kernel flipped); "
                "the unit uses the L - K + 1 positions where v fits, without flipping v",
                lambda x, v: np.convolve(x, v)),
        Mistake("same-mode", "you returned mode 'same' (length L, zeros beyond the ends); without padding there are "
                "L - K + 1 positions", lambda x, v: np.correlate(x, v, "same")),
        Mistake("one-short", "your loop stops one position early: i runs over L - K + 1 positions, "
                "range(len(x) - len(v) + 1)", lambda x, v: _corr1d(x, v)[:-1]),
        Mistake("relu", "return the raw sums: the exercise asks for the unit without its activation",
                lambda x, v: np.maximum(_corr1d(x, v), 0)),
    ),
    outputs=ArrayKind("(L-K+1,)"),
    forbid=NO_LIBRARY_HELP,
)


# --- chapter 2: cross-correlation and true convolution ------------------------

def _image_cases(seed: int) -> list[Case]:
    rng = np.random.default_rng(seed)
    cases = [Case("image [[0, 1, 2], [3, 4, 5]], kernel [[0, 1], [2, 3]] (integers)",
                  (np.array([[0, 1, 2], [3, 4, 5]]), np.array([[0, 1], [2, 3]])))]
    for (h, w), (kh, kw), dtype in [((5, 5), (3, 3), "float64"), ((6, 4), (3, 2), "float64"),
                                    ((7, 5), (2, 3), "float64"), ((4, 6), (1, 1), "float64"),
                                    ((3, 4), (3, 4), "float64"), ((6, 7), (3, 3), "float32")]:
        if dtype == "float32":
            image = rng.integers(-5, 6, (h, w)).astype(np.float32)
            kernel = rng.integers(-3, 4, (kh, kw)).astype(np.float32)
        else:
            image, kernel = rng.standard_normal((h, w)), rng.standard_normal((kh, kw))
        cases.append(Case(f"image {h}x{w}, kernel {kh}x{kw}, {dtype}", (image, kernel)))
    return cases


def _one_short_2d(image, kernel):
    return _corr2d(image, kernel)[:-1, :-1]


CORRELATE2D = Exercise(
    name="correlate2d", chapter=2,
    summary="valid 2-D cross-correlation (what deep learning calls convolution)",
    signature="correlate2d(image, kernel) -> out  (image: (H, W), kernel: (KH, KW), out: (H-KH+1, W-KW+1))",
    reference=_corr2d, make_cases=lambda: _image_cases(202),
    mistakes=(
        Mistake("flipped-kernel", "your output equals the correct one with the kernel rotated by 180 degrees: you "
                "computed a true convolution; deep-learning 'convolution' is cross-correlation "
                "(out[i, j] = sum kernel[p, q] * image[i + p, j + q], no flipping)",
                lambda image, kernel: _corr2d(image, _rot180(kernel))),
        Mistake("transposed-output", "your output is the correct one transposed: index the output as out[i, j] with i "
                "the row (0 .. H - KH) and j the column (0 .. W - KW)",
                lambda image, kernel: _corr2d(image, kernel).T),
        Mistake("transposed-kernel", "you used the kernel transposed: pair kernel[p, q] with image[i + p, j + q] "
                "(p moves down the rows, q along the columns)",
                lambda image, kernel: _corr2d(image, np.asarray(kernel).T)),
        Mistake("full-mode", "you returned every partial overlap (mode 'full'); only the positions where the whole "
                "kernel fits count: (H - KH + 1) x (W - KW + 1)", lambda image, kernel: _corr2d(image, kernel, "full")),
        Mistake("one-short", "your loops stop one position early: there are H - KH + 1 rows of positions "
                "(range(H - KH + 1)), and W - KW + 1 columns", _one_short_2d),
    ),
    outputs=ArrayKind("(H-KH+1, W-KW+1)"),
    forbid=NO_LIBRARY_HELP,
)


CONVOLVE2D = Exercise(
    name="convolve2d", chapter=2,
    summary="valid 2-D true convolution (kernel rotated by 180 degrees)",
    signature="convolve2d(image, kernel) -> out  (image: (H, W), kernel: (KH, KW), out: (H-KH+1, W-KW+1))",
    reference=lambda image, kernel: _corr2d(image, _rot180(kernel)), make_cases=lambda: _image_cases(203),
    mistakes=(
        Mistake("not-flipped", "you computed cross-correlation: a true convolution rotates the kernel by 180 degrees "
                "(kernel[::-1, ::-1]) before sliding it", _corr2d),
        Mistake("flipped-rows-only", "you flipped the kernel upside down only: rotating by 180 degrees flips both the "
                "rows and the columns, kernel[::-1, ::-1]",
                lambda image, kernel: _corr2d(image, np.asarray(kernel)[::-1, :])),
        Mistake("flipped-columns-only", "you flipped the kernel left to right only: rotating by 180 degrees flips both "
                "the rows and the columns, kernel[::-1, ::-1]",
                lambda image, kernel: _corr2d(image, np.asarray(kernel)[:, ::-1])),
        Mistake("transposed-kernel", "you transposed the kernel; rotating by 180 degrees is kernel[::-1, ::-1], "
                "not kernel.T", lambda image, kernel: _corr2d(image, np.asarray(kernel).T)),
        Mistake("rotated-image", "your output is the correct one rotated by 180 degrees: you flipped the image "
                "instead of the kernel", lambda image, kernel: _corr2d(image, _rot180(kernel))[::-1, ::-1]),
        Mistake("transposed-output", "your output is the correct one transposed: index the output as out[i, j] with i "
                "the row and j the column", lambda image, kernel: _corr2d(image, _rot180(kernel)).T),
        Mistake("full-mode", "you returned every partial overlap (mode 'full'); the exercise asks for the valid "
                "positions only: (H - KH + 1) x (W - KW + 1)",
                lambda image, kernel: _corr2d(image, _rot180(kernel), "full")),
    ),
    outputs=ArrayKind("(H-KH+1, W-KW+1)"),
    forbid=NO_LIBRARY_HELP,
)


# --- chapter 7: the weight gradient of a 1-D convolution ----------------------

def _dw_cases():
    return _pairs_1d(707, "delta", [(8, 6, "float64"), (10, 3, "float64"), (5, 1, "float64"), (4, 4, "float64"),
                           (9, 5, "float32")])


CONV1D_BACKWARD_DW = Exercise(
    name="conv1d_backward_dw", chapter=7,
    summary="weight gradient of a 1-D convolution, dL/dw_i = sum_j delta_j x_{i+j-1}",
    signature="conv1d_backward_dw(x, delta) -> dw  (x: (L,), delta: (O,), dw: (L-O+1,))",
    reference=_corr1d, make_cases=_dw_cases,
    mistakes=(
        Mistake("convolved", "you convolved x with delta (np.convolve flips delta); the weight gradient is the "
                "cross-correlation dL/dw_i = sum_j delta_j x_(i+j-1), delta not flipped",
                lambda x, delta: np.convolve(x, delta, "valid")),
        Mistake("reversed", "your dw is reversed: dw[i] belongs to the kernel tap i, which meets x[i + j] "
                "at output j", lambda x, delta: _corr1d(x, delta)[::-1]),
        Mistake("full-mode", "you returned every partial overlap (mode 'full'); the kernel has L - O + 1 taps, "
                "one gradient per tap", lambda x, delta: np.correlate(x, delta, "full")),
        Mistake("mean", "the gradient sums over the output positions j, it does not average them",
                lambda x, delta: _corr1d(x, delta) / len(delta)),
    ),
    outputs=ArrayKind("(L-O+1,)"),
    forbid=NO_LIBRARY_HELP,
)
