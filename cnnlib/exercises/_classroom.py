"""Grade a whole class: find the submissions, grade them in parallel, write grades.csv.

``python -m cnnlib.exercises grade PATH... --out DIR [--jobs N] [--only NAMES]``

PATH may be a file, a folder (searched for ``.py`` and ``.ipynb`` files) or
a glob. A student's id comes from the path: in nbgrader's layout
``submitted/{student}/{assignment}/...`` it is the folder after
``submitted`` (all the files of one student are graded together, as one
submission); otherwise it is the file's name without its suffix.

``DIR/grades.csv`` has one row per student (a column per exercise, the
total, the maximum and a status) and ``DIR/{student}.json`` is each
student's report. A student whose report is already there, for the same
assignment, is not graded again unless `force`.
"""

from __future__ import annotations

import csv
import io
import json
import os
import re
import stat
from concurrent.futures import ThreadPoolExecutor
from glob import glob
from pathlib import Path
from typing import Callable

from ._report import write_atomic, write_json
from .grade import grade

__all__ = ["find_submissions", "grade_class"]

SUFFIXES = (".py", ".ipynb")


def _files_under(path: Path) -> list[Path]:
    if path.is_file():
        return [path] if path.suffix in SUFFIXES else []
    if path.is_dir():
        return sorted(p for p in path.rglob("*") if p.suffix in SUFFIXES and p.is_file()
                      and ".ipynb_checkpoints" not in p.parts and not p.name.startswith("."))
    return []


def _student_of(path: Path) -> str:
    parts = path.parts
    if "submitted" in parts:
        i = len(parts) - 1 - parts[::-1].index("submitted")
        if i + 2 < len(parts):  # submitted/{student}/{assignment}/file
            return parts[i + 1]
    return path.stem


def safe_id(student: str) -> str:
    """A file name for `student`'s report: letters, digits, '-', '_' and '.' only."""
    cleaned = re.sub(r"[^A-Za-z0-9_.-]", "_", student).lstrip(".")[:100]
    return cleaned or "student"


def find_submissions(patterns: list[str]) -> dict[str, list[Path]]:
    """Student id -> the files of their submission, in a stable order."""
    students: dict[str, list[Path]] = {}
    for pattern in patterns:
        matches = [Path(m) for m in sorted(glob(pattern, recursive=True))] or [Path(pattern)]
        for match in matches:
            for f in _files_under(match):
                files = students.setdefault(_student_of(f.resolve()), [])
                if f.resolve() not in files:
                    files.append(f.resolve())
    return dict(sorted(students.items()))


def _read_regular(path: Path, limit: int = 16 << 20) -> str | None:
    """The text of `path` if it is a regular file (not a FIFO, a device or a symlink), else None."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOFOLLOW)
    except OSError:
        return None
    with os.fdopen(fd, "rb") as f:
        if not stat.S_ISREG(os.fstat(fd).st_mode):
            return None
        return f.read(limit).decode("utf-8", errors="replace")


def _already_graded(path: Path, names: list[str]) -> dict | None:
    try:
        report = json.loads(_read_regular(path) or "")
    except ValueError:
        return None
    return report if isinstance(report, dict) and report.get("assignment") == names else None


def _csv_cell(value: object) -> str:
    text = str(value)
    return "'" + text if text[:1] in ("=", "+", "-", "@", "\t", "\r") else text  # no formulas in a spreadsheet


def _status(report: dict) -> str:
    if report.get("grader_error"):
        return "grader error"
    if report.get("timed_out"):
        return "timed out"
    return "graded"


def grade_class(patterns: list[str], out: Path, names: list[str], *, jobs: int = 2, force: bool = False,
                seed: int | None = None, progress: Callable[[str], None] | None = None, **options) -> dict:
    """Grade every student found by `patterns`; returns a summary (and writes DIR/grades.csv)."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    students = find_submissions(patterns)
    ids: dict[str, str] = {}
    for student in students:  # distinct report names even when two ids clean up the same way
        base, n = safe_id(student), 1
        while (ids.get(student) is None) and base + ("" if n == 1 else f"-{n}") in ids.values():
            n += 1
        ids[student] = base + ("" if n == 1 else f"-{n}")
    reports: dict[str, dict] = {}
    todo = []
    for student, files in students.items():
        previous = None if force else _already_graded(out / f"{ids[student]}.json", names)
        if previous is not None:
            reports[student] = previous
        else:
            todo.append((student, files))

    def one(item):
        student, files = item
        report = grade(files, names=names, seed=seed, **options)
        report["student"] = student
        write_json(out / f"{ids[student]}.json", report)
        if progress:
            progress(f"{student}: {report['points']}/{report['max_points']} ({_status(report)})")
        return student, report

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        for student, report in pool.map(one, todo):
            reports[student] = report

    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["student", *names, "total", "max", "status"])
    for student in students:
        report = reports[student]
        points = {e["name"]: e["points"] for e in report["exercises"]}
        writer.writerow([_csv_cell(student), *[points.get(n, 0) for n in names], report["points"],
                         report["max_points"], _status(report)])
    write_atomic(out / "grades.csv", buffer.getvalue())
    failed = [s for s in students if reports[s].get("grader_error")]
    return {"students": len(students), "graded": len(todo), "skipped": len(students) - len(todo),
            "grader_errors": failed}
