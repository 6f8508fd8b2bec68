"""MNIST: the bundled test set, and a reader for a user's own IDX files.

The package ships the 10,000 images of the MNIST test set (Yann LeCun and
Corinna Cortes; CC BY-SA 3.0) so that every chapter runs offline. A reader
with the full data set points ``path`` at the folder with its IDX files.

The IDX format: a big-endian header -- two zero bytes, a type code
(0x08 = unsigned byte), the number of dimensions -- then one 4-byte size per
dimension, then the data. Images are ``magic 2051 (0x803), N, 28, 28``;
labels are ``magic 2049 (0x801), N``.
"""

from __future__ import annotations

import gzip
import math
import zlib
from importlib import resources
from pathlib import Path

import numpy as np

from ._validation import as_bool, as_int

__all__ = ["load_mnist", "load_mnist_split", "read_idx", "train_val_split"]

_IMAGES_MAGIC = 0x803
_LABELS_MAGIC = 0x801
_PREFIX = {"train": "train", "test": "t10k"}


# The full MNIST training images are 47 MB; a header that declares more than
# this is refused before any data is read or decompressed.
MAX_IDX_BYTES = 1 << 30


def read_idx(file: str | Path, expected_magic: int | None = None, max_bytes: int = MAX_IDX_BYTES) -> np.ndarray:
    """Read one IDX file (raw or gzip) into a uint8 array.

    The header is read and checked first; then exactly the number of bytes
    it declares (plus one, to notice extra data) is read, so a gzip file
    that inflates to far more than its header says is never decompressed
    whole.

    Parameters
    ----------
    file : path
    expected_magic : int, optional
        e.g. ``0x803`` for images, ``0x801`` for labels.
    max_bytes : int
        Largest data size accepted (default 1 GiB).

    Raises ``ValueError`` naming the file when the magic number is wrong,
    the header is short, the declared size exceeds `max_bytes`, or the data
    is truncated or longer than the header says.
    """
    file = Path(file)
    max_bytes = as_int(max_bytes, "max_bytes", 0)
    try:
        with open(file, "rb") as fh:
            gzipped = fh.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(file, "rb") as fh:
            shape = _idx_header(fh, file, expected_magic)
            size = math.prod(shape) if shape else 0  # Python ints: no overflow
            if size > max_bytes:
                raise ValueError(f"{file}: header shape {shape} declares {size:,} bytes of data, more than "
                                 f"max_bytes={max_bytes:,}; pass a larger max_bytes if the file is right")
            if not gzipped:
                on_disk = file.stat().st_size - 4 - 4 * len(shape)
                if on_disk != size:  # checked from the file size, before reading
                    _size_mismatch(file, shape, size, on_disk)
            raw = fh.read(size + 1)
    except (OSError, EOFError, zlib.error) as exc:  # gzip raises EOFError on a cut stream
        raise ValueError(f"{file}: cannot read ({exc})") from None
    if len(raw) != size:
        _size_mismatch(file, shape, size, len(raw), at_least=len(raw) > size)
    return np.frombuffer(raw, dtype=np.uint8).reshape(shape).copy()


def _idx_header(fh, file: Path, expected_magic: int | None) -> tuple[int, ...]:
    """Read and check the magic number and the sizes; returns the shape."""
    head = fh.read(4)
    if len(head) < 4:
        raise ValueError(f"{file}: not an IDX file (only {len(head)} bytes)")
    magic = int.from_bytes(head, "big")
    if head[0:2] != b"\x00\x00" or head[2] != 0x08 or (expected_magic is not None and magic != expected_magic):
        want = f"0x{expected_magic:08x}" if expected_magic is not None else "0x000008NN (unsigned bytes)"
        raise ValueError(f"{file}: wrong magic number 0x{magic:08x}, expected {want}; is this the right IDX file?")
    ndim = head[3]
    sizes = fh.read(4 * ndim)
    if len(sizes) < 4 * ndim:
        raise ValueError(f"{file}: header truncated ({4 + len(sizes)} bytes, need {4 + 4 * ndim})")
    return tuple(int.from_bytes(sizes[4 * i: 4 * i + 4], "big") for i in range(ndim))


