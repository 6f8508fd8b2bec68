"""Grade a submission: ``python -m cnnlib.exercises grade SUBMISSION``.

The submission (a ``.py`` file or an ``.ipynb`` notebook) is executed in a
child process (:mod:`cnnlib.exercises._runner`) with a time limit. Every
function it defines whose name is an exercise's name (``def pad2d`` for
``check_pad2d``; see ``python -m cnnlib.exercises list``) is graded by that
exercise's checker. The child writes each result to a file as soon as it
has it, so a submission that raises, loops forever, prints megabytes or
exits costs only the exercises it had not reached: they score 0 with the
reason.

This isolates a buggy submission, not a malicious one: run untrusted code
in a container.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import tempfile
from pathlib import Path

from .catalog import EXERCISES, by_name

__all__ = ["grade", "format_table", "discover"]

OUTPUT_LIMIT = 20_000       # bytes of the child's raw output read back
FILE_SIZE_LIMIT = 20 << 20  # the child may not write files larger than this (its raw output included)

_DEF = re.compile(r"^[ \t]*def[ \t]+(\w+)[ \t]*\(|^(\w+)[ \t]*=[ \t]*lambda\b", re.MULTILINE)


def discover(source: str) -> list[str]:
    """Exercise names a submission's source defines, in chapter order."""
    defined = {a or b for a, b in _DEF.findall(source)}
    return [e.name for e in EXERCISES if e.name in defined]


def _source_text(path: Path) -> str:
    text = path.read_text(encoding="utf-8", errors="replace")
    if path.suffix != ".ipynb":
        return text
    try:
        cells = json.loads(text).get("cells", [])
    except (ValueError, AttributeError):
        return ""
    return "\n".join("".join(c.get("source", "")) for c in cells if c.get("cell_type") == "code")


def _limit_file_size() -> None:  # runs in the child, before exec
    try:
        import resource

        resource.setrlimit(resource.RLIMIT_FSIZE, (FILE_SIZE_LIMIT, FILE_SIZE_LIMIT))
    except (ImportError, ValueError, OSError):
        pass


def _run_child(path: Path, names: list[str], timeout: float, check_timeout: float, workdir: Path):
    results, output = workdir / "results.jsonl", workdir / "output.txt"
    env = dict(os.environ, MPLBACKEND="Agg", PYTHONIOENCODING="utf-8")
    # -P: the submission's folder is not put first on sys.path, so a file there named numpy.py or
    # cnnlib.py cannot replace the real modules (the runner adds the folder after importing them)
    command = [sys.executable, "-P", "-m", "cnnlib.exercises._runner", str(path), str(results),
               "--names", ",".join(names), "--check-timeout", str(min(check_timeout, timeout))]
    posix = os.name == "posix"
    with open(output, "wb") as out:
        proc = subprocess.Popen(command, stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
                                cwd=path.parent, env=env, start_new_session=posix,
                                preexec_fn=_limit_file_size if posix else None)
        try:
            returncode, timed_out = proc.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            if posix:  # the whole process group: the submission may have started processes of its own
                os.killpg(proc.pid, signal.SIGKILL)
            else:
                proc.kill()
            returncode, timed_out = proc.wait(), True
    events = []
    if results.exists():
        for line in results.read_text(encoding="utf-8", errors="replace").splitlines():
            try:
                events.append(json.loads(line))
            except ValueError:  # the last line, cut short when the child died
                break
    with open(output, "rb") as out:
        raw = out.read(OUTPUT_LIMIT).decode("utf-8", errors="replace")
    return events, returncode, timed_out, raw


