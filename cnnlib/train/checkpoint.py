"""Save and load a model's weights as a NumPy ``.npz`` archive.

The archive maps each qualified parameter name (``"conv1.weight"``) to its
array, dtype and all, so loading gives back bit-identical weights. It holds
no code: build the same model first, then load the weights into it.

Loading trusts nothing in the file. Each member's ``.npy`` header (dtype
and shape) is read and checked against the model before any data is: a
small archive that claims a huge array fails at once, without reading or
allocating it. Then every value is checked (finite, fits the parameter's
dtype) before the first parameter is assigned, so a failed load leaves the
model exactly as it was.
"""

from __future__ import annotations

import zipfile
import zlib
from pathlib import Path

import numpy as np

from ..layers.base import Layer

__all__ = ["save_weights", "load_weights"]

# np.savez writes version 1.0 (2.0 for headers over 64 KiB)
_HEADER_READERS = {(1, 0): np.lib.format.read_array_header_1_0, (2, 0): np.lib.format.read_array_header_2_0}


def save_weights(model: Layer, path: str | Path) -> Path:
    """Write every parameter of `model` to `path` (``.npz`` is added if missing).

    Returns the path written.
    """
    path = Path(path)
    if path.suffix != ".npz":
        path = path.with_name(path.name + ".npz")
    state = model.state_dict()
    if not state:
        raise ValueError(f"{model.describe()} has no parameters to save")
    np.savez(path, **state)  # type: ignore[arg-type]  # numpy's stub types **kwds like allow_pickle
    return path


def load_weights(model: Layer, path: str | Path) -> Layer:
    """Copy the weights in `path` into `model`, in place, all or nothing; returns the model.

    Raises
    ------
    FileNotFoundError
        If `path` does not exist.
    ValueError
        Naming the file, if it is not a readable ``.npz`` archive (truncated,
        another format, a corrupt member), or a member's shape differs from
        the model's parameter, or a value is NaN, infinite or too large for
        the parameter's dtype.
    KeyError
        If the parameter names differ.
    TypeError
        If a member is not an array of real numbers (complex, bool, object).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"no weights file at {path}")
    own = model.state_dict()
    try:
        with zipfile.ZipFile(path) as archive:
            members = _members(archive, path)
            names = {name for name, _ in members}
            missing, unexpected = sorted(set(own) - names), sorted(names - set(own))
            if missing or unexpected:
                raise KeyError(f"{path}: weights do not match the model: missing {missing}, unexpected {unexpected}")
            for name, info in members:
                _check_header(archive, info, path, name, own[name])
            state = {name: _read(archive, info) for name, info in members}
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError) as exc:
        raise ValueError(f"{path}: not a readable .npz weights file ({type(exc).__name__}: {exc})") from exc
    try:
        model.load_state_dict(state)
    except (ValueError, TypeError) as exc:
        raise type(exc)(f"{path}: {exc}") from exc
    return model


def _members(archive: zipfile.ZipFile, path: Path) -> list[tuple[str, zipfile.ZipInfo]]:
    """(parameter name, zip entry) of every ``.npy`` member."""
    members = []
    for info in archive.infolist():
        if not info.filename.endswith(".npy"):
            raise ValueError(f"{path}: member {info.filename!r} is not a .npy array; is this a cnnlib weights file?")
        members.append((info.filename[: -len(".npy")], info))
    if not members:
        raise ValueError(f"{path}: the archive holds no arrays")
    return members


def _check_header(archive: zipfile.ZipFile, info: zipfile.ZipInfo, path: Path, name: str, target: np.ndarray) -> None:
    """Check a member's dtype, shape and size from its header, reading only the header."""
    with archive.open(info) as fh:
        try:
            version = np.lib.format.read_magic(fh)
            if version not in _HEADER_READERS:
                raise ValueError(f"unsupported .npy format version {version}")
            shape, _, dtype = _HEADER_READERS[version](fh)  # the header only, not the data
        except ValueError as exc:
            raise ValueError(f"{path}: member {name!r} is not a valid .npy array ({exc})") from exc
        header_size = fh.tell()
    if dtype.hasobject or dtype.kind not in "iuf":
        raise TypeError(f"{path}: parameter {name!r}: dtype {dtype} cannot be loaded; expected real numbers")
    if tuple(shape) != target.shape:
        raise ValueError(f"{path}: parameter {name!r}: model has shape {target.shape}, file has {tuple(shape)}")
    expected = header_size + int(np.prod(shape, dtype=object)) * dtype.itemsize
    if info.file_size != expected:
        raise ValueError(f"{path}: member {name!r} holds {info.file_size} bytes; its header says {expected}")


def _read(archive: zipfile.ZipFile, info: zipfile.ZipInfo) -> np.ndarray:
    with archive.open(info) as fh:
        return np.lib.format.read_array(fh, allow_pickle=False)
