"""The graders instructors already use, run for real on the recipes of book/instructors.md.

otter-grader 7.0.0 (``otter check``; ``otter generate`` then ``otter run``),
nbgrader 0.9.6 (``generate_assignment``, ``autograde`` and ``export`` on a
two-student course) and the Gradescope autograder this package builds, run
on a simulated ``/autograder`` tree. Both graders come from
.ci/requirements-grading.txt, which .ci/setup-env installs.
"""

from __future__ import annotations

import csv
import json
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import nbformat

GUIDE = Path(__file__).resolve().parents[1] / "book" / "instructors.md"
BIN = Path(sys.executable).parent
RIGHT = "import numpy as np\n\ndef pad2d(x, padding):\n    p = padding\n    return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])\n"
WRONG = RIGHT.replace("(p, p), (p, p)", "(p, 0), (p, 0)")


def _block_after(marker: str) -> str:
    match = re.search(re.escape(marker) + r"\n```[a-z]*\n(.*?)\n```", GUIDE.read_text(encoding="utf-8"), re.DOTALL)
    assert match, f"no fenced block after {marker!r}"
    return match.group(1) + "\n"


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    run = subprocess.run([str(BIN / args[0]), *args[1:]], cwd=cwd, capture_output=True, text=True, timeout=300)
    return run


def _notebook(path: Path, *sources: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(s) for s in sources]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_otter_check_and_run_with_the_guides_test_file(tmp_path):
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "q1.py").write_text(_block_after("<!-- otter-test-file -->"))
    (tmp_path / "right.py").write_text(RIGHT)
    (tmp_path / "wrong.py").write_text(WRONG)
    right = _run("otter", "check", "right.py", "-q", "q1", "-t", "tests", cwd=tmp_path)
    assert "All tests passed!" in right.stdout, right.stdout + right.stderr
    wrong = _run("otter", "check", "wrong.py", "-q", "q1", "-t", "tests", cwd=tmp_path)
    assert "hint: you added zeros on one side only (top and left)" in wrong.stdout
    assert "All tests passed!" not in wrong.stdout

    generated = _run("otter", "generate", "-t", "tests", cwd=tmp_path)
    assert (tmp_path / "autograder.zip").is_file(), generated.stderr
    scores = {}
    for name, source in (("right", RIGHT), ("wrong", WRONG)):
        _notebook(tmp_path / f"{name}.ipynb", "import otter\ngrader = otter.Notebook()", source, 'grader.check("q1")')
        (tmp_path / name).mkdir()
        _run("otter", "run", "-a", "autograder.zip", "-o", name, f"{name}.ipynb", cwd=tmp_path)
        results = json.loads((tmp_path / name / "results.json").read_text())
        scores[name] = next((t["score"], t["max_score"]) for t in results["tests"] if t["name"] == "q1")
    assert scores == {"right": (2.0, 2.0), "wrong": (0.0, 2.0)}


