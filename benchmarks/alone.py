"""One library alone in this process: median time of a SimpleConvNet training step.

Usage (``run.py`` calls it in fresh processes)::

    .venv/bin/python benchmarks/alone.py cnnlib|torch [--steps N] [--threads T]

A step is what chapter 8's training loop does per mini-batch of 100 digits:
forward pass, softmax cross-entropy loss, backward pass and an Adam update
(lr 0.001). The cnnlib process never imports torch and the torch process
never imports cnnlib, so neither library's thread pools disturb the other:
this is the speed a learner sees in a notebook that uses one of them.

Prints one JSON line: the median and minimum step time, the process's CPU
time and page faults per step, and the load average before and after.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import sys
import time

import numpy as np

BATCH = 100


def _batch():
    rng = np.random.default_rng(0)
    return rng.standard_normal((BATCH, 1, 28, 28)).astype(np.float32), rng.integers(0, 10, BATCH)


def cnnlib_step(threads: int | None):
    """A zero-argument callable: one cnnlib training step (numba backend, the default)."""
    from cnnlib.layers import SoftmaxCrossEntropy
    from cnnlib.models import SimpleConvNet
    from cnnlib.train import Adam

    if threads:
        import numba

        numba.set_num_threads(threads)  # after cnnlib's import, which started numba's threads
    x, y = _batch()
    net, loss = SimpleConvNet(seed=0), SoftmaxCrossEntropy()
    optimizer = Adam(net, lr=0.001)

    def step():
        loss.forward(net.forward(x), y)
        net.backward_params(loss.backward())  # as cnnlib's Trainer: the images need no gradient
        optimizer.step()

    return step


def torch_step(threads: int | None):
    """A zero-argument callable: the same step in torch (same layers, loss and Adam)."""
    import torch

    if threads:
        torch.set_num_threads(threads)
    x, y = (torch.from_numpy(a) for a in _batch())
    net = torch.nn.Sequential(
        torch.nn.Conv2d(1, 30, 5), torch.nn.ReLU(), torch.nn.MaxPool2d(2), torch.nn.Flatten(),
        torch.nn.Linear(30 * 12 * 12, 100), torch.nn.ReLU(), torch.nn.Linear(100, 10))
    optimizer = torch.optim.Adam(net.parameters(), lr=0.001)

    def step():
        optimizer.zero_grad(set_to_none=True)
        torch.nn.functional.cross_entropy(net(x), y).backward()
        optimizer.step()

    return step


def measure(library: str, steps: int, threads: int | None, warmup: int = 5) -> dict:
    step = {"cnnlib": cnnlib_step, "torch": torch_step}[library](threads)
    load_before = os.getloadavg()
    for _ in range(warmup):  # numba's cache loading, allocator warm-up
        step()
    times = []
    usage0 = resource.getrusage(resource.RUSAGE_SELF)
    for _ in range(steps):
        start = time.perf_counter()
        step()
        times.append((time.perf_counter() - start) * 1e3)
    usage1 = resource.getrusage(resource.RUSAGE_SELF)
    cpu = (usage1.ru_utime + usage1.ru_stime - usage0.ru_utime - usage0.ru_stime) * 1e3
    return {
        "library": library, "steps": steps, "median_ms": round(statistics.median(times), 3),
        "min_ms": round(min(times), 3), "cpu_ms_per_step": round(cpu / steps, 3),
        "page_faults_per_step": round((usage1.ru_minflt - usage0.ru_minflt) / steps, 1),
        "loadavg_before": [round(v, 2) for v in load_before],
        "loadavg_after": [round(v, 2) for v in os.getloadavg()],
        "torch_imported": "torch" in sys.modules, "cnnlib_imported": "cnnlib" in sys.modules,
    }


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("library", choices=["cnnlib", "torch"])
    parser.add_argument("--steps", type=int, default=60)
    parser.add_argument("--threads", type=int, default=None, help="library threads (default: its own default)")
    args = parser.parse_args(argv)
    print(json.dumps(measure(args.library, args.steps, args.threads)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
