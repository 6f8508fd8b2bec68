"""Race cnnlib's backends against torch on the course's layers; print a table, write JSON.

Usage (from the repository root)::

    .venv/bin/python benchmarks/run.py [--quick] [--json PATH] [--only NAME ...]

Every workload is timed for torch, the NumPy im2col baseline and each
cnnlib backend in the same run, in interleaved rounds (see
``benchmarks/timing.py``); the table shows medians of forward + backward
and the ratio cnnlib-numba / torch (below 1: cnnlib is faster).

Process settings. Some defaults of this machine distort timings, so the
script re-executes itself with them fixed, for every contender alike,
unless they are already set (or ``--no-env`` is given):

* ``OPENBLAS_THREAD_TIMEOUT=4``: after a NumPy matmul, OpenBLAS threads
  otherwise busy-wait for ~0.1 s and steal the second core from whatever
  runs next (numba's or torch's threads).
* ``MALLOC_MMAP_THRESHOLD_`` / ``MALLOC_TRIM_THRESHOLD_``: glibc otherwise
  returns large buffers to the OS on free, so every call page-faults its
  output arrays back in.
* ``OMP_WAIT_POLICY=passive`` (as in CI): torch and numba each run their
  own OpenMP threads; with the default policy the idle threads of one keep
  spinning while the other works, and interleaved timing turns that into
  noise. ``--no-env`` (with the other variables set by hand) measures
  with OpenMP's default policy instead.

Threads: torch 2, numba 2 (the machine has 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

ENV_DEFAULTS = {
    "OPENBLAS_THREAD_TIMEOUT": "4",
    "MALLOC_MMAP_THRESHOLD_": str(32 * 1024 * 1024),  # glibc's maximum
    "MALLOC_TRIM_THRESHOLD_": str(1024 * 1024 * 1024),
    "OMP_WAIT_POLICY": "passive",  # as in CI (.ci/setup-env)
}
HERE = Path(__file__).resolve().parent


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no naive backend, no compile-time measurement")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json", help="where to write the results")
    parser.add_argument("--only", nargs="*", default=None, help="run only workloads whose name contains one of these")
    parser.add_argument("--threads", type=int, default=2, help="torch and numba threads (default 2)")
    parser.add_argument("--no-env", action="store_true", help="keep the process environment as it is")
    return parser.parse_args(argv)


def _ensure_environment(args) -> None:
    """Re-execute with ENV_DEFAULTS set: glibc and OpenBLAS read them only at start-up."""
    missing = {k: v for k, v in ENV_DEFAULTS.items() if k not in os.environ}
    if args.no_env or not missing:
        return
    os.environ.update(missing)
    os.execv(sys.executable, [sys.executable, str(Path(__file__).resolve()), *sys.argv[1:]])


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    _ensure_environment(args)
    sys.path.insert(0, str(HERE))  # run as a script: make the sibling modules importable

    import numba
    import torch

    import layers
    import timing

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    backends = ["numpy-im2col", "cnnlib-numba"] + ([] if args.quick else ["cnnlib-naive"])
    rounds, min_seconds = (5, 0.5) if args.quick else (15, 3.0)

    report = {"machine_before": timing.machine_report(), "settings": {"rounds": rounds, "min_seconds": min_seconds,
                                                                      "quick": args.quick, "threads": args.threads}}
    if not args.quick:
        import compile_time

        print("measuring first-compile and cached-load time of the numba kernels (two fresh processes)...", flush=True)
        report["numba_compile"] = compile_time.measure()
    workloads = [wl for wl in layers.WORKLOADS if not args.only or any(s.lower() in wl.name.lower() for s in args.only)]
    results = []
    for wl in workloads:
        print(f"timing {wl.name}: {wl.describe()} ...", flush=True)
        contenders, note = layers.contenders_for(wl, backends)
        start = time.perf_counter()
        naive = {k: contenders.pop(k) for k in list(contenders) if k == "cnnlib-naive"}
        timings = timing.race(contenders, rounds=rounds, min_seconds=min_seconds)
        if naive:  # seconds per call: a few rounds of its own are enough
            timings.update(timing.race(naive, rounds=3, warmup=0))
        results.append(_result(wl, timings, note, time.perf_counter() - start))
    report["results"] = results
    report["machine_after"] = timing.machine_report()

    table = format_table(results, report)
    print(table)
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


def _result(wl, timings, note: str, seconds: float) -> dict:
    data = {name: t.as_dict() for name, t in timings.items()}
    if "cnnlib-naive" in data:
        # timed on one image: scale to the batch (an estimate, flagged as such)
        n = wl.x_shape[0]
        for key in ("median_ms", "min_ms"):
            data["cnnlib-naive"][key] = round(data["cnnlib-naive"][key] * n, 3)
        data["cnnlib-naive"]["note"] = f"timed on 1 image, times {n}"
    numba_ms, torch_ms = data["cnnlib-numba"]["median_ms"], data["torch"]["median_ms"]
    ratio = numba_ms / torch_ms
    speedup = data["numpy-im2col"]["median_ms"] / numba_ms
    # the ratio of the fastest runs: less sensitive to other processes on a shared machine
    ratio_min = data["cnnlib-numba"]["min_ms"] / data["torch"]["min_ms"]
    return {
        "name": wl.name, "workload": wl.describe(), "implementation": note or None, "timings": data,
        "ratio_numba_torch": round(ratio, 3), "ratio_numba_torch_of_min": round(ratio_min, 3),
        "speedup_numba_vs_im2col": round(speedup, 2),
        "target_ratio": wl.target, "target_met": None if wl.target is None else ratio <= wl.target,
        "im2col_target_met": speedup >= 3.0, "seconds": round(seconds, 1),
    }


def format_table(results: list[dict], report: dict) -> str:
    cols = ["torch", "numpy-im2col", "cnnlib-numba", "cnnlib-naive"]
    head = (f"{'median ms, fwd+bwd, float32':<28}" + "".join(f"{c:>14}" for c in cols)
            + f"{'numba/torch':>13}{'(of min)':>9}{'target':>11}{'im2col/numba':>14}")
    lines = [head, "-" * len(head)]
    for r in results:
        cells = []
        for c in cols:
            t = r["timings"].get(c)
            cells.append(f"{'-' if t is None else format(t['median_ms'], '.2f') + ('*' if c == 'cnnlib-naive' else ''):>14}")
        target = "" if r["target_ratio"] is None else f"<={r['target_ratio']}" + (" ok" if r["target_met"] else " NO")
        lines.append(f"{r['name']:<28}" + "".join(cells) + f"{r['ratio_numba_torch']:>13.2f}"
                     f"{r['ratio_numba_torch_of_min']:>9.2f}{target:>11}{r['speedup_numba_vs_im2col']:>13.1f}x")
    before, after = report["machine_before"], report["machine_after"]
    lines.append("")
    if any(r["timings"].get("cnnlib-naive") for r in results):
        lines.append("* naive: timed on one image and multiplied by the batch size.")
    impl = [r["implementation"] for r in results if r["implementation"]]
    if impl:
        lines.append(f"training step model: {impl[0]}")
    lines.append(f"first call of cnnlib-numba (ms): " + ", ".join(
        f"{r['name']} {r['timings']['cnnlib-numba']['first_call_ms']:.0f}" for r in results))
    if "numba_compile" in report:
        c = report["numba_compile"]
        lines.append(f"numba kernels: first compile {c['first_compile_s']:.1f} s (all kernels, float32 + float64), "
                     f"cached load {c['cached_load_s']:.2f} s, import cnnlib.functional {c['import_cnnlib_functional_s']:.2f} s")
    lines.append(f"machine: {before['cpu']} x{before['cpu_count']}; torch {before.get('torch')} "
                 f"({before.get('torch_threads')} threads), numba {before.get('numba')} ({after.get('numba_threads')} threads, "
                 f"{after.get('numba_threading_layer')} layer), numpy {before['numpy']} ({before.get('numpy_blas')})")
    lines.append(f"load average 1/5/15 min: before {before['loadavg_1_5_15']}, after {after['loadavg_1_5_15']}")
    lines.append("env: " + ", ".join(f"{k}={v}" for k, v in before["env"].items() if v is not None))
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
