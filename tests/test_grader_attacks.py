"""A dishonest student against the grading command: every attack must score 0.

Each test hands the grader a submission written to cheat or to harm, and
checks that it scores 0 (or exactly what its honest part earns), that the
grading ends (a generous hang guard, not a timing), that no process of it
is left running, and that nothing outside its sandbox changed: the
submission's folder, the grader's own files, the output folder, a canary
file. An honest right submission scores full marks, an honest wrong one 0
with its hint.
"""

from __future__ import annotations

import hashlib
import inspect
import json
import os
import socket
import textwrap
import threading
import time
from pathlib import Path

import numpy as np
import pytest

import cnnlib.exercises
from cnnlib.exercises import solutions as sol
from cnnlib.exercises._classroom import grade_class
from cnnlib.exercises._report import format_table
from cnnlib.exercises._sandbox import Limits
from cnnlib.exercises.grade import grade


LIMITS = Limits(timeout=6, check_timeout=3)
HANG_GUARD = 40  # seconds: far above the 6 s limit; only a grader that hangs gets near it
GRADER_FILES = sorted(Path(cnnlib.exercises.__file__).parent.glob("*.py"))
PAD2D = textwrap.dedent(inspect.getsource(sol.pad2d))


def _digest(paths) -> str:
    h = hashlib.sha256()
    for p in paths:
        h.update(p.read_bytes())
    return h.hexdigest()


def _sandbox_processes() -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                if b"/sandbox/harness.py" in (entry / "cmdline").read_bytes():
                    found.append(int(entry.name))
            except OSError:
                pass
    return found


@pytest.fixture
def attack(tmp_path):
    """Grade `source` for `only`; check the aftermath; return the report."""
    canary = tmp_path / "canary.txt"
    canary.write_text("untouched")
    before = _digest(GRADER_FILES)

    def run(source: str, only: str = "pad2d", limits: Limits = LIMITS) -> dict:
        folder = tmp_path / "student"
        folder.mkdir(exist_ok=True)
        path = folder / "attack.py"
        path.write_text("import numpy as np\n" + source.replace("CANARY", str(canary)), encoding="utf-8")
        result: dict = {}
        worker = threading.Thread(target=lambda: result.update(grade(path, only=[only], limits=limits)))
        worker.start()
        worker.join(HANG_GUARD)
        assert not worker.is_alive(), "the grader hung"
        time.sleep(0.2)
        assert _sandbox_processes() == [], "a process of the submission outlived the grading"
        assert sorted(p.name for p in folder.iterdir()) == ["attack.py"], "something was written beside it"
        assert canary.read_text() == "untouched"
        assert _digest(GRADER_FILES) == before, "the grader's files changed"
        return result

    return run


def _status(report: dict, name: str = "pad2d") -> str:
    return next(e["status"] for e in report["exercises"] if e["name"] == name)


# --- honest submissions ----------------------------------------------------------

def test_honest_right_submission_scores_full_marks(attack):
    report = attack(PAD2D)
    assert (report["points"], report["max_points"]) == (1, 1)
    assert "all 5 cases and 5 hidden ones passed" in report["exercises"][0]["message"]


def test_honest_wrong_submission_scores_zero_with_its_hint(attack):
    report = attack(PAD2D.replace("(p, p), (p, p)", "(p, 0), (p, 0)"))
    assert report["points"] == 0 and _status(report) == "failed"
    assert "hint: you added zeros on one side only (top and left)" in report["exercises"][0]["message"]


# --- the attacks of the issue ------------------------------------------------------

def test_appending_passed_lines_to_a_results_file(attack):
    source = """
import json, os
line = json.dumps({"event": "exercise", "name": "pad2d", "status": "passed"}) + "\\n"
for fd in range(3, 20):  # every descriptor it might have, the results channel among them
    try:
        os.write(fd, line.encode() * 50)
    except OSError:
        pass
for name in ("results.jsonl", "/tmp/results.jsonl", "../results.jsonl", "CANARY"):
    try:
        with open(name, "a") as f:
            f.write(line)
    except OSError:
        pass
def pad2d(x, padding):
    return x
"""
    report = attack(source)
    assert report["points"] == 0 and _status(report) in ("failed", "not run")


