"""The only code that runs beside a submission: call its functions, return outputs.

This file is copied into the grading sandbox and run there as a script::

    python -I -S harness.py WORKDIR LIBDIR

It imports nothing but the standard library and NumPy (never ``cnnlib``:
the grading package, its checkers and its reference solutions are not
importable in the sandbox). From ``WORKDIR/job.bin`` it reads the
submission's source units and, for each exercise, the inputs of every case;
it executes the submission, calls each function on each case's inputs and
writes the outputs as frames to its original standard output. It never sees
an expected value, a checker or a score: whatever the submission does here,
at worst the grading process reads a wrong answer.

The frame format (also imported by the grading process to encode the job
and decode the outputs): 4-byte big-endian length of a JSON header, the
header, then the ``.npy`` blobs the header lists by size. Arrays are read
back with ``allow_pickle=False``; nothing is ever unpickled.
"""

from __future__ import annotations

import io
import json
import math
import os
import signal
import struct
import sys
import time

MAX_HEADER = 1 << 20        # bytes of JSON in one frame
MAX_ARRAY_BYTES = 8 << 20   # an output array larger than this is reported by shape only
MAX_ITEMS = 10_000          # elements of a list or tuple
MAX_DEPTH = 8               # nesting of lists and tuples
MAX_TEXT = 200              # characters kept of a str or a repr


# --- the codec -----------------------------------------------------------------

def _np():
    import numpy
    return numpy


def _encode_value(value, blobs: list, depth: int = 0):
    np = _np()
    if depth > MAX_DEPTH:
        return {"t": "other", "type": "deeply nested value", "repr": "..."}
    if value is None:
        return {"t": "none"}
    if isinstance(value, (bool, np.bool_)) and not isinstance(value, np.ndarray):
        if isinstance(value, np.bool_):
            return _array_node(np.asarray(value), blobs, scalar=True)
        return {"t": "bool", "v": bool(value)}
    if isinstance(value, int) and not isinstance(value, np.generic):
        number = int(value)
        return {"t": "int", "v": str(number) if abs(number) < 10 ** 60 else "1" + "0" * 61}
    if isinstance(value, float) and not isinstance(value, np.generic):
        return {"t": "float", "v": repr(float(value))}
    if isinstance(value, str):
        return {"t": "str", "v": str(value)[:MAX_TEXT]}
    if isinstance(value, (list, tuple)):
        items = list(value)
        if len(items) > MAX_ITEMS:
            return {"t": "other", "type": f"{type(value).__name__} of {len(items)} items", "repr": "too long"}
        kind = "tuple" if isinstance(value, tuple) else "list"
        return {"t": kind, "items": [_encode_value(v, blobs, depth + 1) for v in items]}
    if isinstance(value, (np.ndarray, np.generic)):
        return _array_node(value, blobs, scalar=isinstance(value, np.generic))
    if hasattr(value, "detach") and hasattr(value, "numpy"):
        return {"t": "tensor"}
    try:
        text = repr(value)[:MAX_TEXT]
    except BaseException:  # noqa: BLE001 -- a hostile __repr__
        text = "?"
    return {"t": "other", "type": type(value).__name__[:60], "repr": text}


def _array_node(value, blobs: list, scalar: bool) -> dict:
    np = _np()
    array = np.asarray(value)
    if array.dtype.kind not in "biufc":
        return {"t": "badarray", "dtype": str(array.dtype)[:40], "shape": [int(n) for n in array.shape][:32]}
    if array.nbytes > MAX_ARRAY_BYTES:
        return {"t": "other", "type": "array_too_large", "repr": f"shape {array.shape}, {array.nbytes:,} bytes"}
    buffer = io.BytesIO()
    np.save(buffer, array.copy(order="C"), allow_pickle=False)
    blobs.append(buffer.getvalue())
    return {"t": "scalar" if scalar else "array", "blob": len(blobs) - 1}


def encode_frame(header: dict, values: dict | None = None) -> bytes:
    """One frame: `header` (JSON-able) plus `values` (name -> value), encoded."""
    blobs: list[bytes] = []
    header = dict(header)
    if values:
        header["values"] = {k: _encode_value(v, blobs) for k, v in values.items()}
    header["blobs"] = [len(b) for b in blobs]
    text = json.dumps(header, allow_nan=False).encode("utf-8")
    return struct.pack(">I", len(text)) + text + b"".join(blobs)