def grade(submission: str | os.PathLike, *, only: list[str] | None = None,
          timeout: float = 60.0, check_timeout: float = 10.0) -> dict:
    """Grade one submission and return the report (what ``--json`` writes).

    Parameters
    ----------
    submission : path to a ``.py`` or ``.ipynb`` file
    only : exercise names (``pad2d`` or ``check_pad2d``) or chapters (``ch3``)
        Grade these, and score a missing function 0. By default every
        exercise whose function the submission defines is graded.
    timeout : seconds for the whole submission (loading and every checker)
    check_timeout : seconds for loading, and for each checker
    """
    path = Path(submission).resolve()
    names = _select(only) if only else discover(_source_text(path))
    report: dict = {"submission": str(path), "timeout": timeout, "check_timeout": check_timeout,
                    "exercises": [], "problems": [], "points": 0, "max_points": len(names)}
    if not names:
        report["problems"].append({"where": "submission", "error": "no function named after an exercise; "
                                   "run `python -m cnnlib.exercises list` for the names"})
        return report
    with tempfile.TemporaryDirectory(prefix="cnnlib-grade-") as tmp:
        events, returncode, timed_out, raw = _run_child(path, names, timeout, check_timeout, Path(tmp))
    done = {e["name"]: e for e in events if e.get("event") == "exercise"}
    for event in events:
        if event.get("event") == "loaded":
            report["problems"].extend(event["problems"])
    begun = [e["name"] for e in events if e.get("event") == "begin"]
    running = begun[-1] if begun and begun[-1] not in done else None
    if timed_out:
        how = f"the submission ran out of time ({timeout:g} s in all)"
    else:
        how = f"killed by signal {-returncode}" if returncode < 0 else f"exit code {returncode}"
        how = f"the submission's process ended ({how}; os._exit?)"
    for name in names:
        exercise = by_name(name)
        entry = {"name": name, "chapter": exercise.chapter, "checker": exercise.checker_name}
        if name in done:
            entry.update({k: done[name].get(k) for k in ("status", "message", "seconds")})
        elif name == running:
            status = "timeout" if timed_out else "error"
            entry.update({"status": status, "message": f"{exercise.checker_name}: {how} while your function ran",
                          "seconds": None})
        else:
            when = "while loading" if not any(e.get("event") == "loaded" for e in events) else "before this exercise"
            entry.update({"status": "not run", "message": f"not graded: {how} {when}", "seconds": None})
        entry["points"] = 1 if entry["status"] == "passed" else 0
        entry["max_points"] = 1
        report["exercises"].append(entry)
    report["points"] = sum(e["points"] for e in report["exercises"])
    report["timed_out"] = timed_out
    report["exit_code"] = returncode
    final = [e for e in events if e.get("event") == "done"]
    report["output"] = final[0]["output"] if final else raw
    report["output_dropped_chars"] = final[0]["dropped"] if final else None
    return report


def _select(only: list[str]) -> list[str]:
    chosen: list[str] = []
    for item in only:
        for token in filter(None, (t.strip() for t in item.split(","))):
            chapter = re.fullmatch(r"ch0*(\d+)", token)
            picked = [e.name for e in EXERCISES if e.chapter == int(chapter.group(1))] if chapter else [by_name(token).name]
            chosen += [n for n in picked if n not in chosen]
    return chosen


def _summary(entry: dict) -> str:
    """One line for the table: the hint if there is one, else what went wrong."""
    message = entry.get("message") or ""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if entry["status"] == "passed":
        return lines[0].split(": ", 1)[-1] if lines else "passed"
    case = re.search(r"case (\d+) of (\d+)", lines[0]) if lines else None
    prefix = f"case {case.group(1)}/{case.group(2)}: " if case else ""
    hints = [line.removeprefix("hint: ") for line in lines[1:] if line.startswith("hint:")]
    body = hints[0] if hints else (lines[1] if len(lines) > 1 else (lines[0] if lines else ""))
    return prefix + body


def format_table(report: dict, width: int = 120) -> str:
    """The score table the grading command prints, then the full message of every failure."""
    header = ("exercise", "ch", "status", "points", "message")
    rows = [(e["name"], str(e["chapter"]), e["status"], f"{e['points']}/{e['max_points']}", _summary(e))
            for e in report["exercises"]]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]

    def line(cells) -> str:
        text = "  ".join([cells[0].ljust(widths[0]), cells[1].rjust(widths[1]), cells[2].ljust(widths[2]),
                          cells[3].rjust(widths[3]), cells[4]]).rstrip()
        return text if len(text) <= width else text[:width - 3] + "..."

    rule = line(["-" * w for w in widths] + ["-------"])
    out = [f"grading {Path(report['submission']).name}: {report['points']} of {report['max_points']} points", "",
           line(header), rule] + [line(r) for r in rows]
    out += [rule, line(("total", "", "", f"{report['points']}/{report['max_points']}", ""))]
    for problem in report["problems"]:
        out.append(f"note: {problem['where']}: {problem['error']}")
    if report.get("output_dropped_chars"):
        out.append(f"note: the submission printed {report['output_dropped_chars']:,} characters more than the "
                   "report keeps")
    for entry in report["exercises"]:
        if entry["status"] not in ("passed", "missing") and entry.get("message"):
            out += ["", f"{entry['name']}:"] + ["  " + m for m in entry["message"].splitlines()]
    return "\n".join(out)
