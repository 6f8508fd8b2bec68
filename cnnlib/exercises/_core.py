"""The machinery every checker shares: cases, comparisons, and hints.

A checker runs the learner's function on a fixed list of seeded cases and
compares each result with the reference computed by cnnlib, in float64,
with the relative error CS231n uses::

    rel_error(a, b) = max |a - b| / max(1e-8, |a| + |b|)   must be < 1e-7

Float32 and integer cases use small integer values, which float32 holds and
sums exactly, so one threshold fits every dtype.

When a case fails, the checker does not stop at "wrong": it runs the known
wrong implementations (:class:`Mistake`) of the exercise on the same input,
and if the learner's output equals one of them, the failure message names
that mistake. Generic checks (transposed output, axes in the wrong order,
off by one in a size, a constant factor or offset, errors only on the
border) cover the mistakes nobody listed.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any, Callable, Sequence

from ._kinds import Kind

__all__ = ["TOLERANCE", "Case", "Mistake", "Exercise", "run_checker", "judge", "passed_line"]

TOLERANCE = 1e-7

#: what "implement it yourself" rules out: the course's own library and the big ones
NO_LIBRARY_HELP = ("cnnlib", "torch", "scipy", "tensorflow", "jax")


@dataclass(frozen=True)
class Case:
    """One input to the learner's function, with a label for messages."""

    label: str
    args: tuple
    kwargs: dict = field(default_factory=dict)


@dataclass(frozen=True)
class Mistake:
    """A usual mistake: a wrong implementation and the hint that explains it.

    `wrong` has the signature of the learner's function; its output on a case
    is what a learner who makes this mistake returns.
    """

    key: str
    hint: str
    wrong: Callable[..., Any]


@dataclass(frozen=True)
class Exercise:
    """A coding exercise: what the learner writes and how it is graded.

    `outputs` is one :class:`Kind` for a single result, or a tuple of
    ``(name, Kind)`` pairs for a function returning a tuple (``dx, dw, db``).
    `forbid` names the libraries whose help the exercise rules out;
    `make_hidden(rng)` draws the cases a grading run adds to the public ones.
    """

    name: str
    chapter: int
    summary: str
    signature: str
    reference: Callable[..., Any]
    make_cases: Callable[[], list[Case]]
    mistakes: tuple[Mistake, ...]
    outputs: Kind | tuple[tuple[str, Kind], ...]
    #: modules a submission may not use for this exercise (static scan, and not importable when grading)
    forbid: tuple[str, ...] = ()
    #: hidden cases for the grading command, drawn from a generator; None: the public cases with fresh values
    make_hidden: Callable[[Any], list[Case]] | None = None

    @property
    def checker_name(self) -> str:
        return f"check_{self.name}"


Outcome = tuple  # (True, value) when the function returned, (False, (kind, message)) when it raised


def run_checker(exercise: Exercise, fn: Callable[..., Any]) -> None:
    """Run `fn` on every case of `exercise`; print one line or raise AssertionError."""
    name = exercise.checker_name
    if not callable(fn):
        raise AssertionError(
            f"{name}: expected a function, got {type(fn).__name__} {_short_repr(fn)}; "
            f"pass the function itself, e.g. {name}({exercise.name}), without calling it"
        )
    cases = exercise.make_cases()
    raised: dict[int, Exception] = {}
    memo: dict[int, Outcome] = {}

    def outcome(index: int) -> Outcome:
        if index not in memo:
            try:
                memo[index] = (True, _call(fn, cases[index]))
            except Exception as exc:  # the learner's bug, reported with the case that triggers it
                raised[index] = exc
                memo[index] = (False, (type(exc).__name__, str(exc)))
        return memo[index]

    failure = judge(exercise, cases, outcome)
    if failure is not None:
        index, message = failure
        raise AssertionError(message) from raised.get(index)
    print(passed_line(exercise, len(cases)))


def passed_line(exercise: Exercise, n_public: int, n_hidden: int = 0) -> str:
    """The one line a checker prints when every case passes."""
    hidden = f" and {n_hidden} hidden ones" if n_hidden else ""
    return f"{exercise.checker_name}: all {n_public} cases{hidden} passed"


def judge(exercise: Exercise, cases: Sequence[Case], outcome: Callable[[int], Outcome],
          n_public: int | None = None) -> tuple[int, str] | None:
    """None when every case's outcome is right, else (index of the first wrong case, message).

    `outcome(i)` is what the learner's function did on ``cases[i]``: it is
    called in case order and stops at the first failure (a diagnosis may ask
    for the others). Cases from `n_public` on are hidden ones, numbered apart.
    This runs in the grading process: expected values and the mistakes' wrong
    outputs are computed here, never where the learner's code runs.
    """
    name = exercise.checker_name
    n_public = len(cases) if n_public is None else n_public
    for index, case in enumerate(cases):
        if index < n_public:
            where = f"{name}: case {index + 1} of {n_public} failed: {case.label}"
        else:
            where = f"{name}: hidden case {index - n_public + 1} of {len(cases) - n_public} failed: {case.label}"
        returned, got = outcome(index)
        if not returned:
            kind, text = got
            return index, f"{where}\n  your function raised {kind}: {text}"
        expected = _call(exercise.reference, case)
        failure = _compare(exercise, case, got, expected)
        if failure is not None:
            problem, hints, mistakes = failure
            if len(mistakes) > 1:
                mistakes = _consistent(exercise, outcome, cases, mistakes)
            hints = [m.hint for m in mistakes] + hints
            lines = [where, f"  {problem}"] + [f"  hint: {h}" for h in hints]
            return index, "\n".join(lines)
    return None


