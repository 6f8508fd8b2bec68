"""Grade a submission: ``python -m cnnlib.exercises grade SUBMISSION``.

The trust boundary: the submission (``.py`` files or ``.ipynb`` notebooks)
runs in a sandbox (:mod:`cnnlib.exercises._sandbox`) beside a small harness
that only calls its functions on the inputs of each case and sends back the
outputs. Expected values, checkers, hints and scores exist only here, in
the grading process, which judges the outputs as a checker does
(:func:`cnnlib.exercises._core.judge`). Besides the public cases, every run
adds hidden cases drawn from a random seed kept in the report.

The maximum score is the assignment's: the exercises named by `only`
(every exercise by default), whatever the submission defines.
"""

from __future__ import annotations

import json
import os
import re
import secrets
from pathlib import Path

from ._core import Case, judge, passed_line
from ._harness import encode_frame
from ._hidden import hidden_cases
from ._policy import imported_modules
from ._report import format_table
from ._sandbox import ChildRun, Limits, library_paths, run
from .catalog import EXERCISES, by_name

__all__ = ["grade", "format_table", "select", "read_units", "OPTIONAL_LIBRARIES"]

#: libraries the sandbox offers when no exercise of the assignment forbids them (and they are installed)
OPTIONAL_LIBRARIES = ("scipy", "torch", "tensorflow", "jax")
SOURCE_LIMIT = 2 << 20  # bytes of one submitted file


def select(only: list[str] | None) -> list[str]:
    """Exercise names from names (``pad2d``, ``check_pad2d``) and chapters (``ch3``); all by default."""
    if not only:
        return [e.name for e in EXERCISES]
    chosen: list[str] = []
    for item in only:
        for token in filter(None, (t.strip() for t in re.split(r"[,\s]+", item))):
            chapter = re.fullmatch(r"ch0*(\d+)", token)
            picked = [e.name for e in EXERCISES if e.chapter == int(chapter.group(1))] if chapter else [by_name(token).name]
            if chapter and not picked:
                raise KeyError(f"no exercise in chapter {chapter.group(1)}")
            chosen += [n for n in picked if n not in chosen]
    return chosen


def read_assignment(path: str | os.PathLike) -> list[str]:
    """An assignment file: exercise names or chapters, by line or comma; '#' starts a comment."""
    text = Path(path).read_text(encoding="utf-8")
    return select([line.split("#", 1)[0] for line in text.splitlines() if line.split("#", 1)[0].strip()])


