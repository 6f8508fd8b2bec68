"""A Gradescope autograder: ``python -m cnnlib.exercises gradescope --only NAMES --out autograder.zip``.

The zip holds what Gradescope asks for: ``setup.sh`` (run once when the
image is built: Python packages pinned to the versions of this machine and
bubblewrap), ``run_autograder`` (run for each submission) and, beside them,
the ``cnnlib`` package and ``assignment.txt``. ``run_autograder`` grades
every ``.py`` and ``.ipynb`` file in ``/autograder/submission`` as one
submission and writes ``/autograder/results/results.json`` in Gradescope's
format: a test per exercise with its score, maximum and message. It uses
the bubblewrap sandbox when the container allows it and says so in the
output; otherwise Gradescope's own container is the only isolation.

``python -m cnnlib.exercises._gradescope ROOT`` is the step run_autograder
runs (ROOT is ``/autograder``, or a copy of that tree for a test).
"""

from __future__ import annotations

import importlib.metadata
import json
import subprocess
import sys
import zipfile
from pathlib import Path

from ._report import write_atomic
from ._sandbox import Limits, bwrap_path

__all__ = ["build", "results_json", "main"]

PACKAGES = ("numpy", "numba", "matplotlib", "tqdm")

RUN_AUTOGRADER = """#!/usr/bin/env bash
# Gradescope runs this for every submission; AUTOGRADER_ROOT is for testing it elsewhere.
set -euo pipefail
ROOT="${AUTOGRADER_ROOT:-/autograder}"
PYTHONPATH="$ROOT/source" exec "${PYTHON:-python3}" -m cnnlib.exercises._gradescope "$ROOT"
"""


def _setup_sh() -> str:
    pins = " ".join(f"{p}=={importlib.metadata.version(p)}" for p in PACKAGES)
    return ("#!/usr/bin/env bash\n# Gradescope runs this once, when it builds the autograder's image.\n"
            "set -euo pipefail\napt-get update -qq\n"
            "DEBIAN_FRONTEND=noninteractive apt-get install -y -qq python3 python3-pip bubblewrap\n"
            f"python3 -m pip install --break-system-packages {pins}\n")


def build(out: Path, names: list[str], limits: Limits, seed: int | None = None) -> None:
    """Write the autograder zip for the exercises `names`."""
    package = Path(__file__).resolve().parents[1]
    settings = {"assignment": names, "timeout": limits.timeout, "check_timeout": limits.check_timeout,
                "memory": limits.memory, "seed": seed}
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as z:
        for name, text in (("setup.sh", _setup_sh()), ("run_autograder", RUN_AUTOGRADER)):
            info = zipfile.ZipInfo(name)
            info.external_attr = 0o755 << 16
            z.writestr(info, text)
        z.writestr("assignment.txt", "\n".join(names) + "\n")
        z.writestr("settings.json", json.dumps(settings, indent=2) + "\n")
        for path in sorted(package.rglob("*.py")):
            z.write(path, str(path.relative_to(package.parent)))


def results_json(report: dict, sandboxed: bool) -> dict:
    """Gradescope's results.json for one report."""
    tests = [{"name": f"{e['name']} (chapter {e['chapter']})", "score": e["points"], "max_score": e["max_points"],
              "status": "passed" if e["status"] == "passed" else "failed", "output": e.get("message") or ""}
             for e in report["exercises"]]
    notes = [f"{p['where']}: {p['error']}" for p in report["problems"]]
    how = "in a bubblewrap sandbox" if sandboxed else "without bubblewrap (the container is the only isolation)"
    output = "\n".join([f"Graded {how}; hidden cases drawn with --seed {report['seed']}."] + notes)
    return {"score": report["points"], "max_score": report["max_points"], "output": output, "tests": tests}


def _sandbox_works() -> bool:
    if bwrap_path() is None:
        return False
    probe = subprocess.run([bwrap_path(), "--ro-bind", "/", "/", "--unshare-pid", "--unshare-net", "true"],
                           capture_output=True, timeout=30)
    return probe.returncode == 0


def main(argv: list[str]) -> int:
    from .grade import grade

    root = Path(argv[0])
    settings = json.loads((root / "source" / "settings.json").read_text(encoding="utf-8"))
    files = sorted(p for p in (root / "submission").rglob("*") if p.suffix in (".py", ".ipynb") and p.is_file())
    sandboxed = _sandbox_works()
    limits = Limits(timeout=settings["timeout"], check_timeout=settings["check_timeout"], memory=settings["memory"])
    if files:
        report = grade(files, names=settings["assignment"], seed=settings["seed"], limits=limits, sandbox=sandboxed)
        results = results_json(report, sandboxed)
    else:
        results = {"score": 0, "output": "no .py or .ipynb file in the submission", "tests": []}
    (root / "results").mkdir(parents=True, exist_ok=True)
    write_atomic(root / "results" / "results.json", json.dumps(results, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