def _call(fn: Callable[..., Any], case: Case) -> Any:
    # fresh copies, so that a function that modifies its input in place
    # changes neither the case nor the reference
    return fn(*copy.deepcopy(case.args), **copy.deepcopy(case.kwargs))


Failure = tuple[str, list[str], list[Mistake]]


def _compare(exercise: Exercise, case: Case, got: Any, expected: Any) -> Failure | None:
    """None when `got` is right, else (what is wrong, generic hints, matching mistakes)."""
    if got is None:
        return "your function returned None", ["did you forget the `return` statement?"], []
    if isinstance(exercise.outputs, Kind):
        return _compare_part(exercise, case, got, expected, exercise.outputs, None)
    parts = exercise.outputs
    names = ", ".join(n for n, _ in parts)
    if not isinstance(got, (tuple, list)) or len(got) != len(parts):
        what = f"a {type(got).__name__} of length {len(got)}" if isinstance(got, (tuple, list)) else f"a {type(got).__name__}"
        return f"expected a tuple ({names}), got {what}", [f"return all {len(parts)} results: `return {names}`"], []
    for i, (part_name, kind) in enumerate(parts):
        failure = _compare_part(exercise, case, got[i], expected[i], kind, i)
        if failure is not None:
            problem, hints, mistakes = failure
            if not mistakes:
                hints = _swapped_part(got, expected, parts, i) or hints
            return f"{part_name}: {problem}", hints, mistakes
    return None


def _compare_part(exercise, case, got, expected, kind: Kind, part: int | None) -> Failure | None:
    if got is None:
        return "returned None", ["did you forget to compute or return it?"], []
    type_problem = kind.type_problem(got)
    if type_problem is not None:
        return type_problem, [], _matching_mistakes(exercise, case, got, kind, part, raw=True)
    value = kind.coerce(got)
    problem = kind.mismatch(value, expected, TOLERANCE)
    if problem is None:
        return None
    mistakes = _matching_mistakes(exercise, case, value, kind, part)
    return problem, ([] if mistakes else kind.generic_hints(value, expected)), mistakes


def _matching_mistakes(exercise, case, got, kind: Kind, part, raw: bool = False) -> list[Mistake]:
    """Every listed mistake whose output equals the learner's on this case."""
    found = []
    for mistake in exercise.mistakes:
        try:
            wrong = _call(mistake.wrong, case)
        except Exception:  # a mistake that cannot happen on this case (e.g. the window no longer fits)
            continue
        if part is not None:
            wrong = wrong[part]
        if raw:
            match = kind.same_raw(got, wrong)
        else:
            match = kind.type_problem(wrong) is None and kind.same(got, kind.coerce(wrong))
        if match and all(m.hint != mistake.hint for m in found):
            found.append(mistake)
    return found


def _consistent(exercise: Exercise, outcome, cases: Sequence[Case], mistakes: list[Mistake]) -> list[Mistake]:
    """Of several mistakes that explain one case, keep those that explain the others too."""
    kept = list(mistakes)
    for index, case in enumerate(cases):
        returned, got = outcome(index)
        if not returned:
            continue
        outputs = exercise.outputs if not isinstance(exercise.outputs, Kind) else (("", exercise.outputs),)
        still = []
        for m in kept:
            try:
                wrong = _call(m.wrong, case)
            except Exception:
                still.append(m)
                continue
            if _same_result(outputs, got, wrong, single=isinstance(exercise.outputs, Kind)):
                still.append(m)
        if still:
            kept = still
        if len(kept) == 1:
            break
    return kept


def _same_result(outputs, got, wrong, single: bool) -> bool:
    pairs = [(got, wrong)] if single else list(zip(got, wrong)) if isinstance(got, (tuple, list)) else []
    if len(pairs) != len(outputs):
        return False
    for (_, kind), (g, w) in zip(outputs, pairs):
        if kind.type_problem(g) is not None or kind.type_problem(w) is not None:
            if not kind.same_raw(g, w):
                return False
        elif not kind.same(kind.coerce(g), kind.coerce(w)):
            return False
    return True


def _swapped_part(got: Sequence, expected: Sequence, parts, i: int) -> list[str]:
    """Hint when result i holds what should have been another result."""
    for j, (other, kind) in enumerate(parts):
        if j != i and kind.type_problem(got[i]) is None:
            value = kind.coerce(got[i])
            if kind.same(value, expected[j]):
                return [f"you returned {other} in place of {parts[i][0]}: return ({', '.join(n for n, _ in parts)}) in that order"]
    return []


def _short_repr(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."