def test_nbgrader_autograde_and_export_on_a_two_student_course(tmp_path):
    (tmp_path / "nbgrader_config.py").write_text('c = get_config()\nc.CourseDirectory.course_id = "cnn"\n')
    answer = nbformat.v4.new_code_cell("import numpy as np\n\n" + _block_after("<!-- nbgrader-answer-cell -->"))
    answer.metadata["nbgrader"] = {"grade": False, "grade_id": "pad2d", "locked": False, "schema_version": 3,
                                   "solution": True, "task": False}
    tests = nbformat.v4.new_code_cell(_block_after("<!-- nbgrader-test-cell -->"))
    tests.metadata["nbgrader"] = {"grade": True, "grade_id": "test_pad2d", "locked": True, "points": 2,
                                  "schema_version": 3, "solution": False, "task": False}
    nb = nbformat.v4.new_notebook(cells=[answer, tests])
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    (tmp_path / "source" / "hw1").mkdir(parents=True)
    nbformat.write(nb, tmp_path / "source" / "hw1" / "hw1.ipynb")
    generated = _run("nbgrader", "generate_assignment", "hw1", "--force", cwd=tmp_path)
    assert generated.returncode == 0, generated.stderr
    released = nbformat.read(tmp_path / "release" / "hw1" / "hw1.ipynb", 4)
    stub = "# YOUR CODE HERE\n    raise NotImplementedError()"
    assert stub in released.cells[0].source
    body = "p = padding\n    return np.pad(x, [(0, 0), (0, 0), (p, p), (p, p)])"
    for student, code in (("alice", body), ("bob", body.replace("(p, p), (p, p)", "(p, 0), (p, 0)"))):
        released.cells[0].source = released.cells[0].source.replace(stub, code)
        (tmp_path / "submitted" / student / "hw1").mkdir(parents=True)
        nbformat.write(released, tmp_path / "submitted" / student / "hw1" / "hw1.ipynb")
        released = nbformat.read(tmp_path / "release" / "hw1" / "hw1.ipynb", 4)
        _run("nbgrader", "db", "student", "add", student, cwd=tmp_path)
    autograded = _run("nbgrader", "autograde", "hw1", cwd=tmp_path)
    assert autograded.returncode == 0, autograded.stderr
    feedback = nbformat.read(tmp_path / "autograded" / "bob" / "hw1" / "hw1.ipynb", 4)
    assert "you added zeros on one side only" in json.dumps(feedback.cells[1].outputs)
    assert _run("nbgrader", "export", cwd=tmp_path).returncode == 0
    rows = {r["student_id"]: (r["score"], r["max_score"]) for r in csv.DictReader(open(tmp_path / "grades.csv"))}
    assert rows == {"alice": ("2.0", "2.0"), "bob": ("0.0", "2.0")}

    # the same submitted/ folder through our own class grading, in its sandbox
    ours = subprocess.run([sys.executable, "-m", "cnnlib.exercises", "grade", "submitted", "--only", "pad2d",
                           "--out", "ours", "--jobs", "2"], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert ours.returncode == 0, ours.stderr
    assert (tmp_path / "ours" / "grades.csv").read_text().splitlines()[1:] == ["alice,1,1,1,graded",
                                                                              "bob,0,0,1,graded"]


def test_gradescope_autograder_on_a_simulated_autograder_tree(tmp_path):
    built = subprocess.run([sys.executable, "-m", "cnnlib.exercises", "gradescope", "--only", "pad2d,relu_backward",
                            "--out", str(tmp_path / "autograder.zip"), "--timeout", "20"],
                           capture_output=True, text=True, timeout=60)
    assert built.returncode == 0, built.stderr
    root = tmp_path / "autograder"
    with zipfile.ZipFile(tmp_path / "autograder.zip") as z:
        names = z.namelist()
        z.extractall(root / "source")
    assert {"setup.sh", "run_autograder", "assignment.txt", "cnnlib/exercises/_harness.py"} <= set(names)
    setup = (root / "source" / "setup.sh").read_text()
    assert "apt-get install -y -qq python3 python3-pip bubblewrap" in setup and "numpy==" in setup
    assert subprocess.run(["bash", "-n", str(root / "source" / "setup.sh")]).returncode == 0
    (root / "submission").mkdir()
    (root / "submission" / "hw.py").write_text(RIGHT + "\ndef relu_backward(dout, x):\n    return dout * (x >= 0)\n")
    env = {"PATH": "/usr/bin:/bin", "AUTOGRADER_ROOT": str(root), "PYTHON": sys.executable, "HOME": str(tmp_path)}
    ran = subprocess.run(["bash", str(root / "source" / "run_autograder")], env=env, capture_output=True, text=True,
                         timeout=120)
    assert ran.returncode == 0, ran.stderr
    results = json.loads((root / "results" / "results.json").read_text())
    assert (results["score"], results["max_score"]) == (1, 2)
    assert [(t["name"], t["score"], t["max_score"], t["status"]) for t in results["tests"]] == [
        ("pad2d (chapter 3)", 1, 1, "passed"), ("relu_backward (chapter 8)", 0, 1, "failed")]
    assert "use x > 0, not x >= 0" in results["tests"][1]["output"]
    assert results["output"].startswith("Graded in a bubblewrap sandbox; hidden cases drawn with --seed ")