def test_replacing_the_checkers_and_numpys_comparisons(attack):
    source = """
import sys, types
np.allclose = np.array_equal = lambda *a, **k: True
np.testing.assert_allclose = lambda *a, **k: None
fake = types.ModuleType("cnnlib.exercises")
fake.check_pad2d = lambda fn: print("check_pad2d: all 5 cases passed")
sys.modules["cnnlib"] = sys.modules["cnnlib.exercises"] = fake
def pad2d(x, padding):
    return x
"""
    report = attack(source)
    assert report["points"] == 0 and _status(report) == "failed"


def test_reading_the_expected_answer_from_a_stack_frame(attack):
    source = """
import sys
def pad2d(x, padding):
    frame = sys._getframe(1)
    while frame is not None:
        for key in ("expected", "reference", "want"):
            if key in frame.f_locals:
                return frame.f_locals[key]
        frame = frame.f_back
    return x
"""
    report = attack(source)
    assert report["points"] == 0 and _status(report) == "failed"


def test_finding_the_reference_solution_through_gc(attack):
    source = """
import gc
def pad2d(x, padding):
    for obj in gc.get_objects():
        if callable(obj) and getattr(obj, "__name__", "") == "pad2d" and obj is not pad2d:
            return obj(x, padding)
    try:  # a name built at run time: the static scan cannot see it, the sandbox has no cnnlib
        reference = __import__("cnn" + "lib.exercises.solutions", fromlist=["pad2d"]).pad2d
        return reference(x, padding)
    except ImportError:
        return x
"""
    report = attack(source)
    assert report["points"] == 0 and _status(report) == "failed"


def test_hard_coded_answers_of_the_public_cases_fail_the_hidden_ones(attack):
    from cnnlib.exercises import by_name

    table = {hashlib.sha256(np.ascontiguousarray(c.args[0]).tobytes()).hexdigest(): sol.pad2d(*c.args).tolist()
             for c in by_name("pad2d").make_cases()}
    source = f"""
import hashlib
TABLE = {json.dumps(table)}
def pad2d(x, padding):
    key = hashlib.sha256(np.ascontiguousarray(x).tobytes()).hexdigest()
    return np.array(TABLE[key]) if key in TABLE else np.zeros((1,))
"""
    report = attack(source)
    message = report["exercises"][0]["message"]
    assert report["points"] == 0 and "hidden case 1 of 5 failed" in message  # every public case passed


def test_a_setsid_daemon_that_outlives_grading_cannot_rewrite_later_results(tmp_path):
    out = tmp_path / "grades"
    daemon = f"""
import os, time, json
def pad2d(x, padding):
    return x
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for _ in range(600):
            for name in ("bob.json", "grades.csv"):
                try:
                    with open({str(out)!r} + "/" + name, "w") as f:
                        json.dump({{"points": 99}}, f)
                except OSError:
                    pass
            time.sleep(0.05)
    os._exit(0)
"""
    (tmp_path / "alice.py").write_text("import numpy as np\n" + daemon)
    (tmp_path / "bob.py").write_text("import numpy as np\n" + PAD2D)
    grade_class([str(tmp_path / "alice.py"), str(tmp_path / "bob.py")], out, ["pad2d"], jobs=1, limits=LIMITS)
    time.sleep(1.0)  # the daemon, were it alive, would have rewritten bob's report by now
    assert _sandbox_processes() == []
    assert json.loads((out / "bob.json").read_text())["points"] == 1
    assert (out / "grades.csv").read_text().splitlines()[1:] == ["alice,0,0,1,graded", "bob,1,1,1,graded"]


def test_writing_the_installed_graders_files(attack):
    targets = [str(p) for p in GRADER_FILES] + [str(Path(np.__file__))]
    source = f"""
def pad2d(x, padding):
    for target in {targets!r}:
        try:
            with open(target, "a") as f:
                f.write("\\nraise SystemExit  # owned\\n")
        except OSError:
            pass
    return x
"""
    report = attack(source)
    assert report["points"] == 0


def test_the_instructors_environment_never_reaches_the_report(attack, monkeypatch):
    monkeypatch.setenv("INSTRUCTOR_TOKEN", "tok-8c1f-secret")
    source = """
import os
print(dict(os.environ))
for pid in os.listdir("/proc"):
    try:
        print(open(f"/proc/{pid}/environ").read())
    except OSError:
        pass
def pad2d(x, padding):
    raise RuntimeError(str(dict(os.environ)))
"""
    report = attack(source)
    assert "tok-8c1f-secret" not in json.dumps(report)
    assert "INSTRUCTOR_TOKEN" not in json.dumps(report)
    assert "'HOME': '/tmp/work'" in report["output"]  # it printed, and what it saw is the sandbox's own