def _size_mismatch(file: Path, shape, size: int, found: int, at_least: bool = False) -> None:
    what = "truncated" if found < size else "longer than its header says"
    more = " at least" if at_least else ""
    raise ValueError(f"{file}: data {what}: header shape {shape} needs {size} bytes, found{more} {found}")


def _find(folder: Path, prefix: str, kind: str) -> Path:
    idx = "idx3" if kind == "images" else "idx1"
    names = [f"{prefix}-{kind}-{idx}-ubyte", f"{prefix}-{kind}.{idx}-ubyte"]
    for name in names:
        for candidate in (folder / name, folder / f"{name}.gz"):
            if candidate.is_file():
                return candidate
    raise FileNotFoundError(f"no {kind} file for split {prefix!r} in {folder}; looked for {names[0]}[.gz] and {names[1]}[.gz]")


def load_mnist(
    split: str = "test",
    path: str | Path | None = None,
    normalize: bool = True,
    flatten: bool = False,
    one_hot: bool = False,
) -> tuple[np.ndarray, np.ndarray]:
    """Load MNIST images and labels.

    Parameters
    ----------
    split : {"test", "train"}
        Without `path` only "test" exists: the 10,000 bundled test images.
    path : folder, optional
        A folder holding the IDX files (``train-images-idx3-ubyte[.gz]`` and
        so on) of a full MNIST download.
    normalize : bool
        float32 in [0, 1] (pixel / 255); if False, float32 in [0, 255].
    flatten : bool
        Images as ``(N, 784)`` instead of ``(N, 1, 28, 28)``.
    one_hot : bool
        Labels as ``(N, 10)`` float32 one-hot rows instead of ``(N,)`` int64.

    Returns
    -------
    images : (N, 1, 28, 28) or (N, 784) float32
    labels : (N,) int64 or (N, 10) float32
    """
    if split not in _PREFIX:
        raise ValueError(f"split must be 'train' or 'test'; got {split!r}")
    normalize, flatten = as_bool(normalize, "normalize"), as_bool(flatten, "flatten")
    one_hot = as_bool(one_hot, "one_hot")
    if path is None:
        if split != "test":
            raise ValueError(
                "only the MNIST test set (10,000 images) is bundled with cnnlib; for split='train' "
                "download the full MNIST IDX files and pass path='folder/with/them'"
            )
        folder = resources.files("cnnlib.datasets") / "mnist"
        image_file, label_file = Path(str(folder / "t10k-images-idx3-ubyte.gz")), Path(str(folder / "t10k-labels-idx1-ubyte.gz"))
    else:
        folder = Path(path)
        if not folder.is_dir():
            raise FileNotFoundError(f"path {folder} is not a folder")
        image_file, label_file = _find(folder, _PREFIX[split], "images"), _find(folder, _PREFIX[split], "labels")
    images = read_idx(image_file, _IMAGES_MAGIC)
    labels = read_idx(label_file, _LABELS_MAGIC)
    if images.ndim != 3:
        raise ValueError(f"{image_file}: expected 3 dimensions (N, rows, cols); header says {images.shape}")
    if images.shape[0] != labels.shape[0]:
        raise ValueError(f"{image_file} holds {images.shape[0]} images but {label_file} holds {labels.shape[0]} labels")
    if labels.size and labels.max() > 9:
        raise ValueError(f"{label_file}: labels must be digits 0-9; found {int(labels.max())}")
    x = images.astype(np.float32)
    if normalize:
        x /= 255.0
    x = x.reshape(len(x), -1) if flatten else x[:, None, :, :]
    y = labels.astype(np.int64)
    if one_hot:
        return x, np.eye(10, dtype=np.float32)[y]
    return x, y


