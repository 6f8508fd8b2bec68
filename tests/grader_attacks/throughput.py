"""Time the class grading of generated submissions (not a test: run it by hand).

    python tests/grader_attacks/throughput.py [N] [JOBS]

Writes N submissions (default 100) to a temporary folder, a quarter each
right, wrong, crashing (raises at import, or os._exit in a function) and
looping (a function that never returns), grades them with
``grade DIR --only pad2d,relu_backward,conv_output_size --out ... --jobs JOBS``
and prints the wall time. Loops cost their --check-timeout (here 2 s).
"""

from __future__ import annotations

import inspect
import subprocess
import sys
import tempfile
import textwrap
import time
from pathlib import Path

from cnnlib.exercises import solutions as sol

RIGHT = "import numpy as np\n\n" + "\n\n".join(textwrap.dedent(inspect.getsource(f)) for f in
                                               (sol.pad2d, sol.relu_backward, sol.conv_output_size))
KINDS = {
    "right": RIGHT,
    "wrong": RIGHT.replace("(p, p), (p, p)", "(p, 0), (p, 0)").replace("x > 0", "x >= 0"),
    "crashing": RIGHT + "\nimport os\n\ndef relu_backward(dout, x):\n    os._exit(3)\n\nraise RuntimeError('bug')\n",
    "looping": RIGHT + "\n\ndef pad2d(x, padding):\n    while True:\n        pass\n",
}


def main(n: int = 100, jobs: int = 2) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "class"
        folder.mkdir()
        kinds = list(KINDS)
        for i in range(n):
            kind = kinds[i % len(kinds)]
            (folder / f"s{i:03d}_{kind}.py").write_text(KINDS[kind])
        start = time.perf_counter()
        run = subprocess.run([sys.executable, "-m", "cnnlib.exercises", "grade", str(folder), "--only",
                              "pad2d,relu_backward,conv_output_size", "--out", str(Path(tmp) / "out"),
                              "--jobs", str(jobs), "--timeout", "10", "--check-timeout", "2"],
                             capture_output=True, text=True)
        seconds = time.perf_counter() - start
        rows = (Path(tmp) / "out" / "grades.csv").read_text().splitlines()[1:]
        totals = {}
        for row in rows:
            kind = row.split(",")[0].split("_")[1]
            totals.setdefault(kind, set()).add(row.split(",")[4])
        print(run.stdout.splitlines()[-1])
        print(f"{n} submissions, --jobs {jobs}: {seconds:.1f} s ({seconds / n:.2f} s each); totals by kind: "
              f"{ {k: sorted(v) for k, v in totals.items()} }")


if __name__ == "__main__":
    main(*(int(a) for a in sys.argv[1:3]))
