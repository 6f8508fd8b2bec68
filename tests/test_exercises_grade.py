"""The grading command: good submissions, notebooks, and hostile ones.

A hostile submission (raises, loops forever, prints megabytes, exits) must
cost only what it breaks: everything graded before still counts, and the
command itself completes with a table, a JSON report and exit status 0.
"""

from __future__ import annotations

import inspect
import json
import re
import subprocess
import sys
import textwrap
from pathlib import Path

import nbformat
import pytest

from cnnlib.exercises import solutions as sol
from cnnlib.exercises.grade import discover, format_table, grade

GOOD = "import numpy as np\n\n" + "\n\n".join(
    textwrap.dedent(inspect.getsource(f)) for f in (sol.conv_output_size, sol.pad2d, sol.relu_backward)
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _statuses(report: dict) -> dict[str, str]:
    return {e["name"]: e["status"] for e in report["exercises"]}


def _cli(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlib.exercises", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=60)


def test_good_py_file_through_the_command_line(tmp_path):
    path = _write(tmp_path, "alice.py", GOOD + "\nprint('hello from alice')\n")
    run = _cli("grade", str(path), "--json", str(tmp_path / "out.json"), cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "grading alice.py: 3 of 3 points" in run.stdout
    assert re.search(r"conv_output_size\s+3\s+passed\s+1/1\s+all 11 cases passed", run.stdout)
    report = json.loads((tmp_path / "out.json").read_text())
    assert _statuses(report) == {"conv_output_size": "passed", "pad2d": "passed", "relu_backward": "passed"}
    assert report["points"] == report["max_points"] == 3
    assert "hello from alice" in report["output"]


def test_default_report_path_is_beside_the_submission(tmp_path):
    path = _write(tmp_path, "bob.py", GOOD)
    assert _cli("grade", str(path), cwd=tmp_path).returncode == 0
    assert json.loads((tmp_path / "bob.py.grade.json").read_text())["points"] == 3


def test_good_notebook_with_a_failing_cell_and_magics(tmp_path):
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# Homework"),
        nbformat.v4.new_code_cell("%matplotlib inline\nimport numpy as np"),
        nbformat.v4.new_code_cell(textwrap.dedent(inspect.getsource(sol.max_pool2d))),
        nbformat.v4.new_code_cell("undefined_name + 1"),
        nbformat.v4.new_code_cell(textwrap.dedent(inspect.getsource(sol.im2col))),
        nbformat.v4.new_code_cell("from cnnlib.exercises import check_im2col\ncheck_im2col(im2col)"),
    ]
    path = tmp_path / "carol.ipynb"
    nbformat.write(nb, path)
    report = grade(path)
    assert _statuses(report) == {"im2col": "passed", "max_pool2d": "passed"}
    assert report["problems"] == [{"where": "<cell 3>", "error": "NameError: name 'undefined_name' is not defined"}]


def test_wrong_function_scores_zero_with_its_hint(tmp_path):
    wrong = GOOD.replace("(p, p), (p, p)", "(p, 0), (p, 0)")
    report = grade(_write(tmp_path, "dave.py", wrong))
    assert _statuses(report)["pad2d"] == "failed" and report["points"] == 2
    table = format_table(report)
    assert re.search(r"pad2d\s+3\s+failed\s+0/1\s+case 1/5: you added zeros on one side only", table)


def test_imported_functions_are_not_graded_as_the_learners(tmp_path):
    text = "from cnnlib.exercises.solutions import pad2d\n\ndef pad2d_wrapper(x, p):\n    return pad2d(x, p)\n"
    report = grade(_write(tmp_path, "eve.py", text), only=["pad2d"])
    assert _statuses(report) == {"pad2d": "missing"}
    assert "not a function defined in the submission" in report["exercises"][0]["message"]


def test_only_selects_chapters_and_scores_missing_functions_zero(tmp_path):
    report = grade(_write(tmp_path, "frank.py", GOOD), only=["ch3", "dense_params"])
    assert _statuses(report) == {"conv_output_size": "passed", "pad2d": "passed", "dense_params": "missing"}
    assert (report["points"], report["max_points"]) == (2, 3)


def test_discover_finds_defs_and_lambdas_in_chapter_order():
    source = "def pad2d(x, p):\n    pass\nconv_output_size = lambda *a: 0\n    def relu_backward(d, x): pass\n"
    assert discover(source) == ["conv_output_size", "pad2d", "relu_backward"]


# --- hostile submissions -------------------------------------------------------

def test_raises_at_import(tmp_path):
    report = grade(_write(tmp_path, "raises.py", GOOD + "\nraise RuntimeError('boom')\n"))
    assert report["points"] == 3
    assert report["problems"] == [{"where": "module", "error": "RuntimeError: boom"}]


def test_infinite_loop_at_import_hits_the_time_limit(tmp_path):
    report = grade(_write(tmp_path, "loops.py", GOOD + "\nwhile True:\n    pass\n"), timeout=5, check_timeout=2)
    assert report["points"] == 3  # the functions defined before the loop are graded
    assert "timed out" in report["problems"][0]["error"]


def test_infinite_loop_that_ignores_the_alarm_is_killed(tmp_path):
    text = GOOD + "\nwhile True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
    report = grade(_write(tmp_path, "stubborn.py", text), timeout=3, check_timeout=1)
    assert report["timed_out"] and report["points"] == 0
    assert {e["status"] for e in report["exercises"]} == {"not run"}
    assert "ran out of time (3 s in all) while loading" in report["exercises"][0]["message"]


def test_infinite_loop_in_one_function_costs_only_that_exercise(tmp_path):
    text = GOOD + "\n\ndef dense_params(i, o, bias=True):\n    while True:\n        pass\n"
    report = grade(_write(tmp_path, "slow.py", text), timeout=10, check_timeout=2)
    assert _statuses(report) == {"dense_params": "timeout", "conv_output_size": "passed",
                                 "pad2d": "passed", "relu_backward": "passed"}


def test_prints_megabytes(tmp_path):
    text = GOOD + "\nfor _ in range(50_000):\n    print('x' * 100)\nimport os\nos.write(1, b'y' * 3_000_000)\n"
    report = grade(_write(tmp_path, "noisy.py", text))
    assert report["points"] == 3
    assert report["output_dropped_chars"] > 4_000_000
    assert len(report["output"]) <= 10_000
    assert "printed" in format_table(report)


def test_sys_exit_at_import_and_inside_a_function(tmp_path):
    text = GOOD + "\n\ndef dense_params(i, o, bias=True):\n    import sys\n    sys.exit(0)\n\nimport sys\nsys.exit(3)\n"
    report = grade(_write(tmp_path, "exits.py", text))
    assert report["problems"] == [{"where": "module", "error": "called sys.exit(3)"}]
    assert _statuses(report)["dense_params"] == "error"
    assert "called sys.exit(0)" in report["exercises"][0]["message"]
    assert report["points"] == 3


def test_os_exit_inside_a_function_keeps_earlier_results(tmp_path):
    text = GOOD + "\n\ndef im2col(x, fh, fw, stride=1, pad=0):\n    import os\n    os._exit(7)\n"
    report = grade(_write(tmp_path, "crash.py", text))
    assert _statuses(report) == {"conv_output_size": "passed", "pad2d": "passed", "im2col": "error",
                                 "relu_backward": "not run"}
    assert "exit code 7" in report["exercises"][2]["message"]
    assert report["points"] == 2


def test_os_exit_at_import(tmp_path):
    run = _cli("grade", str(_write(tmp_path, "gone.py", GOOD + "\nimport os\nos._exit(1)\n")), cwd=tmp_path)
    assert run.returncode == 0
    assert "grading gone.py: 0 of 3 points" in run.stdout
    assert "not graded: the submission's process ended (exit code 1; os._exit?) while loading" in run.stdout


def test_syntax_error_and_empty_submission(tmp_path):
    report = grade(_write(tmp_path, "typo.py", GOOD + "\ndef broken(:\n"))
    assert report["points"] == 0 and report["max_points"] == 3
    assert report["problems"][0]["error"].startswith("SyntaxError")
    empty = grade(_write(tmp_path, "empty.py", "x = 1\n"))
    assert empty["max_points"] == 0 and "no function named after an exercise" in empty["problems"][0]["error"]


@pytest.mark.parametrize("args,message", [
    (["grade", "nope.py"], "no such file"),
    (["grade", "notes.txt"], "must be a .py file or an .ipynb"),
    (["grade", "ok.py", "--only", "conv9d"], "no exercise named 'conv9d'"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_with_status_2(tmp_path, args, message):
    _write(tmp_path, "notes.txt", "hi")
    _write(tmp_path, "ok.py", GOOD)
    run = _cli(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr


def test_list_command_counts_exercises_and_mistakes(tmp_path):
    run = _cli("list", cwd=tmp_path)
    assert run.returncode == 0
    assert re.search(r"^18 exercises, \d+ diagnosed mistakes$", run.stdout, re.MULTILINE)


def test_a_cnnlib_py_beside_the_submission_does_not_replace_the_grader(tmp_path):
    _write(tmp_path, "cnnlib.py", "raise ImportError('this is not cnnlib')\n")
    report = grade(_write(tmp_path, "grace.py", GOOD))
    assert report["points"] == 3