def split_frames(data: bytes) -> tuple[list[dict], int, bool]:
    """Decode the complete frames at the start of `data`.

    Returns (frames, bytes used by them, broken): `broken` when the bytes
    after the last complete frame cannot be the start of a valid one.
    """
    frames, pos = [], 0
    while pos + 4 <= len(data):
        (size,) = struct.unpack(">I", data[pos:pos + 4])
        if size > MAX_HEADER:
            return frames, pos, True
        if pos + 4 + size > len(data):
            return frames, pos, False
        try:
            header = json.loads(data[pos + 4:pos + 4 + size].decode("utf-8"))
            sizes = header["blobs"]
            if not isinstance(sizes, list) or not all(type(s) is int and 0 <= s <= MAX_ARRAY_BYTES + 1024
                                                      for s in sizes):
                return frames, pos, True
        except (ValueError, TypeError, KeyError, AttributeError, RecursionError):
            return frames, pos, True
        end = pos + 4 + size + sum(sizes)
        if end > len(data):
            return frames, pos, False
        blobs, at = [], pos + 4 + size
        for s in sizes:
            blobs.append(data[at:at + s])
            at += s
        try:
            values = header.get("values") or {}
            header["values"] = {str(k): _decode_value(v, blobs, 0) for k, v in values.items()}
        except (ValueError, TypeError, KeyError, IndexError, AttributeError, OSError, RecursionError):
            return frames, pos, True
        frames.append(header)
        pos = end
    return frames, pos, False


class Opaque:
    """Stands for a returned object that is neither a number nor an array."""

    def __init__(self, type_name: str, text: str):
        self._text = text
        self.type_name = type_name

    def __repr__(self) -> str:
        return self._text


class TensorStandIn:
    """Stands for a returned torch.Tensor (the kinds recognise detach/numpy)."""

    def detach(self):
        return self

    def numpy(self):
        raise TypeError("a tensor returned from the sandbox has no values")

    def __repr__(self) -> str:
        return "tensor(...)"


def _opaque(type_name: str, text: str):
    # the kinds name a result by type(got).__name__: give the stand-in that name
    name = "".join(c if c.isalnum() or c == "_" else "_" for c in str(type_name))[:60] or "object"
    cls = type(name, (Opaque,), {})
    return cls(name, str(text)[:MAX_TEXT])


def _decode_value(node, blobs: list, depth: int):
    np = _np()
    if depth > MAX_DEPTH + 1 or not isinstance(node, dict):
        raise ValueError("bad node")
    t = node.get("t")
    if t == "none":
        return None
    if t == "bool":
        return bool(node["v"])
    if t == "int":
        text = str(node["v"])
        if len(text) > 70:
            raise ValueError("int too long")
        return int(text)
    if t == "float":
        return float(str(node["v"])[:40])
    if t == "str":
        return str(node["v"])[:MAX_TEXT]
    if t in ("list", "tuple"):
        items = node["items"]
        if not isinstance(items, list) or len(items) > MAX_ITEMS:
            raise ValueError("bad list")
        decoded = [_decode_value(v, blobs, depth + 1) for v in items]
        return decoded if t == "list" else tuple(decoded)
    if t in ("array", "scalar"):
        array = np.load(io.BytesIO(blobs[int(node["blob"])]), allow_pickle=False)
        if array.dtype.kind not in "biufc":
            raise ValueError("bad dtype")
        return array[()] if t == "scalar" else array.copy()  # writable: a function may change its input
    if t == "badarray":
        shape = tuple(int(s) for s in node["shape"])
        size = math.prod(shape) if shape else 1
        return np.empty(shape if size <= 10_000 else (0,), dtype=object)
    if t == "tensor":
        return TensorStandIn()
    if t == "other":
        return _opaque(node.get("type", "object"), node.get("repr", ""))
    raise ValueError("unknown node")


# --- the child: run the submission's functions -----------------------------------

class _Timeout(BaseException):
    """Raised by the alarm; a BaseException, so `except Exception` does not swallow it."""


def _on_alarm(signum, frame):
    raise _Timeout()


def _arm(seconds: float) -> None:
    signal.setitimer(signal.ITIMER_REAL, max(seconds, 1e-3))


def _disarm() -> None:
    signal.setitimer(signal.ITIMER_REAL, 0)


def _describe(exc: BaseException) -> tuple[str, str]:
    if isinstance(exc, SystemExit):
        return "SystemExit", f"called sys.exit({exc.code!r})"[:MAX_TEXT]
    try:
        return type(exc).__name__[:60], str(exc)[:1000]
    except BaseException:  # noqa: BLE001 -- a hostile __str__
        return type(exc).__name__[:60], "?"


