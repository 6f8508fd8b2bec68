"""Time the layers of chapters 10-12 against torch: depthwise, pointwise, BatchNorm, a residual block.

Usage (from the repository root)::

    .venv/bin/python benchmarks/modern.py [--quick] [--tuned] [--json PATH] [--only NAME ...]

Workloads, float32, forward + backward (gradients of the input and of every
parameter), MobileNet- and ResNet-sized:

* depthwise 3x3: ``(16, 128, 28, 28)``, 128 filters of one channel
  (``groups=128``), padding 1;
* pointwise 1x1: ``(16, 128, 28, 28) x (128, 128, 1, 1)``;
* BatchNorm2d (training mode) on ``(16, 128, 28, 28)``;
* a ResNet basic block, 64 channels at 28x28, batch 16 (conv-BN-ReLU-conv-BN
  plus identity, then ReLU) -- the ``cnnlib.models.resnet.basic_block``
  layer against the same block in torch.

Contenders, in the same run and in interleaved rounds (``timing.race``):
``torch`` (2 threads), ``numpy-im2col`` (cnnlib on its NumPy backend, the
baseline) and ``cnnlib-numba`` (the default backend). BatchNorm runs the
numba kernels of ``cnnlib.functional._numba_norm`` with the numba backend
and the NumPy code of ``cnnlib.functional.norm`` with any other, so its two
cnnlib columns time the two implementations. The depthwise layer runs the
numba backend's depthwise kernels (one parallel loop over image x channel);
the NumPy baseline runs its backend once per group, 128 calls per pass.

Process settings and threads as in ``benchmarks/run.py``. Results go to
``results/modern.json`` (git-ignored).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent


def _parse(argv):
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="fewer rounds")
    parser.add_argument("--json", type=Path, default=HERE / "results" / "modern.json", help="where to write the results")
    parser.add_argument("--only", nargs="*", default=None, help="run only workloads whose name contains one of these")
    parser.add_argument("--threads", type=int, default=2, help="torch and numba threads (default 2)")
    parser.add_argument("--tuned", action="store_true", help="re-execute with run.py's tuning variables set")
    return parser.parse_args(argv)


def _conv_contenders(x_shape, w_shape, padding, groups):
    import numpy as np
    import torch
    import torch.nn.functional as TF

    from cnnlib.functional import conv2d, conv2d_backward

    rng = np.random.default_rng(0)
    x, w, b = (rng.standard_normal(s).astype(np.float32) for s in (x_shape, w_shape, (w_shape[0],)))
    dout = rng.standard_normal(conv2d(x, w, b, padding=padding, groups=groups).shape).astype(np.float32)
    xt, wt, bt = (torch.from_numpy(a).requires_grad_() for a in (x, w, b))
    dt = torch.from_numpy(dout)

    def torch_step():
        xt.grad = wt.grad = bt.grad = None
        TF.conv2d(xt, wt, bt, padding=padding, groups=groups).backward(dt)

    def cnnlib_step(backend):
        def step():
            conv2d(x, w, b, padding=padding, groups=groups, backend=backend)
            conv2d_backward(dout, x, w, padding=padding, groups=groups, backend=backend)
        return step

    return {"torch": torch_step, "numpy-im2col": cnnlib_step("im2col"), "cnnlib-numba": cnnlib_step("numba")}


def _layer_contenders(make_ours, twin, x_shape):
    """fwd+bwd of a cnnlib layer (per backend) and of its torch twin, same weights."""
    import numpy as np
    import torch

    import cnnlib

    ours = make_ours()
    with torch.no_grad():
        for (_, a, _), b in zip(ours.parameters(), twin.parameters()):
            b.copy_(torch.from_numpy(a))
    rng = np.random.default_rng(0)
    x = rng.standard_normal(x_shape).astype(np.float32)
    dout = rng.standard_normal(ours.forward(x).shape).astype(np.float32)
    xt, dt = torch.from_numpy(x).requires_grad_(), torch.from_numpy(dout)

    def torch_step():
        xt.grad = None
        twin.zero_grad()
        twin(xt).backward(dt)

    def cnnlib_step(backend):
        def step():
            with cnnlib.use_backend(backend):
                ours.forward(x)
                ours.backward(dout)
        return step

    return {"torch": torch_step, "numpy-im2col": cnnlib_step("im2col"), "cnnlib-numba": cnnlib_step("numba")}


def _torch_basic_block(c):
    import torch
    from torch import nn

    class Block(nn.Module):
        def __init__(self):
            super().__init__()
            self.conv1, self.bn1 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)
            self.conv2, self.bn2 = nn.Conv2d(c, c, 3, 1, 1, bias=False), nn.BatchNorm2d(c)

        def forward(self, x):
            return torch.relu(self.bn2(self.conv2(torch.relu(self.bn1(self.conv1(x))))) + x)

    return Block()


def workloads():
    """name -> (description, builder of the contenders)."""
    import torch

    from cnnlib.layers import BatchNorm2d
    from cnnlib.models.resnet import basic_block

    return {
        "depthwise 3x3": ("(16, 128, 28, 28) x (128, 1, 3, 3) p1 groups 128",
                          lambda: _conv_contenders((16, 128, 28, 28), (128, 1, 3, 3), 1, 128)),
        "pointwise 1x1": ("(16, 128, 28, 28) x (128, 128, 1, 1)",
                          lambda: _conv_contenders((16, 128, 28, 28), (128, 128, 1, 1), 0, 1)),
        "BatchNorm2d": ("train mode, (16, 128, 28, 28)",
                        lambda: _layer_contenders(lambda: BatchNorm2d(128), torch.nn.BatchNorm2d(128),
                                                  (16, 128, 28, 28))),
        "ResNet basic block": ("64 ch, 28x28, batch 16, identity shortcut",
                               lambda: _layer_contenders(lambda: basic_block(64, 64), _torch_basic_block(64),
                                                         (16, 64, 28, 28))),
    }


def main(argv=None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    sys.path.insert(0, str(HERE))  # run as a script: make the sibling modules importable
    import timing

    if args.tuned:
        timing.reexec_tuned(__file__)

    import numba
    import torch

    torch.set_num_threads(args.threads)
    numba.set_num_threads(args.threads)
    rounds, min_seconds = (5, 0.5) if args.quick else (15, 3.0)
    report = {"machine_before": timing.machine_report(), "settings": {"rounds": rounds, "min_seconds": min_seconds,
                                                                      "threads": args.threads}, "results": []}
    lines = ["| workload | torch | NumPy im2col | cnnlib numba | numba / torch | (of min) | target | im2col / torch |",
             "|---|---:|---:|---:|---:|---:|---|---:|"]
    for name, (desc, build) in workloads().items():
        if args.only and not any(s.lower() in name.lower() for s in args.only):
            continue
        print(f"timing {name}: {desc} ...", flush=True)
        times = timing.race(build(), rounds=rounds, min_seconds=min_seconds)
        med = {k: v.median_ms for k, v in times.items()}
        low = {k: v.min_ms for k, v in times.items()}
        ratio = med["cnnlib-numba"] / med["torch"]
        report["results"].append({"name": name, "workload": desc, **{k: v.as_dict() for k, v in times.items()},
                                  "numba_over_torch": round(ratio, 3),
                                  "numba_over_torch_of_min": round(low["cnnlib-numba"] / low["torch"], 3),
                                  "im2col_over_torch": round(med["numpy-im2col"] / med["torch"], 3)})
        met = "met" if ratio <= 1.0 else "NOT met"
        lines.append(f"| {name} `{desc}` | {med['torch']:.2f} | {med['numpy-im2col']:.2f} | "
                     f"{med['cnnlib-numba']:.2f} | {ratio:.2f} | {low['cnnlib-numba'] / low['torch']:.2f} | "
                     f"<= 1.0 {met} | {med['numpy-im2col'] / med['torch']:.2f} |")
    report["machine_after"] = timing.machine_report()
    report["reference_after"] = timing.reference_matmul(args.threads)  # after the race: it would disturb it
    args.json.parent.mkdir(parents=True, exist_ok=True)
    args.json.write_text(json.dumps(report, indent=1))
    before, after = report["machine_before"]["loadavg_1_5_15"], report["machine_after"]["loadavg_1_5_15"]
    print("\n".join(lines))
    print(f"Medians in ms (forward + backward). Load average (1/5/15 min) before: {before}, after: {after}.")
    print(timing.format_reference(report["reference_after"]))
    print(f"wrote {args.json}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