def train_val_split(images: np.ndarray, labels: np.ndarray, val_size: int = 2000,
                    seed: int | np.random.Generator = 0):
    """Split arrays into a training and a validation part, deterministically.

    Stratified: every class keeps (to within one image) its share in both
    parts, so that a small validation set is not accidentally short of a digit.

    Returns
    -------
    (x_train, y_train), (x_val, y_val)
    """
    if len(images) != len(labels):
        raise ValueError(f"images ({len(images)}) and labels ({len(labels)}) differ in length")
    if not 0 < val_size < len(images):
        raise ValueError(f"val_size must be between 1 and {len(images) - 1}; got {val_size}")
    rng = np.random.default_rng(seed)
    classes = labels.argmax(axis=1) if labels.ndim == 2 else labels
    order = rng.permutation(len(images))
    # Interleave classes in a fixed pattern so the first val_size indices are
    # a stratified sample: rank each image within its class, then sort by
    # relative rank.
    rank = np.empty(len(order), dtype=np.float64)
    for c in np.unique(classes):
        members = order[classes[order] == c]
        rank[members] = (np.arange(len(members)) + 0.5) / len(members)
    shuffled = order[np.argsort(rank[order], kind="stable")]
    val_idx, train_idx = np.sort(shuffled[:val_size]), np.sort(shuffled[val_size:])
    return (images[train_idx], labels[train_idx]), (images[val_idx], labels[val_idx])


def load_mnist_split(val_size: int = 2000, seed: int = 0, **kwargs):
    """The bundled 10,000 images split into training and held-out parts.

    The training chapter trains on ``10000 - val_size`` images and reports
    accuracy on the ``val_size`` images it never saw. Keyword arguments go
    to :func:`load_mnist`.

    Returns
    -------
    (x_train, y_train), (x_test, y_test)
    """
    images, labels = load_mnist("test", **kwargs)
    return train_val_split(images, labels, val_size=val_size, seed=seed)


__all__ += ["load_mnist_splits"]


def load_mnist_splits(val_size: int = 1000, test_size: int = 2000, seed: int = 0, **kwargs):
    """The bundled 10,000 images in three disjoint, stratified parts.

    All three parts come from the MNIST *test* set (the only part bundled),
    so accuracies measured on them are not comparable with published MNIST
    results, which train on the 60,000 training images. The parts are:
    training (``10000 - val_size - test_size`` images), validation (for
    learning curves and choices such as the initialisation) and test (to be
    evaluated once, at the end).

    Parameters
    ----------
    val_size, test_size : int
        Sizes of the validation and test parts, at least 1 each, leaving at
        least one training image.
    seed : int
        Seeds the draw: the same seed gives the same three parts.
    **kwargs
        Passed to :func:`load_mnist` (``normalize``, ``flatten``, ``one_hot``).

    Returns
    -------
    (x_train, y_train), (x_val, y_val), (x_test, y_test)
        Images ``(n, 1, 28, 28)`` float32 (or as `kwargs` ask) and labels.
        Every digit keeps its share of the 10,000 in each part, to within
        a couple of images.
    """
    for name, value in (("val_size", val_size), ("test_size", test_size)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
            raise TypeError(f"{name} must be an int; got {type(value).__name__}")
    if "split" in kwargs or "path" in kwargs:
        raise TypeError("load_mnist_splits splits the bundled images only; for your own files use "
                        "load_mnist(split, path=...) and train_val_split")
    images, labels = load_mnist("test", **kwargs)
    if val_size < 1 or test_size < 1 or val_size + test_size >= len(images):
        raise ValueError(f"val_size and test_size must be at least 1 and leave training images: got "
                         f"val_size={val_size}, test_size={test_size} of {len(images)} images")
    # Two stratified cuts with the same seed-derived generator: the test part
    # first, then the validation part from what is left.
    rng = np.random.default_rng(seed)
    rest, test = train_val_split(images, labels, val_size=test_size, seed=rng)
    train, val = train_val_split(rest[0], rest[1], val_size=val_size, seed=rng)
    return train, val, test
