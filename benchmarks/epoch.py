"""Time one training epoch of chapter 8's SimpleConvNet: cnnlib against torch.

Usage (from the repository root)::

    .venv/bin/python benchmarks/epoch.py [--quick] [--rounds N] [--json PATH]

One epoch is what chapter 8 runs: 8,000 MNIST digits (the bundled split),
80 mini-batches of 100 in a seeded random order, each a forward pass, the
softmax cross-entropy loss, a backward pass and an Adam step (lr 0.001),
plus counting the correct predictions. Contenders, timed in the same run in
interleaved rounds (``benchmarks/timing.py``):

* ``cnnlib-numba``: ``cnnlib.train.Trainer.fit(epochs=1)`` on
  ``cnnlib.models.SimpleConvNet`` with the default (numba) backend;
* ``numpy-im2col``: the same with cnnlib's pure-NumPy im2col backend;
* ``torch``: the same network, weights, data, batch order and Adam, as a
  plain torch loop.

Every contender keeps training the same model from round to round (the
cost of an epoch does not depend on the weights). Neither library computes
the gradient with respect to the input images (cnnlib's Trainer calls
``backward_params``, torch's input has no ``requires_grad``): the comparison
is of an epoch as each library runs it. The first epoch of each
contender (numba compilation or cache loading included) is reported
separately.

Threads: 2 torch threads, 2 numba threads. By default the process
environment is plain, as a learner's (cnnlib applies its own thread policy,
see ``cnnlib/functional/_threads.py``); ``--tuned`` re-executes with
``run.py``'s tuning variables (``OMP_WAIT_POLICY=passive`` for torch too,
``OPENBLAS_THREAD_TIMEOUT``, the glibc malloc settings).
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="3 timed epochs per contender instead of 5")
    parser.add_argument("--rounds", type=int, default=None, help="timed epochs per contender")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "epoch.json", help="where to write the results")
    parser.add_argument("--threads", type=int, default=2, help="torch and numba threads (default 2)")
    parser.add_argument("--tuned", action="store_true", help="re-execute with run.py's tuning variables set")
    return parser.parse_args(argv)


def torch_epoch(model, optimizer, x, y, order, batch_size: int):
    """One epoch of the torch loop; returns (mean loss, accuracy)."""
    import torch

    total_loss, correct = 0.0, 0
    for start in range(0, len(order), batch_size):
        idx = order[start:start + batch_size]
        xb, yb = x[idx], y[idx]
        optimizer.zero_grad(set_to_none=True)
        logits = model(xb)
        loss = torch.nn.functional.cross_entropy(logits, yb)
        loss.backward()
        optimizer.step()
        total_loss += loss.item() * len(idx)
        correct += int((logits.argmax(dim=1) == yb).sum())
    return total_loss / len(order), correct / len(order)


def contenders(batch_size: int = 100):
    """name -> zero-argument callable running one epoch."""
    from collections import OrderedDict

    import numpy as np
    import torch

    import cnnlib
    from cnnlib.data import load_mnist_split
    from cnnlib.models import SimpleConvNet
    from cnnlib.train import Adam, Trainer

    (x, y), _ = load_mnist_split(val_size=2000, seed=0)
    runs = {}
    for label, backend in (("cnnlib-numba", "numba"), ("numpy-im2col", "im2col")):
        model = SimpleConvNet(seed=0)
        trainer = Trainer(model, Adam(model, lr=0.001), batch_size=batch_size, seed=0, progress=False)

        def epoch(trainer=trainer, backend=backend):
            with cnnlib.use_backend(backend):
                trainer.fit(x, y, epochs=1)

        runs[label] = epoch

    weights = SimpleConvNet(seed=0).state_dict()
    torch_model = torch.nn.Sequential(OrderedDict(
        conv1=torch.nn.Conv2d(1, 30, 5), relu1=torch.nn.ReLU(), pool1=torch.nn.MaxPool2d(2),
        flatten=torch.nn.Flatten(), fc1=torch.nn.Linear(4320, 100), relu2=torch.nn.ReLU(),
        fc2=torch.nn.Linear(100, 10)))
    torch_model.load_state_dict({k: torch.from_numpy(v) for k, v in weights.items()})
    optimizer = torch.optim.Adam(torch_model.parameters(), lr=0.001)
    xt, yt = torch.from_numpy(x), torch.from_numpy(y)
    rng = np.random.default_rng(0)

    def torch_run():
        order = torch.from_numpy(rng.permutation(len(x)))
        torch_epoch(torch_model, optimizer, xt, yt, order, batch_size)

    runs["torch"] = torch_run
    return runs


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(HERE))
    import timing

    if args.tuned:
        timing.reexec_tuned(__file__)

    import cnnlib.functional.numba_backend  # first, as in a learner's process: it starts numba's threads
    import numba
    import torch

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    rounds = args.rounds or (3 if args.quick else 5)
    report = {"machine_before": timing.machine_report(),
              "settings": {"rounds": rounds, "threads": args.threads, "batch_size": 100, "images": 8000}}
    print(f"timing one SimpleConvNet training epoch (8,000 digits, batches of 100, Adam), {rounds} rounds ...",
          flush=True)
    start = time.perf_counter()
    timings = timing.race(contenders(), rounds=rounds, warmup=1)
    report["seconds"] = round(time.perf_counter() - start, 1)
    report["results"] = {name: t.as_dict() for name, t in timings.items()}
    report["machine_after"] = timing.machine_report()
    report["reference_after"] = timing.reference_matmul(args.threads)  # after the race: it would disturb it

    torch_ms = timings["torch"].median_ms
    lines = [f"{'contender':14s} {'median epoch':>13s} {'min':>9s} {'first epoch':>12s} {'/ torch':>8s}"]
    for name, t in timings.items():
        lines.append(f"{name:14s} {t.median_ms / 1e3:>11.2f} s {t.min_ms / 1e3:>7.2f} s {t.first_ms / 1e3:>10.2f} s "
                     f"{t.median_ms / torch_ms:>8.2f}")
    load = report["machine_before"]["loadavg_1_5_15"], report["machine_after"]["loadavg_1_5_15"]
    env = "tuned" if args.tuned else "plain"
    report["env"] = env
    lines.append(f"({env} environment; load average before {load[0]}, after {load[1]}; "
                 f"threads: torch {args.threads}, numba {args.threads})")
    lines.append(timing.format_reference(report["reference_after"]))
    print("\n".join(lines))
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1) + "\n")
    print(f"\nwrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
