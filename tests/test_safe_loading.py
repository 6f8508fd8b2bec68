"""Loading weights and IDX files: atomic, checked, and bounded by the headers.

Hostile files are built small, in tmp_path, by each test: an .npz of 3 MB
whose member's header claims 3 GiB, and a 3 MB gzip IDX file that inflates
to 3 GiB (48 concatenated gzip members of 64 MiB of zeros each). The bound
is checked with tracemalloc: the peak of Python allocations while loading
must stay far below what reading the claimed data would take.
"""

from __future__ import annotations

import gzip
import re
import tracemalloc
import zipfile

import numpy as np
import pytest

from cnnlib.data import read_idx
from cnnlib.layers import Conv2d, Flatten, Linear, Sequential
from cnnlib.train import load_weights, save_weights

GiB = 1 << 30


def _model(seed=0):
    return Sequential(("conv", Conv2d(1, 2, 3, rng=seed)), ("flat", Flatten()), ("fc", Linear(8, 3, rng=seed + 1)))


def _snapshot(model):
    return {name: p.copy() for name, p, _ in model.parameters()}


def _unchanged(model, snapshot):
    return all(np.array_equal(p, snapshot[name]) for name, p, _ in model.parameters())


def _peak_bytes(fn):
    tracemalloc.start()
    try:
        fn()
    finally:
        _, peak = tracemalloc.get_traced_memory()
        tracemalloc.stop()
    return peak


def _npz(path, arrays: dict):
    np.savez(path, **arrays)
    return path


# --------------------------------------------------------------------------
# load_weights and load_state_dict: all or nothing
# --------------------------------------------------------------------------


def _bad_state(model, name, value):
    state = {n: p.copy() for n, p, _ in model.parameters()}
    state[name] = value
    return state


@pytest.mark.parametrize("value, error, message", [
    (np.full((3, 8), np.nan, np.float32), ValueError, r"parameter 'fc\.weight': 24 NaN or infinite value"),
    (np.full((3, 8), np.inf), ValueError, "NaN or infinite"),
    (np.full((3, 8), 1e300), ValueError, r"parameter 'fc\.weight': values up to 1e\+300 do not fit in float32"),
    (np.zeros((3, 8), complex), TypeError, r"parameter 'fc\.weight': dtype complex128 cannot be loaded"),
    (np.zeros((3, 8), bool), TypeError, "dtype bool cannot be loaded"),
    (np.zeros((8, 3), np.float32), ValueError, r"model has shape \(3, 8\), file has \(8, 3\)"),
])
def test_a_bad_last_parameter_leaves_the_whole_model_unchanged(tmp_path, value, error, message):
    model = _model()
    # fc.weight comes after conv.weight and conv.bias: a non-atomic load would have copied those already
    other = _model(seed=5)
    path = _npz(tmp_path / "w.npz", _bad_state(other, "fc.weight", value))
    before = _snapshot(model)
    with pytest.raises(error, match=message):
        load_weights(model, path)
    assert _unchanged(model, before)
    with pytest.raises(error, match=message.replace("file has", "state dict has")):
        model.load_state_dict(_bad_state(other, "fc.weight", value))
    assert _unchanged(model, before)


def test_unknown_or_missing_names_leave_the_model_unchanged(tmp_path):
    model = _model()
    before = _snapshot(model)
    state = {n: p for n, p, _ in _model(seed=3).parameters()}
    state["extra.weight"] = np.zeros(2, np.float32)
    with pytest.raises(KeyError, match=r"unexpected \['extra.weight'\]"):
        load_weights(model, _npz(tmp_path / "extra.npz", state))
    del state["extra.weight"], state["fc.bias"]
    with pytest.raises(KeyError, match=r"missing \['fc.bias'\]"):
        load_weights(model, _npz(tmp_path / "missing.npz", state))
    assert _unchanged(model, before)


def test_float64_weights_load_into_a_float32_model_when_they_fit(tmp_path):
    source = _model(seed=7).astype(np.float64)
    model = load_weights(_model(), save_weights(source, tmp_path / "w64"))
    for (name, p, _), (_, q, _) in zip(model.parameters(), source.parameters()):
        assert p.dtype == np.float32 and np.array_equal(p, q.astype(np.float32)), name


@pytest.mark.parametrize("content", [b"", b"not an archive at all", b"PK\x03\x04" + bytes(40)])
def test_a_file_that_is_not_an_npz_archive(tmp_path, content):
    path = tmp_path / "weights.npz"
    path.write_bytes(content)
    with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: not a readable .npz weights file"):
        load_weights(_model(), path)


