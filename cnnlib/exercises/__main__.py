"""Command line: ``python -m cnnlib.exercises grade ...``, ``... list`` and ``... gradescope``.

Exit status 0 when grading completed (whatever the scores), 1 when the
grading machinery failed (no sandbox, a sandbox that does not start), 2 on
a usage error (no such file, not a .py or .ipynb, an unknown exercise name).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .catalog import EXERCISES

RISK = ("WARNING: --no-sandbox runs every submission as you, with your files, your network and your "
        "environment: a submission can read or change anything you can, fake its own results and keep "
        "running after grading. Use it only for code you trust.")


def _list() -> str:
    lines = [f"{'ch':>2}  {'function':<24}  cases  mistakes  signature (graded by check_<function>)"]
    for e in EXERCISES:
        lines.append(f"{e.chapter:>2}  {e.name:<24}  {len(e.make_cases()):>5}  {len(e.mistakes):>8}  {e.signature}")
    total = sum(len(e.mistakes) for e in EXERCISES)
    lines.append(f"{len(EXERCISES)} exercises, {total} diagnosed mistakes")
    return "\n".join(lines)


def _grade_options(g: argparse.ArgumentParser) -> None:
    g.add_argument("--only", action="append", metavar="NAMES",
                   help="the assignment: exercises or chapters, e.g. 'pad2d,conv_output_size' or 'ch3'; "
                        "a missing function scores 0 (default: every exercise)")
    g.add_argument("--assignment", metavar="FILE", help="the assignment as a file: names or chapters, one a line")
    g.add_argument("--timeout", type=float, default=60.0, help="seconds for the whole submission (default 60)")
    g.add_argument("--check-timeout", type=float, default=10.0,
                   help="seconds for loading the submission and for each exercise (default 10)")
    g.add_argument("--memory", type=int, default=2048, metavar="MIB", help="memory limit in MiB (default 2048)")
    g.add_argument("--seed", type=int, help="random seed of the hidden cases (default: a fresh one, in the report)")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m cnnlib.exercises",
                                     description="Check and grade the coding exercises of the CNN course.")
    sub = parser.add_subparsers(dest="command", required=True)
    sub.add_parser("list", help="list the exercises, the function name each one grades, and its checker")
    g = sub.add_parser("grade", help="grade .py or .ipynb submissions, one or a whole class")
    g.add_argument("paths", nargs="+", metavar="PATH", help="files, folders or globs (nbgrader's submitted/ too)")
    g.add_argument("--json", metavar="REPORT", help="one submission: write its JSON report here")
    g.add_argument("--out", metavar="DIR", help="a class: write DIR/grades.csv and one JSON report per student")
    g.add_argument("--jobs", type=int, default=2, help="submissions graded at once (default 2)")
    g.add_argument("--force", action="store_true", help="grade again the students already graded in DIR")
    g.add_argument("--no-sandbox", action="store_true", help="run submissions without bubblewrap (trusted code only)")
    _grade_options(g)
    s = sub.add_parser("gradescope", help="build a Gradescope autograder zip")
    s.add_argument("--out", default="autograder.zip", help="the zip to write (default autograder.zip)")
    _grade_options(s)
    args = parser.parse_args(argv)

    if args.command == "list":
        print(_list())
        return 0
    from ._report import safe_text, write_json
    from ._sandbox import INSTALL_HINT, Limits, bwrap_path
    from .grade import format_table, grade, read_assignment, select

    try:
        names = read_assignment(args.assignment) if args.assignment else select(args.only)
    except KeyError as exc:
        parser.error(exc.args[0])
    except OSError as exc:
        parser.error(f"cannot read the assignment file: {exc}")
    if args.timeout <= 0 or args.check_timeout <= 0 or args.memory < 64:
        parser.error("--timeout and --check-timeout must be positive, --memory at least 64")
    limits = Limits(timeout=args.timeout, check_timeout=min(args.check_timeout, args.timeout),
                    memory=args.memory << 20)
    if args.command == "gradescope":
        from ._gradescope import build

        build(Path(args.out), names, limits, seed=args.seed)
        print(f"Gradescope autograder for {len(names)} exercises written to {args.out}")
        return 0

    sandbox = not args.no_sandbox
    if sandbox and bwrap_path() is None:
        print(f"error: {INSTALL_HINT}", file=sys.stderr)
        return 1
    if not sandbox:
        print(RISK, file=sys.stderr)
    options = {"limits": limits, "sandbox": sandbox}
    if args.out is None:
        if len(args.paths) != 1:
            parser.error("several submissions: give --out DIR for the class's grades")
        path = Path(args.paths[0])
        if not path.is_file():
            parser.error(f"no such file: {path}")
        if path.suffix not in (".py", ".ipynb"):
            parser.error(f"the submission must be a .py file or an .ipynb notebook; got {path.name}")
        report = grade(path, names=names, seed=args.seed, **options)
        if args.json:
            write_json(Path(args.json), report)
        print(format_table(report))
        if args.json:
            print(f"report written to {safe_text(args.json, False)}")
        return 1 if report.get("grader_error") else 0

    from ._classroom import grade_class

    summary = grade_class(args.paths, Path(args.out), names, jobs=args.jobs, force=args.force, seed=args.seed,
                          progress=lambda line: print(safe_text(line, False), flush=True), **options)
    print(f"{summary['students']} students: {summary['graded']} graded, {summary['skipped']} already graded; "
          f"grades in {safe_text(Path(args.out) / 'grades.csv', False)}")
    if summary["grader_errors"]:
        print(f"error: the sandbox failed for {len(summary['grader_errors'])} students", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
