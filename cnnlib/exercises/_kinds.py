"""Kinds of results a learner's function returns, and how to compare them.

Each kind answers four questions about a result: is it the right type (an
int, a NumPy array, ...)? does it match the expected value? does it match a
known wrong value (then the mistake's hint applies)? and, when nothing
listed matches, what do the numbers themselves suggest (transposed, off by
one, scaled, wrong only on the border)?
"""

from __future__ import annotations

import itertools
import re
from numbers import Integral, Real
from typing import Any

import numpy as np

from ..gradcheck import rel_error

__all__ = ["Kind", "IntKind", "IntListKind", "FloatKind", "ArrayKind"]

#: two results "are the same" (learner vs a known mistake) below this error
MATCH_TOLERANCE = 1e-6


class Kind:
    """Interface; see the subclasses."""

    def type_problem(self, got: Any) -> str | None:
        return None

    def coerce(self, got: Any) -> Any:
        return got

    def mismatch(self, value: Any, expected: Any, tol: float) -> str | None:
        raise NotImplementedError

    def same(self, value: Any, other: Any) -> bool:
        return self.mismatch(value, other, MATCH_TOLERANCE) is None

    def same_raw(self, got: Any, wrong: Any) -> bool:
        """Compare a result of the wrong type with a mistake's (also possibly wrong-typed) output."""
        return False

    def generic_hints(self, value: Any, expected: Any) -> list[str]:
        return []


def _is_int(value: Any) -> bool:
    return isinstance(value, Integral) and not isinstance(value, (bool, np.bool_))


class IntKind(Kind):
    """A count or a size: a Python or NumPy integer."""

    def type_problem(self, got):
        if isinstance(got, (bool, np.bool_)):
            return f"your function returned the bool {got!r}; expected an int"
        if _is_int(got):
            return None
        if isinstance(got, Real):
            if float(got).is_integer():
                return f"your function returned {got!r}, a float; return an int (use // for floor division, or int(...))"
            return f"your function returned {got!r}, which is not a whole number; sizes and counts are integers: use // (floor division), not /"
        return f"your function returned a {type(got).__name__} ({_short(got)}); expected an int"

    def coerce(self, got):
        return int(got)

    def mismatch(self, value, expected, tol):
        return None if value == expected else f"expected {expected}, got {value}"

    def same_raw(self, got, wrong):
        try:
            return abs(float(got) - float(wrong)) < 1e-9
        except (TypeError, ValueError):
            return False

    def generic_hints(self, value, expected):
        if abs(value - expected) == 1:
            return [f"off by one ({value} instead of {expected}): check the '+ 1' and whether a window may end on the last pixel"]
        return []


class IntListKind(Kind):
    """A list of sizes, one per layer."""

    def type_problem(self, got):
        if _is_int(got):
            return f"your function returned the single number {got}; return a list with one size per layer"
        if not isinstance(got, (list, tuple, np.ndarray)):
            return f"your function returned a {type(got).__name__}; expected a list of ints"
        bad = [v for v in list(got) if not _is_int(v)]
        if bad:
            return f"every size must be an int; got {bad[0]!r} ({type(bad[0]).__name__}): use // (floor division), not /"
        return None

    def coerce(self, got):
        return [int(v) for v in got]

    def mismatch(self, value, expected, tol):
        return None if value == expected else f"expected {expected}, got {value}"

    def generic_hints(self, value, expected):
        if len(value) == len(expected) + 1 and value[1:] == expected:
            return ["your list starts with the input size; list only the output size of each layer"]
        if len(value) == len(expected) and all(abs(a - b) <= 1 for a, b in zip(value, expected)):
            return ["some sizes are off by one: check the '+ 1' and the floor in O = floor((H + 2P - K) / S) + 1"]
        return []


