"""What the grading command shows and writes: the score table, safe text, safe files.

Everything a submission can influence (its printed output, its exception
messages, its file and student names) is untrusted text: in the terminal,
control characters are shown escaped (no ANSI sequences, no carriage
returns that overwrite a line) and invalid Unicode is replaced. Reports are
written by the grading process only, atomically (a temporary file in the
output folder, then a rename), so a name that already exists there as a
FIFO or a symlink is replaced, never opened.
"""

from __future__ import annotations

import json
import os
import re
import tempfile
from pathlib import Path

__all__ = ["safe_text", "format_table", "write_atomic", "write_json"]

_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029\u202a-\u202e\u2066-\u2069]")


def safe_text(text: object, keep_newlines: bool = True) -> str:
    """`text` with control characters escaped (\\x1b, \\r, bidi overrides) and bad Unicode replaced."""
    if isinstance(text, bytes):
        text = text.decode("utf-8", errors="replace")
    text = str(text).encode("utf-8", errors="replace").decode("utf-8", errors="replace")
    if not keep_newlines:
        text = text.replace("\n", "\\n").replace("\t", "\\t")
    return _CONTROL.sub(lambda m: f"\\x{ord(m.group()):02x}" if ord(m.group()) < 256 else f"\\u{ord(m.group()):04x}", text)


def write_atomic(path: Path, data: str) -> None:
    """Write `data` to `path` through a temporary file and a rename."""
    path = Path(path)
    fd, tmp = tempfile.mkstemp(prefix=".tmp-", dir=path.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_json(path: Path, report: dict) -> None:
    write_atomic(path, json.dumps(report, indent=2, ensure_ascii=True) + "\n")


def _summary(entry: dict) -> str:
    """One line for the table: the hint if there is one, else what went wrong."""
    message = entry.get("message") or ""
    lines = [line.strip() for line in message.splitlines() if line.strip()]
    if entry["status"] == "passed":
        return lines[0].split(": ", 1)[-1] if lines else "passed"
    case = re.search(r"(hidden case|case) (\d+) of (\d+)", lines[0]) if lines else None
    prefix = f"{case.group(1)} {case.group(2)}/{case.group(3)}: " if case else ""
    hints = [line.removeprefix("hint: ") for line in lines[1:] if line.startswith("hint:")]
    body = hints[0] if hints else (lines[1] if len(lines) > 1 else (lines[0] if lines else ""))
    return prefix + body


def format_table(report: dict, width: int = 120) -> str:
    """The score table the grading command prints, then the full message of every failure."""
    header = ("exercise", "ch", "status", "points", "message")
    rows = [(e["name"], str(e["chapter"]), e["status"], f"{e['points']}/{e['max_points']}",
             safe_text(_summary(e), keep_newlines=False)) for e in report["exercises"]]
    widths = [max(len(r[i]) for r in rows + [header]) for i in range(4)]

    def line(cells) -> str:
        text = "  ".join([cells[0].ljust(widths[0]), cells[1].rjust(widths[1]), cells[2].ljust(widths[2]),
                          cells[3].rjust(widths[3]), cells[4]]).rstrip()
        return text if len(text) <= width else text[:width - 3] + "..."

    submission = report["submission"]
    name = Path(submission).name if isinstance(submission, str) else f"{len(submission)} files"
    rule = line(["-" * w for w in widths] + ["-------"])
    out = [f"grading {safe_text(name, False)}: {report['points']} of {report['max_points']} points", "",
           line(header), rule] + [line(r) for r in rows]
    out += [rule, line(("total", "", "", f"{report['points']}/{report['max_points']}", ""))]
    for problem in report["problems"]:
        out.append(f"note: {safe_text(problem['where'], False)}: {safe_text(problem['error'], False)}")
    if report.get("output_dropped_chars"):
        out.append(f"note: the submission printed {report['output_dropped_chars']:,} characters more than the "
                   "report keeps")
    if report.get("grader_error"):
        out.append(f"note: the sandbox failed: {safe_text(report['grader_error'], False)[:300]}")
    for entry in report["exercises"]:
        if entry["status"] not in ("passed", "missing") and entry.get("message"):
            out += ["", f"{entry['name']}:"] + ["  " + safe_text(m) for m in entry["message"].splitlines()]
    out.append(f"hidden cases drawn with --seed {report['seed']}")
    return "\n".join(out)
