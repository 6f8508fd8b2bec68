"""Hidden cases: fresh inputs for every grading run, so that answers cannot be memorised.

The public cases of a checker are fixed and in the open (a learner runs them
in the notebook), so a submission could return their answers from a table.
A grading run therefore adds cases drawn from a random generator whose seed
is kept in the report: the same seed draws the same cases again.

By default a hidden case is a public case with new values and the same
structure: shapes, dtypes, strides and paddings stay; a float array is
moved by random amounts about a third of its spread (its zeros and signs,
hence ReLU's kinks and all-negative windows, stay where they were); an array
of whole numbers (integer dtypes, and the float32 cases that hold small
integers so that float32 stays exact) is shuffled, so labels stay valid
class indices. Exercises whose inputs are only sizes draw their own.
"""

from __future__ import annotations

import zlib
from typing import Any

import numpy as np

from ._core import Case, Exercise

__all__ = ["hidden_cases", "fresh_values", "distinct_integers"]


def hidden_cases(exercise: Exercise, seed: int) -> list[Case]:
    """The hidden cases of `exercise` for a grading run with `seed` (same seed, same cases)."""
    rng = np.random.default_rng([int(seed), zlib.crc32(exercise.name.encode())])
    if exercise.make_hidden is not None:
        return exercise.make_hidden(rng)
    return [fresh_values(case, rng) for case in exercise.make_cases()]


def fresh_values(case: Case, rng: np.random.Generator, distinct: bool = False) -> Case:
    """`case` with new values in every array (see the module docstring).

    distinct : bool
        Whole-number arrays get distinct values (a shuffled range centred on
        0) instead of a shuffle of their own: no ties, for max pooling.
    """
    def fresh(value: Any) -> Any:
        if isinstance(value, np.ndarray) and value.dtype.kind in "iuf" and value.size:
            whole = value.dtype.kind in "iu" or bool(np.all(np.mod(value, 1) == 0))
            if whole and distinct:
                return (rng.permutation(value.size) - value.size // 2).reshape(value.shape).astype(value.dtype)
            if whole:
                return rng.permutation(value.ravel()).reshape(value.shape)
            spread = float(np.std(value)) or float(np.max(np.abs(value)))
            new = value + 0.3 * spread * rng.standard_normal(value.shape)
            flipped = np.sign(new) != np.sign(value)  # zeros and signs stay: scale those entries instead
            new[flipped] = value[flipped] * np.exp(0.35 * rng.standard_normal(int(flipped.sum())))
            return new.astype(value.dtype)
        return value

    return Case(case.label, tuple(fresh(a) for a in case.args), {k: fresh(v) for k, v in case.kwargs.items()})


def distinct_integers(exercise_cases, distinct: bool = True):
    """A `make_hidden` for exercises whose arrays must not have ties (max pooling)."""
    def make(rng: np.random.Generator) -> list[Case]:
        return [fresh_values(case, rng, distinct=distinct) for case in exercise_cases()]
    return make