class FloatKind(Kind):
    """A single real number, such as a mean loss."""

    def type_problem(self, got):
        if isinstance(got, np.ndarray):
            if got.size != 1:
                return f"your function returned an array of shape {got.shape}; expected a single number (did you forget the mean over the batch?)"
            got = got.reshape(())[()]
        if isinstance(got, (bool, np.bool_)) or not isinstance(got, Real):
            return f"your function returned a {type(got).__name__} ({_short(got)}); expected a float"
        return None

    def coerce(self, got):
        return float(np.asarray(got, dtype=np.float64).reshape(()))

    def mismatch(self, value, expected, tol):
        if not np.isfinite(value):
            return f"your value is {value} (expected {expected:.8g})" if np.isfinite(expected) else None
        err = rel_error(value, expected)
        return None if err < tol else f"expected {expected:.8g}, got {value:.8g} (relative error {err:.1e}, must be below {tol:.0e})"

    def same(self, value, other):
        if not (np.isfinite(value) and np.isfinite(other)):
            return np.isnan(value) == np.isnan(other) and (np.isnan(value) or value == other)
        return rel_error(value, other) < MATCH_TOLERANCE

    def generic_hints(self, value, expected):
        if expected != 0 and np.isfinite(value):
            ratio = value / expected
            if abs(ratio - round(ratio)) < 1e-6 and round(ratio) > 1:
                return [f"your value is {round(ratio)} times the correct one: a sum where a mean is wanted?"]
        return []