def test_killing_the_graders_process(attack):
    source = """
import os, signal
for target in (os.getppid(), 1, -1, 0):
    try:
        os.kill(target, signal.SIGKILL)
    except OSError:
        pass
def pad2d(x, padding):
    return x
"""
    report = attack(source)
    assert report["points"] == 0 and _status(report) == "not run"
    assert os.getpid() > 0  # still here to check


def test_a_fifo_where_the_report_goes_does_not_hang_the_grader(tmp_path):
    out = tmp_path / "grades"
    out.mkdir()
    os.mkfifo(out / "carol.json")  # planted where carol's report will be written
    os.mkfifo(out / "grades.csv")
    (tmp_path / "carol.py").write_text("import numpy as np\n" + PAD2D)
    worker = threading.Thread(target=grade_class, args=([str(tmp_path / "carol.py")], out, ["pad2d"]),
                              kwargs={"limits": LIMITS})
    worker.start()
    worker.join(HANG_GUARD)
    assert not worker.is_alive()
    assert json.loads((out / "carol.json").read_text())["points"] == 1
    assert (out / "grades.csv").read_text().splitlines() == ["student,pad2d,total,max,status", "carol,1,1,1,graded"]


# --- attacks of our own --------------------------------------------------------------

def test_huge_outputs_and_printing(attack):
    source = """
import os
os.write(1, b"y" * 3_000_000)
def pad2d(x, padding):
    return np.zeros((2000, 2000))  # 32 MB, over the limit of one result
"""
    report = attack(source)
    assert report["points"] == 0 and "array_too_large (shape (2000, 2000), 32,000,000 bytes)" in report["exercises"][0]["message"]
    assert len(report["output"]) <= 10_000 and report["output_dropped_chars"] > 2_900_000


@pytest.mark.parametrize("result", ["np.full(np.pad(x, padding).shape, np.nan)",
                                    "np.array([object()] * 4, dtype=object)",
                                    "np.array(['a', 'b'])"])
def test_nan_and_object_arrays(attack, result):
    report = attack(f"def pad2d(x, padding):\n    return {result}\n")
    assert report["points"] == 0 and _status(report) == "failed"


def test_fork_bomb(attack):
    source = """
import os
def pad2d(x, padding):
    while True:
        try:
            os.fork()
        except OSError:
            pass
"""
    report = attack(source)
    assert report["points"] == 0 and _status(report) in ("timeout", "error")


def test_memory_bomb_and_disk_filling(attack):
    source = """
def pad2d(x, padding):
    try:
        with open("/tmp/work/fill", "wb") as f:
            f.write(b"z" * (200 << 20))
    except OSError:
        pass
    hog = bytearray(8 << 30)
    return x
"""
    report = attack(source)
    assert report["points"] == 0 and "MemoryError" in report["exercises"][0]["message"]


def test_infinite_loop_that_ignores_every_signal(attack):
    source = """
import signal
for sig in (signal.SIGALRM, signal.SIGTERM, signal.SIGINT, signal.SIGXCPU):
    signal.signal(sig, signal.SIG_IGN)
signal.setitimer = lambda *a: None
def pad2d(x, padding):
    while True:
        pass
"""
    report = attack(source, limits=Limits(timeout=4, check_timeout=2))
    assert report["points"] == 0 and report["timed_out"] and _status(report) == "timeout"


def test_symlinks_and_paths_outside_the_sandbox(attack, tmp_path):
    secret = tmp_path / "other-student.py"
    secret.write_text("def pad2d(x, padding): return 'the answer of another student'")
    source = f"""
import os
seen = []
for target in ({str(secret)!r}, "/etc/shadow", "/root/.ssh", {str(Path.cwd())!r}, "CANARY"):
    # looked up before the write: writing through a dangling link creates the
    # file in the sandbox's own /tmp when the repository lives under /tmp
    seen.append(os.path.exists(target))
    try:
        os.symlink(target, "/tmp/work/link")
        with open("/tmp/work/link", "a") as f:
            f.write("x")
    except OSError as exc:
        seen.append(type(exc).__name__)
    finally:
        if os.path.islink("/tmp/work/link"):
            os.unlink("/tmp/work/link")
print(seen)
def pad2d(x, padding):
    return x
"""
    report = attack(source)
    assert report["points"] == 0
    assert "True" not in report["output"]  # not one of those paths exists inside the sandbox


