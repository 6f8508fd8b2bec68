"""The instructor's guide (book/instructors.md) says what the code does.

Its checker table, its worked example (the exact output of the grading
command), its sample failure message, its limits table and its nbgrader and
otter-grader snippets are all run here against cnnlib.exercises (and for
real, with otter-grader and nbgrader themselves, in test_grader_interop.py).
"""

from __future__ import annotations

import doctest
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

import cnnlib.exercises as ex
from cnnlib.exercises import solutions as sol

GUIDE = Path(__file__).resolve().parents[1] / "book" / "instructors.md"


@pytest.fixture(scope="module")
def guide() -> str:
    return GUIDE.read_text(encoding="utf-8")


def _block_after(text: str, marker: str) -> str:
    match = re.search(re.escape(marker) + r"\n```[a-z]*\n(.*?)\n```", text, re.DOTALL)
    assert match, f"no fenced block after {marker!r}"
    return match.group(1) + "\n"


def test_checker_table_lists_every_exercise_with_its_counts(guide):
    rows = re.findall(r"^\| (\d+) \| `(\w+)` \| `(check_\w+)` \| (\d+) \| (\d+) \|$", guide, re.MULTILINE)
    expected = [(str(e.chapter), e.name, e.checker_name, str(len(e.make_cases())), str(len(e.mistakes)))
                for e in ex.EXERCISES]
    assert rows == expected
    total = sum(len(e.mistakes) for e in ex.EXERCISES)
    assert f"{total} of\nthem over the {len(ex.EXERCISES)} exercises" in guide


def test_worked_example_output_is_what_the_command_prints(guide, tmp_path):
    (tmp_path / "student.py").write_text(_block_after(guide, "<!-- worked-example: student.py -->"))
    command = _block_after(guide, "<!-- worked-example: command -->").split()
    assert command[:4] == ["python", "-m", "cnnlib.exercises", "grade"]
    run = subprocess.run([sys.executable, *command[1:]], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert run.returncode == 0, run.stderr
    assert run.stdout == _block_after(guide, "<!-- worked-example: output -->")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["student.py"]  # nothing written beside it


def test_limits_table_matches_the_defaults(guide):
    from cnnlib.exercises._harness import MAX_ARRAY_BYTES
    from cnnlib.exercises._sandbox import Limits

    limits = Limits()
    rows = dict(re.findall(r"^\| ([^|]+?) \| ([^|]+?) \|", guide, re.MULTILINE))
    assert rows["wall time for the whole submission"] == f"{limits.timeout:g} s"
    assert rows["time to load it, and for each exercise"] == f"{limits.check_timeout:g} s"
    assert rows["memory (address space)"] == f"{limits.memory >> 30} GiB"
    assert rows["processes of the sandbox user"] == str(limits.processes)
    assert rows["open files"] == str(limits.open_files)
    assert rows["size of one written file, and of its `/tmp`"] == f"{limits.file_size >> 20} MiB, {limits.tmp_size >> 20} MiB"
    assert rows["one returned array, all results"] == f"{MAX_ARRAY_BYTES >> 20} MiB, {limits.frame_bytes >> 20} MiB"
    assert rows["printed output kept for the report"] == f"{limits.printed_chars:,} characters"


def test_sample_failure_message(guide):
    block = re.search(r"```text\n(AssertionError: check_conv2d_forward.*?)\n```", guide, re.DOTALL).group(1)
    with pytest.raises(AssertionError) as info:
        ex.check_conv2d_forward(lambda x, w, b, s, p: sol.conv2d_forward(x, w[:, :, ::-1, ::-1], b, s, p))
    assert f"AssertionError: {info.value}" == block


def test_otter_test_file_passes_a_right_answer_and_fails_a_wrong_one(guide):
    namespace: dict = {}
    exec(_block_after(guide, "<!-- otter-test-file -->"), namespace)
    test = namespace["test"]
    assert namespace["OK_FORMAT"] is True  # otter-grader 7 needs it for a test in the OK format
    assert test["name"] == "q1" and test["suites"][0]["type"] == "doctest"
    code = textwrap.dedent(test["suites"][0]["cases"][0]["code"])
    parsed = doctest.DocTestParser().get_doctest(code, {}, "q1", None, 0)
    for fn, failures in ((sol.pad2d, 0), (lambda x, p: x, 1)):
        runner = doctest.DocTestRunner(verbose=False)
        parsed.globs = {"pad2d": fn}
        runner.run(parsed, out=lambda text: None)
        assert runner.summarize(verbose=False).failed == failures


def test_nbgrader_cells_and_the_closing_example(guide, capsys):
    namespace: dict = {"np": __import__("numpy")}
    exec(_block_after(guide, "<!-- nbgrader-answer-cell -->"), namespace)
    exec(_block_after(guide, "<!-- nbgrader-test-cell -->"), namespace)
    assert capsys.readouterr().out == "check_pad2d: all 5 cases passed\n"
    with pytest.raises(AssertionError, match=r"use x > 0, not x >= 0"):
        ex.check_relu_backward(lambda dout, x: dout * (x >= 0))