def _send(out: int, header: dict, values: dict | None = None) -> None:
    try:
        data = encode_frame(header, values)
    except BaseException as exc:  # noqa: BLE001 -- an output the codec cannot take
        kind, text = _describe(exc)
        data = encode_frame({**header, "unencodable": f"{kind}: {text}"})
    view = memoryview(data)
    while view:
        view = view[os.write(out, view):]


def _load(units: list, limit: float) -> tuple[dict, set, list]:
    namespace = {"__name__": "__submission__", "display": lambda *a, **k: None}
    problems, filenames = [], set()
    deadline = time.monotonic() + limit
    for filename, where, source in units:
        filenames.add(filename)
        try:
            _arm(deadline - time.monotonic())
            try:
                exec(compile(source, filename, "exec"), namespace)
            finally:
                _disarm()
        except _Timeout:
            problems.append({"where": where, "error": f"timed out: loading took more than {limit:g} s"})
            break
        except BaseException as exc:  # noqa: BLE001 -- a submission may raise anything
            kind, text = _describe(exc)
            problems.append({"where": where, "error": text if kind == "SystemExit" else f"{kind}: {text}"})
    return namespace, filenames, problems


def _run_exercise(out: int, name: str, cases: list, namespace: dict, filenames: set, limit: float) -> None:
    fn = namespace.get(name)
    code = getattr(fn, "__code__", None)
    if fn is None:
        return _send(out, {"ev": "missing", "name": name, "why": f"no function named {name} in the submission"})
    if not callable(fn) or code is None or code.co_filename not in filenames:
        origin = str(getattr(fn, "__module__", None) or type(fn).__name__)[:80]
        return _send(out, {"ev": "missing", "name": name,
                           "why": f"{name} is not a function defined in the submission (it comes from {origin})"})
    _send(out, {"ev": "begin", "name": name})
    deadline = time.monotonic() + limit
    for index, (args, kwargs) in enumerate(cases):
        start = time.monotonic()
        try:
            _arm(deadline - start)
            try:
                result = fn(*args, **kwargs)
            finally:
                _disarm()
        except _Timeout:
            return _send(out, {"ev": "timeout", "name": name, "case": index})
        except BaseException as exc:  # noqa: BLE001
            kind, text = _describe(exc)
            # a raise fails the exercise at this case: the cases after it are not needed
            return _send(out, {"ev": "case", "name": name, "case": index, "raised": kind, "message": text,
                               "seconds": time.monotonic() - start})
        _send(out, {"ev": "case", "name": name, "case": index, "seconds": time.monotonic() - start},
              {"result": result})


def _limit(limits: dict) -> None:
    """Hard limits, set before any of the submission runs (it cannot raise them again)."""
    import resource

    for name, value in limits.items():
        resource.setrlimit(getattr(resource, name), (int(value), int(value)))


def main(argv: list[str]) -> None:
    workdir, libdir = argv[1], argv[2]
    out = os.dup(1)           # the frames go to the original stdout ...
    os.dup2(2, 1)             # ... and whatever the submission prints, to stderr
    os.closerange(3, out)     # nothing else inherited stays open
    os.closerange(out + 1, 4096)
    for stream in (sys.stdout, sys.stderr):
        stream.reconfigure(write_through=True, errors="backslashreplace")
    sys.path.append(libdir)
    import numpy  # noqa: F401 -- imported before the submission can shadow it

    with open(os.path.join(workdir, "job.bin"), "rb") as f:
        frames, _, _ = split_frames(f.read())
    job = frames[0]
    _limit(job["limits"])
    signal.signal(signal.SIGALRM, _on_alarm)
    os.chdir(workdir)
    _send(out, {"ev": "start"})
    namespace, filenames, problems = _load([tuple(u) for u in job["units"]], job["limit"])
    _send(out, {"ev": "loaded", "problems": problems})
    for frame in frames[1:]:
        cases = [(tuple(args), dict(kwargs)) for args, kwargs in frame["values"]["cases"]]
        _run_exercise(out, frame["name"], cases, namespace, filenames, job["limit"])
    for stream in (sys.stdout, sys.stderr, sys.__stdout__, sys.__stderr__):
        try:
            stream.flush()
        except BaseException:  # noqa: BLE001 -- the submission may have replaced them with anything
            pass
    _send(out, {"ev": "done"})
    os._exit(0)  # no atexit hooks or __del__ methods of the submission


if __name__ == "__main__":
    main(sys.argv)