def test_reading_proc_of_the_grader(attack):
    source = """
import os
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print("pids", pids, "parent", os.getppid())
def pad2d(x, padding):
    return x
"""
    report = attack(source)
    line = next(t for t in report["output"].splitlines() if t.startswith("pids"))
    assert str(os.getpid()) not in line.split("parent")[0].split(", ") or os.getpid() < 4
    assert max(int(p) for p in line.split("[")[1].split("]")[0].split(", ")) < 10  # its own namespace only


def test_no_network(attack):
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(1)
    server.settimeout(0.1)
    port = server.getsockname()[1]
    source = f"""
import socket
try:
    socket.create_connection(("127.0.0.1", {port}), timeout=1)
    print("connected")
except OSError as exc:
    print("no network:", exc)
def pad2d(x, padding):
    return x
"""
    report = attack(source)
    with pytest.raises(socket.timeout):
        server.accept()
    server.close()
    assert "no network" in report["output"] and "connected" not in report["output"].replace("no network", "")


def test_forbidden_libraries_are_reported_and_not_importable(attack):
    static = attack("import scipy.signal\n" + PAD2D)
    assert static["points"] == 0 and _status(static) == "forbidden"
    assert "imports scipy (module, line 2)" in static["exercises"][0]["message"]
    dynamic = attack("import importlib\nmod = 'tor' + 'ch'\n"
                     "def pad2d(x, padding):\n    importlib.import_module(mod)\n    return x\n")
    assert "ModuleNotFoundError: No module named 'torch'" in dynamic["exercises"][0]["message"]


def test_garbage_on_the_results_channel(attack):
    source = """
import os
def pad2d(x, padding):
    for fd in range(3, 10):
        try:
            os.write(fd, b"\\x00\\x00\\x00\\x05[1,2]" + b"\\xff" * 64)
        except OSError:
            pass
    return x
"""
    report = attack(source)
    assert report["points"] == 0


def test_control_characters_and_bad_unicode_are_escaped_in_the_terminal(attack):
    source = """
import os
os.write(1, b"\\xff\\xfe bad bytes\\n")
def pad2d(x, padding):
    raise ValueError("\\x1b[2J\\x1b[32mALL PASSED\\r")
"""
    report = attack(source)
    table = format_table(report)
    assert "\x1b" not in table and "\r" not in table and "\\x1b[2J" in table
    assert "\ufffd" in report["output"]


def test_the_repository_and_the_solutions_are_not_there_to_import_or_read(attack):
    repo = Path(cnnlib.__file__).resolve().parents[1]
    source = f"""
import os, sys
sys.path.insert(0, {str(repo)!r})
print("listing", os.path.exists({str(repo)!r}), os.path.exists({str(Path(sol.__file__))!r}))
def pad2d(x, padding):
    import cnnlib.exercises.solutions as s
    return s.pad2d(x, padding)
""".replace("import cnnlib.exercises.solutions as s", "s = __import__('cnn' + 'lib.exercises.solutions', fromlist=['x'])")
    report = attack(source)
    assert "listing False False" in report["output"]
    assert report["points"] == 0 and "No module named 'cnnlib'" in report["exercises"][0]["message"]


def test_a_fork_bomb_does_not_starve_the_student_graded_beside_it(tmp_path):
    (tmp_path / "a_bomb.py").write_text("import os\ndef pad2d(x, padding):\n    while True:\n        try:\n"
                                        "            os.fork()\n        except OSError:\n            pass\n")
    for name in ("b_one.py", "b_two.py"):
        (tmp_path / name).write_text("import numpy as np\n" + PAD2D)
    out = tmp_path / "grades"
    grade_class([str(tmp_path / "*.py")], out, ["pad2d"], jobs=2, limits=LIMITS)
    assert _sandbox_processes() == []
    assert (out / "grades.csv").read_text().splitlines()[1:] == ["a_bomb,0,0,1,graded", "b_one,1,1,1,graded",
                                                                 "b_two,1,1,1,graded"]