class ArrayKind(Kind):
    """A NumPy array; `axes` names its axes for messages, e.g. "(N, F, OH, OW)"."""

    def __init__(self, axes: str = ""):
        self.axes = axes

    def type_problem(self, got):
        if isinstance(got, np.ndarray):
            return None if got.dtype.kind in "biuf" else f"your function returned an array of dtype {got.dtype}; expected numbers"
        if hasattr(got, "detach") and hasattr(got, "numpy"):
            return "your function returned a torch.Tensor; return a NumPy array (tensor.detach().numpy())"
        if isinstance(got, (list, tuple)):
            return f"your function returned a {type(got).__name__}; expected a NumPy array: wrap the result in np.array(...)"
        return f"your function returned a {type(got).__name__} ({_short(got)}); expected a NumPy array{' ' + self.axes if self.axes else ''}"

    def coerce(self, got):
        return np.asarray(got, dtype=np.float64)

    def mismatch(self, value, expected, tol):
        expected = np.asarray(expected, dtype=np.float64)
        if value.shape != expected.shape:
            named = f" = {self.axes}" if self.axes else ""
            return f"expected shape {expected.shape}{named}, got {value.shape}"
        finite = np.isfinite(value)
        if not finite.all() and np.isfinite(expected).all():
            return f"your output contains {int((~finite).sum())} NaN or infinite value(s)"
        if not finite.all():  # both have non-finite values: they must sit at the same places
            if not np.array_equal(finite, np.isfinite(expected)) or not np.array_equal(value[~finite], expected[~finite]):
                return "your output has NaN or infinite values where the expected one does not"
            value, expected = value[finite], expected[finite]
        err = rel_error(value, expected)
        if err < tol:
            return None
        idx = np.unravel_index(np.argmax(np.abs(value - expected)), value.shape)
        text = (f"relative error {err:.1e} (must be below {tol:.0e}); largest difference at index "
                f"{tuple(int(i) for i in idx)}: expected {expected[idx]:.6g}, got {value[idx]:.6g}")
        if value.size <= 16:
            text += f"\n  expected {_fmt(expected)}\n  got      {_fmt(value)}"
        return text

    def generic_hints(self, value, expected):
        expected = np.asarray(expected, dtype=np.float64)
        if value.shape != expected.shape:
            return self._shape_hints(value, expected)
        return self._value_hints(value, expected)

    def _shape_hints(self, value, expected) -> list[str]:
        hints = []
        if value.ndim == expected.ndim and sorted(value.shape) == sorted(expected.shape):
            for perm in itertools.permutations(range(value.ndim)):
                if value.transpose(perm).shape == expected.shape and self.same(value.transpose(perm), expected):
                    if value.ndim >= 2 and perm == tuple(range(value.ndim - 2)) + (value.ndim - 1, value.ndim - 2):
                        return ["your output is the correct one transposed (rows and columns swapped)"]
                    return [f"your output has the right values with the axes in the wrong order: "
                            f"np.transpose(out, {perm}) would be right; expected axis order {self.axes or expected.shape}"]
        if value.ndim == expected.ndim:
            diffs = [(a, g, e) for a, (g, e) in enumerate(zip(value.shape, expected.shape)) if g != e]
            if diffs and all(abs(g - e) == 1 for _, g, e in diffs):
                where = ", ".join(f"axis {a}: {g} instead of {e}" for a, g, e in diffs)
                hints.append(f"off by one in the output size ({where}): the size is floor((H + 2P - K) / S) + 1")
            if diffs and all(g > e for _, g, e in diffs) and len({g - e for _, g, e in diffs}) == 1 and (diffs[0][1] - diffs[0][2]) % 2 == 0:
                hints.append(f"every size is {diffs[0][1] - diffs[0][2]} too large: is the padding still there?")
        elif value.size == expected.size:
            hints.append(f"right number of values in the wrong shape: expected {expected.ndim}-D {expected.shape}, got {value.ndim}-D")
        if value.size == expected.size and not hints:
            hints.append("right number of values in the wrong shape: check the order of reshape/transpose")
        return hints

    def _value_hints(self, value, expected) -> list[str]:
        err = rel_error(value, expected)
        if err < 1e-3:
            return [f"your result is close but not exact (relative error {err:.1e}): did you compute in float32, "
                    "or approximate something? Work in float64, the dtype of the inputs"]
        if value.ndim >= 2 and value.shape[-1] == value.shape[-2] and self.same(np.swapaxes(value, -1, -2), expected):
            return ["your output is the correct one transposed (rows and columns swapped)"]
        if self.same(value[..., ::-1], expected) or (value.ndim >= 2 and self.same(value[..., ::-1, ::-1], expected)):
            return ["your output is the correct one reversed (flipped end to end)"]
        norm = float(np.sum(expected * expected))
        if norm > 0:
            c = float(np.sum(value * expected)) / norm
            if abs(c - 1) > 1e-6 and abs(c) > 1e-12 and self.same(value, c * expected):
                return [f"your output is the correct one multiplied by {c:.6g}" + _as_fraction(c)]
        diff = value - expected
        if np.ptp(diff) < 1e-9 * (1 + np.abs(expected).max()):
            return [f"every value is off by the same constant {diff.flat[0]:.6g}: check the bias"]
        hints = []
        for axis in range(value.ndim):
            others = tuple(a for a in range(value.ndim) if a != axis)
            if value.shape[axis] > 1 and others and np.ptp(diff, axis=others).max() < 1e-9 * (1 + np.abs(expected).max()):
                hints.append(f"the difference depends only on axis {axis}{self._axis_name(axis)}: "
                             "a term added per entry of that axis (a bias?) is wrong")
                break
        wrong = np.abs(diff) > 1e-6 * (np.abs(value) + np.abs(expected) + 1e-8)
        if value.ndim >= 2 and value.shape[-1] > 2 and value.shape[-2] > 2 and not wrong[..., 1:-1, 1:-1].any():
            sides = [name for name, sl in (("top", np.s_[..., 0, :]), ("bottom", np.s_[..., -1, :]),
                                           ("left", np.s_[..., :, 0]), ("right", np.s_[..., :, -1])) if wrong[sl].any()]
            hints.append(f"only the border of the output is wrong ({', '.join(sides)}): check the padding "
                         "(zeros, the same number on every side)")
        hints.append(f"{int(wrong.sum())} of {wrong.size} values are wrong")
        return hints

    def _axis_name(self, axis: int) -> str:
        names = [n.strip() for n in self.axes.strip("()").split(",")] if self.axes else []
        return f" ({names[axis]})" if axis < len(names) else ""


def _as_fraction(c: float) -> str:
    for k in range(2, 65):
        if abs(c * k - 1) < 1e-6:
            return f" = 1/{k}"
    return ""


def _fmt(a: np.ndarray) -> str:
    while a.ndim > 2 and a.shape[0] == 1:  # (1, 1, H, W) prints as the H x W image
        a = a[0]
    text = np.array2string(a, precision=4, suppress_small=True, separator=", ", max_line_width=10_000)
    return re.sub(r"\s*\n\s*", " ", text)


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."
