"""Race cnnlib's backends against torch on the course's layers; print tables, write JSON.

Usage (from the repository root)::

    .venv/bin/python benchmarks/run.py [--quick] [--json PATH] [--only NAME ...]
                                       [--envs plain tuned] [--no-alone] [--no-contention]
                                       [--cpu-name haswell]

Every workload is timed for torch, the NumPy im2col baseline and each
cnnlib backend in the same process, in interleaved rounds (see
``benchmarks/timing.py``); a table shows medians of forward + backward and
the ratio cnnlib-numba / torch (below 1: cnnlib is faster).

Every table is measured twice, each time in a fresh process:

* ``plain`` (the default, what a learner gets): the environment as it is,
  minus the tuning variables below. cnnlib's own thread policy applies
  (``cnnlib/functional/_threads.py``: passive numba threads, one BLAS
  thread in the Linear layers); torch runs with its defaults.
* ``tuned``: the process settings that used to be needed, for every
  contender alike: ``OMP_WAIT_POLICY=passive`` (torch's OpenMP too),
  ``OPENBLAS_THREAD_TIMEOUT=4`` and the two glibc malloc variables that
  keep freed buffers mapped.

Then the training step (forward, loss, backward, Adam) of each library
*alone in its own process* (``benchmarks/alone.py``; cnnlib's process never
imports torch), alternating the libraries, repeated, medians of the
per-process medians; and the same with a second process keeping one core
busy (``while True: pass``), which gives each library's slowdown under
contention. ``--cpu-name haswell`` makes numba compile for an AVX2 CPU
(``NUMBA_CPU_NAME``, with ``NUMBA_CPU_FEATURES`` unset), to measure the AVX2
code path on an AVX-512 machine.

Threads: torch 2, numba 2 (the machine has 2 cores).
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from timing import TUNED_ENV, format_reference  # run as a script: the sibling module is importable

HERE = Path(__file__).resolve().parent
BUSY_LOOP = "while True: pass"


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds, no naive backend, no compile-time measurement")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "latest.json", help="where to write the results")
    parser.add_argument("--only", nargs="*", default=None, help="run only workloads whose name contains one of these")
    parser.add_argument("--threads", type=int, default=2, help="torch and numba threads (default 2)")
    parser.add_argument("--envs", nargs="+", choices=["plain", "tuned"], default=["plain", "tuned"],
                        help="which environments to measure (default both)")
    parser.add_argument("--repeats", type=int, default=None, help="processes per library for the alone/contention runs")
    parser.add_argument("--no-layers", action="store_true", help="skip the layer tables")
    parser.add_argument("--no-alone", action="store_true", help="skip the training step in separate processes")
    parser.add_argument("--no-contention", action="store_true", help="skip the runs with one core kept busy")
    parser.add_argument("--cpu-name", default=None, help="NUMBA_CPU_NAME for cnnlib's kernels (e.g. haswell: AVX2)")
    parser.add_argument("--child", choices=["plain", "tuned"], default=None, help=argparse.SUPPRESS)
    return parser.parse_args(argv)


def environment(kind: str, cpu_name: str | None = None) -> dict[str, str]:
    """The process environment of a plain or a tuned run."""
    env = {k: v for k, v in os.environ.items() if k not in TUNED_ENV}
    if kind == "tuned":
        env.update(TUNED_ENV)
    if cpu_name:
        env["NUMBA_CPU_NAME"] = cpu_name
        env.pop("NUMBA_CPU_FEATURES", None)
    return env


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    if args.child:
        return _layers_child(args)
    sys.path.insert(0, str(HERE))
    import timing

    report = {"machine_before": timing.machine_report(), "settings": {
        "quick": args.quick, "threads": args.threads, "envs": args.envs, "numba_cpu_name": args.cpu_name}}
    print("measuring the host's matrix-product rate (the reference that makes runs on two hosts comparable)...", flush=True)
    report["reference_before"] = timing.reference_matmul(args.threads)
    if not args.quick and not args.no_layers:
        import compile_time

        print("measuring first-compile and cached-load time of the numba kernels (two fresh processes)...", flush=True)
        report["numba_compile"] = compile_time.measure()
    tables = []
    for kind in ([] if args.no_layers else args.envs):
        print(f"\n=== layer table, {kind} environment (fresh process) ===", flush=True)
        tables.append(_run_layers_child(kind, args))
    report["tables"] = tables
    repeats = args.repeats or (3 if args.quick else 5)
    if not args.no_alone:
        print(f"\n=== training step, each library alone in its own process, {repeats} processes each ===", flush=True)
        report["alone"] = alone_runs(args.envs, repeats, args.threads, args.cpu_name, busy=False)
    if not args.no_contention:
        print(f"\n=== training step alone, quiet vs one core kept busy, plain environment ===", flush=True)
        report["contention"] = contention_runs(repeats, args.threads, args.cpu_name)
    report["machine_after"] = timing.machine_report()
    report["reference_after"] = timing.reference_matmul(args.threads)
    text = format_report(report)
    print("\n" + text)
    report["text"] = text
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


def _run_layers_child(kind: str, args) -> dict:
    with tempfile.TemporaryDirectory(prefix="cnnlib-bench-") as tmp:
        out = Path(tmp) / "table.json"
        command = [sys.executable, str(Path(__file__).resolve()), "--child", kind, "--json", str(out),
                   "--threads", str(args.threads)]
        command += ["--quick"] if args.quick else []
        command += ["--only", *args.only] if args.only else []
        subprocess.run(command, env=environment(kind, args.cpu_name), check=True)
        return json.loads(out.read_text())


def _layers_child(args) -> int:
    """One layer table in this process (started by main with the environment of `args.child`)."""
    sys.path.insert(0, str(HERE))  # run as a script: make the sibling modules importable

    import cnnlib.functional.numba_backend  # first, as in a learner's process: it starts numba's threads
    import numba
    import torch

    import layers
    import timing

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    backends = ["numpy-im2col", "cnnlib-numba"] + ([] if args.quick else ["cnnlib-naive"])
    rounds, min_seconds = (5, 0.5) if args.quick else (15, 3.0)
    report = {"env": args.child, "machine_before": timing.machine_report(),
              "settings": {"rounds": rounds, "min_seconds": min_seconds}}
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
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    return 0


def _alone(library: str, threads: int, cpu_name: str | None, kind: str = "plain") -> dict:
    command = [sys.executable, str(HERE / "alone.py"), library, "--threads", str(threads)]
    out = subprocess.run(command, env=environment(kind, cpu_name), check=True, capture_output=True, text=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def _summary(runs: list[dict]) -> dict:
    medians = [r["median_ms"] for r in runs]
    return {"median_ms": round(statistics.median(medians), 3), "per_process_median_ms": medians,
            "min_ms": round(min(r["min_ms"] for r in runs), 3),
            "cpu_ms_per_step": round(statistics.median(r["cpu_ms_per_step"] for r in runs), 3),
            "page_faults_per_step": round(statistics.median(r["page_faults_per_step"] for r in runs), 1),
            "loadavg": [r["loadavg_before"][0] for r in runs]}


def alone_runs(kinds: list[str], repeats: int, threads: int, cpu_name: str | None, busy: bool) -> dict:
    """{env: {library: summary, "ratio": cnnlib/torch}}, processes alternating cnnlib, torch, cnnlib, ..."""
    runs = {kind: {"cnnlib": [], "torch": []} for kind in kinds}
    for i in range(repeats):
        for kind in kinds:
            for library in ("cnnlib", "torch") if i % 2 == 0 else ("torch", "cnnlib"):
                runs[kind][library].append(_alone(library, threads, cpu_name, kind))
                print(f"  {kind:5s} {library:6s} {runs[kind][library][-1]['median_ms']:8.2f} ms", flush=True)
    out = {}
    for kind, by_library in runs.items():
        out[kind] = {library: _summary(r) for library, r in by_library.items()}
        out[kind]["ratio"] = round(out[kind]["cnnlib"]["median_ms"] / out[kind]["torch"]["median_ms"], 3)
    return out


def contention_runs(repeats: int, threads: int, cpu_name: str | None) -> dict:
    """Each library alone, quiet and with one core kept busy by another process, interleaved."""
    runs = {(library, busy): [] for library in ("cnnlib", "torch") for busy in (False, True)}
    for i in range(repeats):
        for busy in (False, True) if i % 2 == 0 else (True, False):
            hog = subprocess.Popen([sys.executable, "-c", BUSY_LOOP]) if busy else None
            try:
                for library in ("cnnlib", "torch"):
                    runs[library, busy].append(_alone(library, threads, cpu_name))
                    print(f"  {'busy' if busy else 'quiet':5s} {library:6s} {runs[library, busy][-1]['median_ms']:8.2f} ms",
                          flush=True)
            finally:
                if hog is not None:
                    hog.kill()
                    hog.wait()
    out = {}
    for library in ("cnnlib", "torch"):
        quiet, busy = _summary(runs[library, False]), _summary(runs[library, True])
        out[library] = {"quiet": quiet, "busy": busy, "slowdown": round(busy["median_ms"] / quiet["median_ms"], 3)}
    out["ratio_busy"] = round(out["cnnlib"]["busy"]["median_ms"] / out["torch"]["busy"]["median_ms"], 3)
    return out


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


def format_table(table: dict) -> str:
    """One layer table (a plain or tuned child's results) as text."""
    results = table["results"]
    cols = ["torch", "numpy-im2col", "cnnlib-numba", "cnnlib-naive"]
    head = (f"{'median ms, fwd+bwd, float32':<28}" + "".join(f"{c:>14}" for c in cols)
            + f"{'numba/torch':>13}{'(of min)':>9}{'target':>11}{'im2col/numba':>14}")
    lines = [f"layers, {table['env']} environment", head, "-" * len(head)]
    for r in results:
        cells = []
        for c in cols:
            t = r["timings"].get(c)
            cells.append(f"{'-' if t is None else format(t['median_ms'], '.2f') + ('*' if c == 'cnnlib-naive' else ''):>14}")
        target = "" if r["target_ratio"] is None else f"<={r['target_ratio']}" + (" ok" if r["target_met"] else " NO")
        lines.append(f"{r['name']:<28}" + "".join(cells) + f"{r['ratio_numba_torch']:>13.2f}"
                     f"{r['ratio_numba_torch_of_min']:>9.2f}{target:>11}{r['speedup_numba_vs_im2col']:>13.1f}x")
    before, after = table["machine_before"], table["machine_after"]
    if any(r["timings"].get("cnnlib-naive") for r in results):
        lines.append("* naive: timed on one image and multiplied by the batch size.")
    impl = [r["implementation"] for r in results if r["implementation"]]
    if impl:
        lines.append(f"training step model: {impl[0]}")
    lines.append("first call of cnnlib-numba (ms): " + ", ".join(
        f"{r['name']} {r['timings']['cnnlib-numba']['first_call_ms']:.0f}" for r in results))
    lines.append(f"load average 1/5/15 min: before {before['loadavg_1_5_15']}, after {after['loadavg_1_5_15']}")
    lines.append("env: " + (", ".join(f"{k}={v}" for k, v in before["env"].items() if v is not None) or "(none set)"))
    lines.append(f"cnnlib thread policy: {after.get('cnnlib_thread_policy')}")
    lines.append(f"cnnlib vector width: {after.get('cnnlib_vector_width')}")
    return "\n".join(lines)


def _format_alone(alone: dict) -> list[str]:
    lines = ["SimpleConvNet training step (fwd, loss, bwd, Adam; batch 100), each library alone in its own process",
             f"{'environment':<12}{'cnnlib ms':>11}{'torch ms':>10}{'cnnlib/torch':>14}{'target':>10}"
             f"{'cpu ms/step cnnlib, torch':>28}"]
    for kind, r in alone.items():
        ok = "ok" if r["ratio"] <= 0.8 else "NO"
        lines.append(f"{kind:<12}{r['cnnlib']['median_ms']:>11.2f}{r['torch']['median_ms']:>10.2f}{r['ratio']:>14.2f}"
                     f"{'<=0.8 ' + ok:>10}{r['cnnlib']['cpu_ms_per_step']:>16.1f}, {r['torch']['cpu_ms_per_step']:.1f}")
    return lines


def _format_contention(c: dict) -> list[str]:
    lines = ["the same step alone, quiet vs a second process keeping one core busy (plain environment)",
             f"{'library':<10}{'quiet ms':>10}{'busy ms':>10}{'slowdown':>10}"]
    for library in ("cnnlib", "torch"):
        r = c[library]
        lines.append(f"{library:<10}{r['quiet']['median_ms']:>10.2f}{r['busy']['median_ms']:>10.2f}{r['slowdown']:>9.2f}x")
    ok = "ok" if c["cnnlib"]["slowdown"] <= c["torch"]["slowdown"] else "NO"
    lines.append(f"cnnlib's slowdown <= torch's: {ok}; busy cnnlib/torch {c['ratio_busy']:.2f}")
    return lines


def format_report(report: dict) -> str:
    """Every table of a run as text, with the machine it ran on."""
    parts = [format_table(t) for t in report.get("tables", [])]
    if "alone" in report:
        parts.append("\n".join(_format_alone(report["alone"])))
    if "contention" in report:
        parts.append("\n".join(_format_contention(report["contention"])))
    before, after = report["machine_before"], report["machine_after"]
    lines = [f"machine: {before['cpu']}, {before['cpu_count']} CPUs; vector extensions: "
             f"{' '.join(before.get('cpu_vector_extensions', []))}; numba compiles for "
             f"{report['settings'].get('numba_cpu_name') or before.get('numba_target_cpu')}",
             f"torch {before.get('torch')}, numba {before.get('numba')}, numpy {before['numpy']} ({before.get('numpy_blas')});"
             f" threads: {report['settings']['threads']} each",
             f"load average 1/5/15 min: before {before['loadavg_1_5_15']}, after {after['loadavg_1_5_15']}"]
    lines += [format_reference(report[key]) + f" ({key.split('_')[1]} the run)"
              for key in ("reference_before", "reference_after") if key in report]
    if "numba_compile" in report:
        c = report["numba_compile"]
        lines.append(f"numba kernels: first compile {c['first_compile_s']:.1f} s (all kernels, float32 + float64), "
                     f"cached load {c['cached_load_s']:.2f} s, import cnnlib.functional {c['import_cnnlib_functional_s']:.2f} s")
    parts.append("\n".join(lines))
    return "\n\n".join(parts)


if __name__ == "__main__":
    sys.exit(main())
