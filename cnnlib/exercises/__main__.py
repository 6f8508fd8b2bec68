"""Command line: ``python -m cnnlib.exercises grade SUBMISSION`` and ``... list``.

Exit status 0 when grading completed (whatever the score), 2 on a usage
error (no such file, not a .py or .ipynb, unknown exercise name).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from .catalog import EXERCISES


def _list() -> str:
    lines = [f"{'ch':>2}  {'function':<24}  cases  mistakes  signature (graded by check_<function>)"]
    for e in EXERCISES:
        lines.append(f"{e.chapter:>2}  {e.name:<24}  {len(e.make_cases()):>5}  {len(e.mistakes):>8}  {e.signature}")
    total = sum(len(e.mistakes) for e in EXERCISES)
    lines.append(f"{len(EXERCISES)} exercises, {total} diagnosed mistakes")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.exercises",
                                     description="Check and grade the coding exercises of the CNN course.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the exercises, the function name each one grades, and its checker")
    g = sub.add_parser("grade", help="grade a .py or .ipynb submission")
    g.add_argument("submission", help="a .py file or an .ipynb notebook")
    g.add_argument("--json", metavar="PATH", help="where to write the report (default: SUBMISSION.grade.json beside it)")
    g.add_argument("--only", action="append", metavar="NAMES",
                   help="exercises or chapters to grade, e.g. 'pad2d,conv_output_size' or 'ch3'; "
                        "a missing function then scores 0 (default: every exercise the submission defines)")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole submission (default 60)")
    g.add_argument("--check-timeout", type=float, default=10.0,
                   help="seconds for loading the submission and for each checker (default 10)")
    args = parser.parse_args(argv)

    if args.command == "list":
        print(_list())
        return 0
    from .grade import format_table, grade

    path = Path(args.submission)
    if not path.is_file():
        parser.error(f"no such file: {path}")
    if path.suffix not in (".py", ".ipynb"):
        parser.error(f"the submission must be a .py file or an .ipynb notebook; got {path.name}")
    if args.timeout <= 0 or args.check_timeout <= 0:
        parser.error("--timeout and --check-timeout must be positive")
    try:
        report = grade(path, only=args.only, timeout=args.timeout, check_timeout=args.check_timeout)
    except KeyError as exc:
        parser.error(exc.args[0])
    json_path = Path(args.json) if args.json else path.with_name(path.name + ".grade.json")
    json_path.write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(format_table(report))
    print(f"report written to {json_path}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