def test_a_truncated_archive_and_a_plain_npy_file(tmp_path):
    path = save_weights(_model(), tmp_path / "w")
    blob = path.read_bytes()
    for cut in (len(blob) // 2, len(blob) - 10):
        path.write_bytes(blob[:cut])
        with pytest.raises(ValueError, match=rf"{re.escape(str(path))}: not a readable .npz weights file"):
            load_weights(_model(), path)
    npy = tmp_path / "one.npz"
    np.save(tmp_path / "one.npy", np.zeros(3))
    npy.write_bytes((tmp_path / "one.npy").read_bytes())
    with pytest.raises(ValueError, match=re.escape(str(npy))):
        load_weights(_model(), npy)
    with pytest.raises(FileNotFoundError, match="no weights file"):
        load_weights(_model(), tmp_path / "absent.npz")


def test_a_corrupt_member_is_a_clear_error(tmp_path):
    path = save_weights(_model(), tmp_path / "w")
    with zipfile.ZipFile(path) as zf:
        members = {i.filename: zf.read(i) for i in zf.infolist()}
    members["fc.bias.npy"] = members["fc.bias.npy"] + bytes(1000)  # more data than the header declares
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"member 'fc.bias' holds 1140 bytes; its header says 140"):
        load_weights(_model(), path)
    members["fc.bias.npy"] = b"garbage, not npy"
    with zipfile.ZipFile(path, "w") as zf:
        for name, data in members.items():
            zf.writestr(name, data)
    with pytest.raises(ValueError, match=r"member 'fc.bias' is not a valid .npy array"):
        load_weights(_model(), path)


def test_an_object_array_is_refused_from_its_header(tmp_path):
    path = tmp_path / "obj.npz"
    state = {n: p for n, p, _ in _model().parameters()}
    state["fc.bias"] = np.array([1, "two", None], dtype=object)
    np.savez(path, **state)  # pickled: never unpickled by load_weights
    with pytest.raises(TypeError, match=r"parameter 'fc.bias': dtype object cannot be loaded"):
        load_weights(_model(), path)


def test_a_small_npz_claiming_a_3_gib_member_fails_without_reading_it(tmp_path):
    path = tmp_path / "bomb.npz"
    state = {n: p for n, p, _ in _model().parameters()}
    with zipfile.ZipFile(path, "w") as zf:
        for name, value in state.items():
            if name != "fc.weight":
                with zf.open(f"{name}.npy", "w") as fh:
                    np.lib.format.write_array(fh, value)
        with zf.open("fc.weight.npy", "w") as fh:  # header: 3 GiB of float32; data: 3 MB
            np.lib.format.write_array_header_1_0(fh, {"descr": "<f4", "fortran_order": False, "shape": (3 * GiB // 4,)})
            fh.write(np.random.default_rng(0).bytes(3 << 20))
    assert path.stat().st_size < 4 << 20
    model = _model()
    before = _snapshot(model)

    def load():
        with pytest.raises(ValueError, match=r"parameter 'fc.weight': model has shape \(3, 8\), file has \(805306368,\)"):
            load_weights(model, path)

    assert _peak_bytes(load) < 1 << 20  # less than the 3 MB member: nothing but headers was read
    assert _unchanged(model, before)


# --------------------------------------------------------------------------
# IDX files: header first, then only the declared number of bytes
# --------------------------------------------------------------------------


def _idx_header(magic, shape):
    return magic.to_bytes(4, "big") + b"".join(int(s).to_bytes(4, "big") for s in shape)


def test_a_gzip_idx_that_inflates_to_3_gib_fails_after_the_declared_size(tmp_path):
    path = tmp_path / "train-images-idx3-ubyte.gz"
    zeros = gzip.compress(bytes(64 << 20), compresslevel=1)  # 64 MiB of zeros, about 300 KB
    with open(path, "wb") as fh:  # concatenated gzip members inflate to their concatenation
        fh.write(gzip.compress(_idx_header(0x803, (1000, 28, 28))))
        for _ in range(48):
            fh.write(zeros)
    assert path.stat().st_size < 16 << 20

    def read():
        with pytest.raises(ValueError, match=r"data longer than its header says: header shape \(1000, 28, 28\) "
                                             r"needs 784000 bytes, found at least 784001"):
            read_idx(path, expected_magic=0x803)

    assert _peak_bytes(read) < 8 << 20  # about the 784 KB declared, never the 3 GiB


def test_an_idx_header_declaring_too_much_is_refused_before_reading(tmp_path):
    path = tmp_path / "huge.idx"
    path.write_bytes(_idx_header(0x803, (4_000_000, 28, 28)) + bytes(100))
    with pytest.raises(ValueError, match=r"header shape \(4000000, 28, 28\) declares 3,136,000,000 bytes of data, "
                                         r"more than max_bytes=1,073,741,824"):
        read_idx(path)
    with pytest.raises(ValueError, match=r"data truncated: header shape \(4000000, 28, 28\) needs 3136000000 bytes, "
                                         r"found 100"):
        read_idx(path, max_bytes=4 * GiB)  # the file size tells, before any read


def test_idx_dimensions_whose_product_overflows_int64(tmp_path):
    path = tmp_path / "overflow.idx"
    dims = (2**32 - 1, 2**32 - 1, 2**32 - 1)  # product ~7.9e28: wraps around in int64
    path.write_bytes(_idx_header(0x803, dims) + bytes(10))
    product = (2**32 - 1) ** 3
    with pytest.raises(ValueError, match=rf"declares {product:,} bytes of data"):
        read_idx(path)
    with pytest.raises(ValueError, match=rf"needs {product} bytes, found 10"):
        read_idx(path, max_bytes=product)
    with pytest.raises(TypeError, match="max_bytes must be an integer"):
        read_idx(path, max_bytes=1e9)
