"""The child process of the grading command: load a submission, run checkers.

``python -m cnnlib.exercises._runner SUBMISSION RESULTS --names a,b --check-timeout 10``

Results go to RESULTS as JSON lines, one per event, flushed as soon as each
exercise is graded: whatever the submission does next (loop forever, call
``os._exit``, print megabytes), the parent keeps what was already written.
The submission's prints go to a capped buffer, never to the results.
"""

from __future__ import annotations

import argparse
import io
import json
import os
import re
import signal
import sys
import time
from pathlib import Path
from typing import Any

OUTPUT_CAP = 10_000  # characters of the submission's own output kept for the report


class GradingTimeout(BaseException):
    """Raised by the alarm; a BaseException, so `except Exception` in a submission does not swallow it."""


class CappedText(io.TextIOBase):
    """A text stream that keeps the first `cap` characters and counts the rest."""

    def __init__(self, cap: int):
        self.cap, self.kept, self.dropped = cap, [], 0
        self._size = 0

    def writable(self) -> bool:
        return True

    def write(self, text) -> int:
        text = str(text)
        room = max(self.cap - self._size, 0)
        self.kept.append(text[:room])
        self._size += min(len(text), room)
        self.dropped += max(len(text) - room, 0)
        return len(text)

    def value(self) -> str:
        return "".join(self.kept)


class Events:
    """Append JSON lines to the results file, each one flushed to disk at once."""

    def __init__(self, path: str):
        self.file = open(path, "a", encoding="utf-8")  # noqa: SIM115 -- kept open for the whole run

    def write(self, **event: Any) -> None:
        self.file.write(json.dumps(event) + "\n")
        self.file.flush()
        os.fsync(self.file.fileno())


def _arm(seconds: float) -> None:
    if hasattr(signal, "setitimer"):  # not on Windows: there only the parent's overall timeout applies
        signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))


def _disarm() -> None:
    if hasattr(signal, "setitimer"):
        signal.setitimer(signal.ITIMER_REAL, 0)


def _on_alarm(signum, frame):
    raise GradingTimeout()


def _notebook_cells(path: Path) -> list[str]:
    notebook = json.loads(path.read_text(encoding="utf-8"))
    cells = []
    for cell in notebook.get("cells", []):
        if cell.get("cell_type") == "code":
            source = cell.get("source", "")
            cells.append("".join(source) if isinstance(source, list) else str(source))
    return cells


def _strip_magics(source: str) -> str:
    """IPython-only lines (%magic, !shell, a %%cell magic header) become `pass`."""
    lines = source.splitlines()
    if lines and lines[0].lstrip().startswith("%%"):
        lines = lines[1:]
    return "\n".join(re.sub(r"^(\s*)[%!].*$", r"\1pass", line) for line in lines)


def _describe(exc: BaseException) -> str:
    if isinstance(exc, SystemExit):
        return f"called sys.exit({exc.code!r})"
    if isinstance(exc, GradingTimeout):
        return "timed out"
    return f"{type(exc).__name__}: {exc}"


def load(path: Path, limit: float) -> tuple[dict, set[str], list[dict]]:
    """Execute the submission; returns (namespace, code file names, problems)."""
    namespace: dict[str, Any] = {"__name__": "__submission__", "__file__": str(path),
                                 "display": lambda *args, **kwargs: None}
    problems: list[dict] = []
    if path.suffix == ".ipynb":
        try:
            units = [(f"<cell {i}>", _strip_magics(src)) for i, src in enumerate(_notebook_cells(path), start=1)]
        except (ValueError, OSError) as exc:
            return namespace, set(), [{"where": "notebook", "error": f"cannot read the notebook: {exc}"}]
    else:
        units = [(str(path), path.read_text(encoding="utf-8", errors="replace"))]
    filenames = set()
    deadline = time.monotonic() + limit
    for filename, source in units:
        filenames.add(filename)
        where = filename if filename.startswith("<cell") else "module"
        try:
            _arm(deadline - time.monotonic())
            try:
                exec(compile(source, filename, "exec"), namespace)
            finally:
                _disarm()
        except GradingTimeout:
            problems.append({"where": where, "error": f"timed out: loading took more than {limit:g} s"})
            break
        except BaseException as exc:  # noqa: BLE001 -- a submission may raise anything, SystemExit included
            problems.append({"where": where, "error": _describe(exc)})
    return namespace, filenames, problems


def grade_one(name: str, namespace: dict, filenames: set[str], limit: float) -> dict:
    from . import CHECKERS

    fn = namespace.get(name)
    if fn is None:
        return {"status": "missing", "message": f"no function named {name} in the submission"}
    code = getattr(fn, "__code__", None)
    if not callable(fn) or code is None or code.co_filename not in filenames:
        origin = getattr(fn, "__module__", None) or type(fn).__name__
        return {"status": "missing", "message": f"{name} is not a function defined in the submission (it comes from {origin})"}
    start = time.monotonic()
    printed = CappedText(1000)
    try:
        _arm(limit)
        try:
            sys.stdout = printed  # the checker's "all N cases passed" line becomes the message
            CHECKERS[f"check_{name}"](fn)
        finally:
            _disarm()
        status, message = "passed", printed.value().strip().splitlines()[-1]
    except AssertionError as exc:
        status, message = "failed", str(exc)
    except GradingTimeout:
        status, message = "timeout", f"check_{name} timed out: your function ran for more than {limit:g} s"
    except BaseException as exc:  # noqa: BLE001
        status, message = "error", f"check_{name}: your function {_describe(exc)}"
    return {"status": status, "message": message, "seconds": round(time.monotonic() - start, 3)}


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="cnnlib.exercises._runner")
    parser.add_argument("submission")
    parser.add_argument("results")
    parser.add_argument("--names", default="")
    parser.add_argument("--check-timeout", type=float, default=10.0)
    args = parser.parse_args(argv)

    events = Events(args.results)
    captured = CappedText(OUTPUT_CAP)
    real_stdout, real_stderr = sys.stdout, sys.stderr
    sys.stdout = sys.stderr = captured
    if hasattr(signal, "SIGALRM"):
        signal.signal(signal.SIGALRM, _on_alarm)
    path = Path(args.submission).resolve()
    sys.path.append(str(path.parent))  # after site-packages: the grader's own imports stay the real ones
    events.write(event="start", pid=os.getpid())

    namespace, filenames, problems = load(path, args.check_timeout)
    sys.stdout, sys.stderr = captured, captured  # the submission may have replaced them
    events.write(event="loaded", problems=problems)
    for name in filter(None, args.names.split(",")):
        events.write(event="begin", name=name)
        result = grade_one(name, namespace, filenames, args.check_timeout)
        sys.stdout, sys.stderr = captured, captured
        events.write(event="exercise", name=name, **result)
    events.write(event="done", output=captured.value(), dropped=captured.dropped)
    sys.stdout, sys.stderr = real_stdout, real_stderr
    # skip interpreter shutdown: atexit hooks and __del__ methods of the submission do not run
    os._exit(0)


if __name__ == "__main__":
    main()