def _strip_magics(source: str) -> str:
    """IPython-only lines (%magic, !shell, a %%cell magic header) become `pass`."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return "\n".join(re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in lines)


def read_units(paths: list[Path]) -> tuple[list[tuple[str, str, str]], list[dict]]:
    """(filename, where, source) of each code unit of the files, and the problems reading them."""
    units, problems = [], []
    several = len(paths) > 1
    for path in paths:
        try:
            with open(path, "rb") as f:
                raw = f.read(SOURCE_LIMIT + 1)
        except OSError as exc:
            problems.append({"where": path.name, "error": f"cannot read it: {exc.strerror}"})
            continue
        if len(raw) > SOURCE_LIMIT:
            problems.append({"where": path.name, "error": f"larger than {SOURCE_LIMIT:,} bytes: not graded"})
            continue
        text = raw.decode("utf-8", errors="replace")
        if path.suffix != ".ipynb":
            units.append((path.name, path.name if several else "module", text))
            continue
        try:
            cells = [c for c in json.loads(text).get("cells", []) if c.get("cell_type") == "code"]
        except (ValueError, AttributeError) as exc:
            problems.append({"where": path.name if several else "notebook", "error": f"cannot read the notebook: {exc}"})
            continue
        for i, cell in enumerate(cells, start=1):
            source = cell.get("source", "")
            source = "".join(source) if isinstance(source, list) else str(source)
            name = f"<cell {i}>" if not several else f"<{path.name} cell {i}>"
            units.append((name, name, _strip_magics(source)))
    return units, problems


def _forbidden(exercise, imports: dict[str, list[str]]) -> str | None:
    used = [(m, imports[m][0]) for m in exercise.forbid if m in imports]
    if not used:
        return None
    what = "; ".join(f"{m} ({where})" for m, where in used)
    return (f"{exercise.checker_name}: this exercise asks for your own implementation, without "
            f"{', '.join(exercise.forbid)}; the submission imports {what}")


def grade(submission, *, only: list[str] | None = None, timeout: float = 60.0, check_timeout: float = 10.0,
          seed: int | None = None, sandbox: bool = True, limits: Limits | None = None,
          names: list[str] | None = None) -> dict:
    """Grade one submission (a path, or a list of paths graded together) and return the report.

    Parameters
    ----------
    submission : path or list of paths to ``.py`` / ``.ipynb`` files
    only : exercise names (``pad2d`` or ``check_pad2d``) or chapters (``ch3``);
        the assignment: every exercise of it counts, a missing function scores 0
        (default: every exercise of the course). `names`, if given, is the
        already resolved list and wins over `only`.
    timeout : wall seconds for the whole submission
    check_timeout : seconds for loading it, and for each exercise
    seed : the random seed of the hidden cases (default: a fresh one, kept in the report)
    sandbox : run in bubblewrap (False: in a plain child process, for trusted code only)
    """
    paths = [Path(p).resolve() for p in (submission if isinstance(submission, (list, tuple)) else [submission])]
    names = names or select(only)
    seed = secrets.randbelow(2 ** 31) if seed is None else int(seed)
    limits = limits or Limits(timeout=timeout, check_timeout=min(check_timeout, timeout))
    exercises = [by_name(n) for n in names]
    units, problems = read_units(paths)
    imports = imported_modules(units)
    forbidden_everywhere = {m for e in exercises for m in e.forbid}
    allowed = [m for m in OPTIONAL_LIBRARIES if m not in forbidden_everywhere]
    libraries = library_paths(["numpy"] + allowed)

    cases: dict[str, tuple[list[Case], int]] = {}
    job = encode_frame({"units": units, "limit": limits.check_timeout, "limits": limits.rlimits()})
    for exercise in exercises:
        public = exercise.make_cases()
        every = public + hidden_cases(exercise, seed)
        cases[exercise.name] = (every, len(public))
        job += encode_frame({"name": exercise.name},
                            {"cases": [(c.args, list(c.kwargs.items())) for c in every]})
    child = run(job, limits, libraries, sandbox=sandbox) if units else ChildRun(frames=[{"ev": "done"}])

    report: dict = {"submission": str(paths[0]) if len(paths) == 1 else [str(p) for p in paths],
                    "seed": seed, "assignment": names, "sandbox": sandbox,
                    "limits": {"timeout": limits.timeout, "check_timeout": limits.check_timeout,
                               "memory_bytes": limits.memory, "processes": limits.processes},
                    "exercises": [], "problems": list(problems)}
    for frame in child.frames:
        if frame.get("ev") == "loaded" and isinstance(frame.get("problems"), list):
            report["problems"] += [{"where": str(p.get("where", "?"))[:80], "error": str(p.get("error", "?"))[:2000]}
                                   for p in frame["problems"] if isinstance(p, dict)]
    if child.broken:
        report["problems"].append({"where": "grading", "error": child.broken})
    for exercise in exercises:
        every, n_public = cases[exercise.name]
        entry = {"name": exercise.name, "chapter": exercise.chapter, "checker": exercise.checker_name}
        entry.update(_verdict(exercise, every, n_public, child, limits, _forbidden(exercise, imports)))
        entry["points"] = 1 if entry["status"] == "passed" else 0
        entry["max_points"] = 1
        report["exercises"].append(entry)
    report["points"] = sum(e["points"] for e in report["exercises"])
    report["max_points"] = len(report["exercises"])
    report["timed_out"] = child.timed_out
    report["exit_code"] = child.returncode
    report["output"] = child.printed
    report["output_dropped_chars"] = child.printed_dropped
    report["grader_error"] = child.failed_to_start if units else None
    if not units and not problems:
        report["problems"].append({"where": "submission", "error": "no code in the submission"})
    return report


def _verdict(exercise, every: list[Case], n_public: int, child: ChildRun, limits: Limits,
             forbidden: str | None) -> dict:
    """Status and message of one exercise, from the frames the child sent back."""
    name = exercise.name
    mine = [f for f in child.frames if f.get("name") == name]
    outcomes: dict[int, tuple] = {}
    seconds = 0.0
    if forbidden:
        return {"status": "forbidden", "message": forbidden, "seconds": None}
    for frame in mine:
        if frame.get("ev") == "missing":
            return {"status": "missing", "message": str(frame.get("why", ""))[:300], "seconds": None}
        if frame.get("ev") == "timeout":
            return {"status": "timeout", "seconds": None,
                    "message": f"{exercise.checker_name} timed out: your function ran for more than "
                               f"{limits.check_timeout:g} s"}
        if frame.get("ev") == "case" and isinstance(frame.get("case"), int) and 0 <= frame["case"] < len(every):
            seconds += float(frame.get("seconds") or 0) if isinstance(frame.get("seconds"), (int, float)) else 0
            if "raised" in frame:
                outcomes[frame["case"]] = (False, (str(frame["raised"])[:60], str(frame.get("message", ""))[:1000]))
            elif "unencodable" in frame:
                outcomes[frame["case"]] = (False, ("a result the grader cannot read", str(frame["unencodable"])[:300]))
            else:
                outcomes[frame["case"]] = (True, frame["values"].get("result"))
    received = 0
    while received in outcomes:
        received += 1
    if received == len(every) or (received and not outcomes[received - 1][0]):  # all, or up to a raise
        failure = judge(exercise, every, lambda i: outcomes.get(i, (False, ("", "not run"))), n_public)
        if failure is None:
            return {"status": "passed", "message": passed_line(exercise, n_public, len(every) - n_public),
                    "seconds": round(seconds, 3)}
        return {"status": "failed", "message": failure[1], "seconds": round(seconds, 3)}
    if child.failed_to_start:
        return {"status": "error", "message": "not graded: the sandbox did not start (see grader_error)", "seconds": None}
    loaded = any(f.get("ev") == "loaded" for f in child.frames)
    begun = any(f.get("ev") == "begin" for f in mine)
    if child.timed_out:
        how = f"the submission ran out of time ({limits.timeout:g} s in all)"
    elif child.broken:
        how = child.broken
    else:
        code = child.returncode
        how = f"killed by signal {-code}" if code is not None and code < 0 else f"exit code {code}"
        how = f"the submission's process ended ({how}; os._exit?)"
    if begun:
        return {"status": "timeout" if child.timed_out else "error", "seconds": None,
                "message": f"{exercise.checker_name}: {how} while your function ran"}
    when = "while loading" if not loaded else "before this exercise"
    return {"status": "not run", "message": f"not graded: {how} {when}", "seconds": None}
