"""The grading command: good submissions, notebooks, buggy ones, class grading.

A buggy submission (raises, loops forever, prints megabytes, exits) must
cost only what it breaks: everything graded before still counts, and the
command itself completes with a table, a JSON report and exit status 0.
Deliberate cheating is tests/test_grader_attacks.py's subject.
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
from cnnlib.exercises._classroom import find_submissions
from cnnlib.exercises.grade import format_table, grade, select

THREE = ["conv_output_size", "pad2d", "relu_backward"]

GOOD = "import numpy as np\n\n" + "\n\n".join(
    textwrap.dedent(inspect.getsource(f)) for f in (sol.conv_output_size, sol.pad2d, sol.relu_backward)
)


def _write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def _statuses(report: dict) -> dict[str, str]:
    return {e["name"]: e["status"] for e in report["exercises"]}


def _cli(*args: str, cwd: Path, env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "cnnlib.exercises", *args], cwd=cwd,
                          capture_output=True, text=True, timeout=120, env=env)


def test_good_py_file_through_the_command_line(tmp_path):
    path = _write(tmp_path, "alice.py", GOOD + "\nprint('hello from alice')\n")
    run = _cli("grade", str(path), "--only", "ch3,relu_backward", "--json", str(tmp_path / "out.json"),
               "--seed", "7", cwd=tmp_path)
    assert run.returncode == 0, run.stderr
    assert "grading alice.py: 3 of 3 points" in run.stdout
    assert re.search(r"conv_output_size\s+3\s+passed\s+1/1\s+all 11 cases and 8 hidden ones passed", run.stdout)
    assert run.stdout.rstrip().endswith("hidden cases drawn with --seed 7\nreport written to " + str(tmp_path / "out.json"))
    report = json.loads((tmp_path / "out.json").read_text())
    assert _statuses(report) == {"conv_output_size": "passed", "pad2d": "passed", "relu_backward": "passed"}
    assert report["points"] == report["max_points"] == 3
    assert report["seed"] == 7 and report["sandbox"] is True
    assert "hello from alice" in report["output"]


def test_no_report_is_written_beside_the_submission(tmp_path):
    path = _write(tmp_path, "bob.py", GOOD)
    assert _cli("grade", str(path), "--only", "pad2d", cwd=tmp_path).returncode == 0
    assert sorted(p.name for p in tmp_path.iterdir()) == ["bob.py"]


def test_the_maximum_is_the_assignments_not_what_the_submission_defines(tmp_path):
    report = grade(_write(tmp_path, "one.py", GOOD), only=["pad2d", "dense_params"])
    assert (report["points"], report["max_points"]) == (1, 2)
    everything = grade(_write(tmp_path, "all.py", GOOD))  # no --only: the whole course
    assert (everything["points"], everything["max_points"]) == (3, 25)
    assert _statuses(everything)["im2col"] == "missing"


def test_the_same_seed_draws_the_same_hidden_cases(tmp_path):
    from cnnlib.exercises import by_name

    table = {repr((c.args, sorted(c.kwargs.items()))): sol.conv_output_size(*c.args, **c.kwargs)
             for c in by_name("conv_output_size").make_cases()}
    memorised = (f"TABLE = {table!r}\n\ndef conv_output_size(size, kernel_size, **kwargs):\n"
                 "    return TABLE.get(repr(((size, kernel_size), sorted(kwargs.items()))), 0)\n")
    path = _write(tmp_path, "memorised.py", memorised)
    first, again = (grade(path, only=["conv_output_size"], seed=11) for _ in range(2))
    other = grade(path, only=["conv_output_size"], seed=12)
    message = first["exercises"][0]["message"]
    assert message.startswith("check_conv_output_size: hidden case 1 of 8 failed: hidden sizes 1")
    assert message == again["exercises"][0]["message"]
    assert message != other["exercises"][0]["message"]


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
    report = grade(path, only=["im2col", "max_pool2d"])
    assert _statuses(report) == {"im2col": "passed", "max_pool2d": "passed"}
    assert report["problems"] == [{"where": "<cell 3>", "error": "NameError: name 'undefined_name' is not defined"},
                                  # the checker cell: cnnlib is not importable where submissions run
                                  {"where": "<cell 5>", "error": "ModuleNotFoundError: No module named 'cnnlib'"}]


def test_wrong_function_scores_zero_with_its_hint(tmp_path):
    wrong = GOOD.replace("(p, p), (p, p)", "(p, 0), (p, 0)")
    report = grade(_write(tmp_path, "dave.py", wrong), only=THREE)
    assert _statuses(report)["pad2d"] == "failed" and report["points"] == 2
    table = format_table(report)
    assert re.search(r"pad2d\s+3\s+failed\s+0/1\s+case 1/5: you added zeros on one side only", table)


def test_imported_functions_are_not_graded_as_the_learners(tmp_path):
    text = "from numpy import pad as pad2d\n"
    report = grade(_write(tmp_path, "eve.py", text), only=["pad2d"])
    assert _statuses(report) == {"pad2d": "missing"}
    assert "not a function defined in the submission (it comes from numpy)" in report["exercises"][0]["message"]


def test_only_selects_chapters_and_scores_missing_functions_zero(tmp_path):
    report = grade(_write(tmp_path, "frank.py", GOOD), only=["ch3", "dense_params"])
    assert _statuses(report) == {"conv_output_size": "passed", "pad2d": "passed", "dense_params": "missing"}
    assert (report["points"], report["max_points"]) == (2, 3)


def test_select_names_chapters_and_everything():
    assert select(["ch3", "check_relu_backward, pad2d"]) == ["conv_output_size", "pad2d", "relu_backward"]
    assert len(select(None)) == 25
    with pytest.raises(KeyError, match="no exercise named 'conv9d'"):
        select(["conv9d"])


# --- hostile submissions -------------------------------------------------------

def test_raises_at_import(tmp_path):
    report = grade(_write(tmp_path, "raises.py", GOOD + "\nraise RuntimeError('boom')\n"), only=THREE)
    assert report["points"] == 3
    assert report["problems"] == [{"where": "module", "error": "RuntimeError: boom"}]


def test_infinite_loop_at_import_hits_the_time_limit(tmp_path):
    report = grade(_write(tmp_path, "loops.py", GOOD + "\nwhile True:\n    pass\n"), only=THREE,
                   timeout=5, check_timeout=2)
    assert report["points"] == 3  # the functions defined before the loop are graded
    assert "timed out" in report["problems"][0]["error"]


def test_infinite_loop_that_ignores_the_alarm_is_killed(tmp_path):
    text = GOOD + "\nwhile True:\n    try:\n        while True:\n            pass\n    except BaseException:\n        pass\n"
    report = grade(_write(tmp_path, "stubborn.py", text), only=THREE, timeout=3, check_timeout=1)
    assert report["timed_out"] and report["points"] == 0
    assert {e["status"] for e in report["exercises"]} == {"not run"}
    assert "ran out of time (3 s in all) while loading" in report["exercises"][0]["message"]


def test_infinite_loop_in_one_function_costs_only_that_exercise(tmp_path):
    text = GOOD + "\n\ndef dense_params(i, o, bias=True):\n    while True:\n        pass\n"
    report = grade(_write(tmp_path, "slow.py", text), only=["dense_params"] + THREE, timeout=10, check_timeout=2)
    assert _statuses(report) == {"dense_params": "timeout", "conv_output_size": "passed",
                                 "pad2d": "passed", "relu_backward": "passed"}


def test_prints_megabytes(tmp_path):
    text = GOOD + "\nfor _ in range(50_000):\n    print('x' * 100)\nimport os\nos.write(1, b'y' * 3_000_000)\n"
    report = grade(_write(tmp_path, "noisy.py", text), only=THREE)
    assert report["points"] == 3
    assert report["output_dropped_chars"] > 4_000_000
    assert len(report["output"]) <= 10_000
    assert "printed" in format_table(report)


def test_sys_exit_at_import_and_inside_a_function(tmp_path):
    text = GOOD + "\n\ndef dense_params(i, o, bias=True):\n    import sys\n    sys.exit(0)\n\nimport sys\nsys.exit(3)\n"
    report = grade(_write(tmp_path, "exits.py", text), only=["dense_params"] + THREE)
    assert report["problems"] == [{"where": "module", "error": "called sys.exit(3)"}]
    assert _statuses(report)["dense_params"] == "failed"
    assert "your function raised SystemExit: called sys.exit(0)" in report["exercises"][0]["message"]
    assert report["points"] == 3


def test_os_exit_inside_a_function_keeps_earlier_results(tmp_path):
    text = GOOD + "\n\ndef im2col(x, fh, fw, stride=1, pad=0):\n    import os\n    os._exit(7)\n"
    report = grade(_write(tmp_path, "crash.py", text), only=["conv_output_size", "pad2d", "im2col", "relu_backward"])
    assert _statuses(report) == {"conv_output_size": "passed", "pad2d": "passed", "im2col": "error",
                                 "relu_backward": "not run"}
    assert "exit code 7" in report["exercises"][2]["message"]
    assert report["points"] == 2


def test_os_exit_at_import(tmp_path):
    run = _cli("grade", str(_write(tmp_path, "gone.py", GOOD + "\nimport os\nos._exit(1)\n")), "--only", "ch3,ch8",
               cwd=tmp_path)
    assert run.returncode == 0
    assert "grading gone.py: 0 of 4 points" in run.stdout
    assert "not graded: the submission's process ended (exit code 1; os._exit?) while loading" in run.stdout


def test_syntax_error_and_empty_submission(tmp_path):
    report = grade(_write(tmp_path, "typo.py", GOOD + "\ndef broken(:\n"), only=THREE)
    assert report["points"] == 0 and report["max_points"] == 3
    assert report["problems"][0]["error"].startswith("SyntaxError")
    empty = grade(_write(tmp_path, "empty.py", "x = 1\n"), only=THREE)
    assert (empty["points"], empty["max_points"]) == (0, 3)
    assert {e["message"] for e in empty["exercises"]} == {f"no function named {n} in the submission" for n in THREE}


@pytest.mark.parametrize("args,message", [
    (["grade", "nope.py"], "no such file"),
    (["grade", "readme.txt"], "must be a .py file or an .ipynb"),
    (["grade", "ok.py", "--only", "conv9d"], "no exercise named 'conv9d'"),
    (["frobnicate"], "invalid choice"),
])
def test_usage_errors_exit_with_status_2(tmp_path, args, message):
    _write(tmp_path, "readme.txt", "hi")
    _write(tmp_path, "ok.py", GOOD)
    run = _cli(*args, cwd=tmp_path)
    assert run.returncode == 2
    assert message in run.stderr


def test_list_command_counts_exercises_and_mistakes(tmp_path):
    run = _cli("list", cwd=tmp_path)
    assert run.returncode == 0
    assert re.search(r"^25 exercises, \d+ diagnosed mistakes$", run.stdout, re.MULTILINE)


def test_a_cnnlib_py_beside_the_submission_does_not_replace_the_grader(tmp_path):
    _write(tmp_path, "cnnlib.py", "raise ImportError('this is not cnnlib')\n")
    report = grade(_write(tmp_path, "grace.py", GOOD), only=THREE)
    assert report["points"] == 3


# --- the sandbox is required ------------------------------------------------------

def test_without_bubblewrap_the_command_refuses_unless_no_sandbox(tmp_path):
    path = _write(tmp_path, "ivy.py", GOOD)
    env = {"PATH": str(tmp_path), "HOME": str(tmp_path)}  # no bwrap on this PATH
    refused = _cli("grade", str(path), "--only", "pad2d", cwd=tmp_path, env=env)
    assert refused.returncode == 1
    assert "bubblewrap (bwrap) is not installed: install it with `sudo apt-get install bubblewrap`" in refused.stderr
    risky = _cli("grade", str(path), "--only", "pad2d", "--no-sandbox", cwd=tmp_path, env=env)
    assert risky.returncode == 0 and "grading ivy.py: 1 of 1 points" in risky.stdout
    assert risky.stderr.startswith("WARNING: --no-sandbox runs every submission as you")


# --- a class -----------------------------------------------------------------------

def _nbgrader_tree(root: Path) -> None:
    for student, text in (("alice", GOOD), ("bob", GOOD.replace("(p, p), (p, p)", "(p, 0), (p, 0)")),
                          ("=cmd|calc", "raise SystemExit\n")):
        folder = root / "submitted" / student / "hw1"
        folder.mkdir(parents=True)
        nb = nbformat.v4.new_notebook()
        nb.cells = [nbformat.v4.new_code_cell(text)]
        nbformat.write(nb, folder / "hw1.ipynb")
    (root / "submitted" / "alice" / "hw1" / "extra.py").write_text("def dense_params(i, o, bias=True):\n"
                                                                  "    return i * o + (o if bias else 0)\n")


def test_class_grading_from_nbgrader_layout_with_resume_and_force(tmp_path):
    _nbgrader_tree(tmp_path)
    out = tmp_path / "grades"
    assignment = _write(tmp_path, "hw1.txt", "# homework 1\npad2d, dense_params\nch8\n")
    args = ("grade", str(tmp_path / "submitted"), "--out", str(out), "--assignment", str(assignment),
            "--jobs", "2", "--seed", "3")
    first = _cli(*args, cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    assert "3 students: 3 graded, 0 already graded" in first.stdout
    rows = (out / "grades.csv").read_text().splitlines()
    assert rows == ["student,pad2d,dense_params,relu_backward,softmax_cross_entropy,total,max,status",
                    "'=cmd|calc,0,0,0,0,0,4,graded",
                    "alice,1,1,1,0,3,4,graded",
                    "bob,0,0,1,0,1,4,graded"]
    alice = json.loads((out / "alice.json").read_text())
    assert alice["student"] == "alice" and len(alice["submission"]) == 2 and alice["seed"] == 3
    assert sorted(p.name for p in out.iterdir()) == ["_cmd_calc.json", "alice.json", "bob.json", "grades.csv"]
    again = _cli(*args, cwd=tmp_path)
    assert "3 students: 0 graded, 3 already graded" in again.stdout
    assert (out / "grades.csv").read_text().splitlines() == rows
    forced = _cli(*args, "--force", cwd=tmp_path)
    assert "3 students: 3 graded, 0 already graded" in forced.stdout


def test_files_and_globs_name_students_by_file(tmp_path):
    for name in ("s1.py", "s2.py"):
        _write(tmp_path, name, GOOD)
    found = find_submissions([str(tmp_path / "s*.py"), str(tmp_path / "s1.py")])
    assert {k: [p.name for p in v] for k, v in found.items()} == {"s1": ["s1.py"], "s2": ["s2.py"]}


def test_libraries_are_importable_in_the_sandbox_only_where_no_exercise_forbids_them(tmp_path):
    text = ("import torch\n\ndef dense_params(in_features, out_features, bias=True):\n"
            "    return int(torch.tensor(in_features * out_features + (out_features if bias else 0)))\n")
    path = _write(tmp_path, "torchy.py", text)
    assert _statuses(grade(path, only=["dense_params"])) == {"dense_params": "passed"}  # counting: torch allowed
    both = grade(path, only=["dense_params", "pad2d"])  # pad2d forbids torch: not in the sandbox at all
    assert _statuses(both) == {"dense_params": "missing", "pad2d": "forbidden"}
    assert both["problems"] == [{"where": "module", "error": "ModuleNotFoundError: No module named 'torch'"}]
