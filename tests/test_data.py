"""cnnlib.data: the bundled MNIST test set, the IDX reader on broken files, the split."""

from __future__ import annotations

import gzip
import re
import struct
from pathlib import Path

import numpy as np
import pytest

import cnnlib.data
from cnnlib.data import load_mnist, load_mnist_split, read_idx, train_val_split

BUNDLED = Path(cnnlib.data.__file__).parent / "datasets" / "mnist"
IMAGES_GZ = BUNDLED / "t10k-images-idx3-ubyte.gz"
LABELS_GZ = BUNDLED / "t10k-labels-idx1-ubyte.gz"
# the well-known class counts of the MNIST test set, digits 0-9
MNIST_TEST_COUNTS = [980, 1135, 1032, 1010, 982, 892, 958, 1028, 974, 1009]


def _read_idx_independently(path: Path) -> np.ndarray:
    """A second, minimal IDX reader: struct-parsed header, then the bytes."""
    raw = gzip.decompress(path.read_bytes())
    zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
    assert zero == 0 and dtype_code == 0x08
    shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
    return np.frombuffer(raw[4 + 4 * ndim :], dtype=np.uint8).reshape(shape)


@pytest.fixture(scope="module")
def raw_mnist():
    return _read_idx_independently(IMAGES_GZ), _read_idx_independently(LABELS_GZ)


@pytest.fixture(scope="module")
def mnist():
    return load_mnist()


def _write_idx(path: Path, magic: int, shape, data: bytes, compress: bool = False) -> Path:
    blob = struct.pack(">I", magic) + b"".join(struct.pack(">I", s) for s in shape) + data
    path.write_bytes(gzip.compress(blob) if compress else blob)
    return path


# --------------------------------------------------------------------------
# The bundled test set
# --------------------------------------------------------------------------


def test_bundled_test_set(mnist, raw_mnist):
    images, labels = mnist
    raw_images, raw_labels = raw_mnist
    assert images.shape == (10_000, 1, 28, 28) and images.dtype == np.float32
    assert labels.shape == (10_000,) and labels.dtype == np.int64
    assert images.min() == 0.0 and images.max() == 1.0
    np.testing.assert_array_equal(images[:, 0], raw_images.astype(np.float32) / np.float32(255))
    np.testing.assert_array_equal(labels, raw_labels)
    counts = np.bincount(labels, minlength=10)
    assert counts.tolist() == np.bincount(raw_labels, minlength=10).tolist()
    assert counts.tolist() == MNIST_TEST_COUNTS
    assert counts.sum() == 10_000


def test_first_test_digit_is_a_seven(mnist):
    images, labels = mnist
    assert labels[:5].tolist() == [7, 2, 1, 0, 4]  # the first labels of the MNIST test file
    # the bundled images are not blank: a digit covers roughly a fifth of the 28x28 pixels
    assert 0.05 < (images[0] > 0.5).mean() < 0.4


def test_options(mnist, raw_mnist):
    images, labels = mnist
    raw = load_mnist(normalize=False)[0]
    assert raw.dtype == np.float32 and raw.max() == 255.0
    assert np.array_equal(raw[:, 0], raw_mnist[0].astype(np.float32))
    flat, flat_labels = load_mnist(flatten=True)
    assert flat.shape == (10_000, 784) and flat.dtype == np.float32
    assert np.array_equal(flat, images.reshape(10_000, 784))
    assert np.array_equal(flat_labels, labels)
    _, onehot = load_mnist(one_hot=True)
    assert onehot.shape == (10_000, 10) and onehot.dtype == np.float32
    assert np.array_equal(onehot.sum(axis=1), np.ones(10_000)) and set(np.unique(onehot)) == {0.0, 1.0}
    assert np.array_equal(onehot.argmax(axis=1), labels)


def test_split_argument():
    with pytest.raises(ValueError, match="only the MNIST test set .* is bundled"):
        load_mnist("train")
    with pytest.raises(ValueError, match="split must be 'train' or 'test'; got 'validation'"):
        load_mnist("validation")


# --------------------------------------------------------------------------
# A user's folder of IDX files, good and broken
# --------------------------------------------------------------------------


def _small_set(folder: Path, prefix="t10k", n=5, compress=False, n_labels=None):
    rng = np.random.default_rng(0)
    pixels = rng.integers(0, 256, (n, 28, 28), dtype=np.uint8)
    labels = rng.integers(0, 10, n_labels or n, dtype=np.uint8)
    gz = ".gz" if compress else ""
    _write_idx(folder / f"{prefix}-images-idx3-ubyte{gz}", 0x803, pixels.shape, pixels.tobytes(), compress)
    _write_idx(folder / f"{prefix}-labels-idx1-ubyte{gz}", 0x801, labels.shape, labels.tobytes(), compress)
    return pixels, labels


@pytest.mark.parametrize("compress", [False, True])
@pytest.mark.parametrize("split, prefix", [("test", "t10k"), ("train", "train")])
def test_folder_of_idx_files(tmp_path, compress, split, prefix):
    pixels, labels = _small_set(tmp_path, prefix, n=7, compress=compress)
    x, y = load_mnist(split, path=tmp_path)
    assert x.shape == (7, 1, 28, 28)
    assert np.array_equal(x[:, 0], pixels.astype(np.float32) / np.float32(255))
    assert np.array_equal(y, labels.astype(np.int64))
    x, y = load_mnist(split, path=str(tmp_path), normalize=False, flatten=True, one_hot=True)
    assert np.array_equal(x, pixels.reshape(7, 784).astype(np.float32))
    assert np.array_equal(y.argmax(axis=1), labels)


def test_dotted_file_names(tmp_path):
    # some downloads name the files t10k-images.idx3-ubyte
    pixels, labels = _small_set(tmp_path, n=3)
    (tmp_path / "t10k-images-idx3-ubyte").rename(tmp_path / "t10k-images.idx3-ubyte")
    (tmp_path / "t10k-labels-idx1-ubyte").rename(tmp_path / "t10k-labels.idx1-ubyte")
    x, y = load_mnist(path=tmp_path)
    assert x.shape == (3, 1, 28, 28) and np.array_equal(y, labels)


def test_missing_folder_and_files(tmp_path):
    with pytest.raises(FileNotFoundError, match="is not a folder"):
        load_mnist(path=tmp_path / "nowhere")
    with pytest.raises(FileNotFoundError, match=r"no images file for split 'train'"):
        load_mnist("train", path=tmp_path)


@pytest.mark.parametrize("compress", [False, True])
def test_wrong_magic_number(tmp_path, compress):
    _small_set(tmp_path, compress=compress)
    gz = ".gz" if compress else ""
    labels = tmp_path / f"t10k-labels-idx1-ubyte{gz}"
    images = tmp_path / f"t10k-images-idx3-ubyte{gz}"
    # a labels file where the images should be: magic 0x801, not 0x803
    images.write_bytes(labels.read_bytes())
    with pytest.raises(ValueError, match=rf"{re.escape(str(images))}: wrong magic number 0x00000801, expected 0x00000803"):
        load_mnist(path=tmp_path)
    # not an IDX file at all
    images.write_bytes(gzip.compress(b"PK\x03\x04" + bytes(100)) if compress else b"PK\x03\x04" + bytes(100))
    with pytest.raises(ValueError, match=rf"{re.escape(str(images))}: wrong magic number 0x504b0304"):
        load_mnist(path=tmp_path)


@pytest.mark.parametrize("compress", [False, True])
def test_truncated_data(tmp_path, compress):
    _small_set(tmp_path, compress=compress)
    gz = ".gz" if compress else ""
    images = tmp_path / f"t10k-images-idx3-ubyte{gz}"
    blob = gzip.decompress(images.read_bytes()) if compress else images.read_bytes()
    short = blob[:-100]
    images.write_bytes(gzip.compress(short) if compress else short)
    with pytest.raises(ValueError, match=rf"{re.escape(str(images))}: data truncated: header shape \(5, 28, 28\) needs 3920 bytes, found 3820"):
        load_mnist(path=tmp_path)
    # a header cut in the middle
    images.write_bytes(gzip.compress(blob[:10]) if compress else blob[:10])
    with pytest.raises(ValueError, match=rf"{re.escape(str(images))}: header truncated"):
        load_mnist(path=tmp_path)
    # too short to hold a magic number
    images.write_bytes(gzip.compress(blob[:3]) if compress else blob[:3])
    with pytest.raises(ValueError, match=rf"{re.escape(str(images))}: not an IDX file"):
        load_mnist(path=tmp_path)


def test_cut_gzip_stream(tmp_path):
    _small_set(tmp_path, compress=True)
    images = tmp_path / "t10k-images-idx3-ubyte.gz"
    images.write_bytes(images.read_bytes()[:-40])  # the compressed stream itself is cut
    with pytest.raises(ValueError, match=rf"{re.escape(str(images))}: cannot read"):
        load_mnist(path=tmp_path)


def test_data_longer_than_header(tmp_path):
    _small_set(tmp_path)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    labels.write_bytes(labels.read_bytes() + b"\x01\x02")
    with pytest.raises(ValueError, match=rf"{re.escape(str(labels))}: data longer than its header says"):
        load_mnist(path=tmp_path)


@pytest.mark.parametrize("compress", [False, True])
def test_image_label_count_mismatch(tmp_path, compress):
    _small_set(tmp_path, n=5, n_labels=4, compress=compress)
    gz = ".gz" if compress else ""
    with pytest.raises(ValueError, match=rf"t10k-images-idx3-ubyte{gz} holds 5 images but .*t10k-labels-idx1-ubyte{gz} holds 4 labels"):
        load_mnist(path=tmp_path)


def test_labels_out_of_range(tmp_path):
    _small_set(tmp_path, n=3)
    labels = tmp_path / "t10k-labels-idx1-ubyte"
    _write_idx(labels, 0x801, (3,), bytes([1, 12, 3]))
    with pytest.raises(ValueError, match=rf"{re.escape(str(labels))}: labels must be digits 0-9; found 12"):
        load_mnist(path=tmp_path)


def test_read_idx(tmp_path):
    f = _write_idx(tmp_path / "a.idx", 0x802, (2, 3), bytes(range(6)))
    assert read_idx(f).tolist() == [[0, 1, 2], [3, 4, 5]]
    assert read_idx(f, expected_magic=0x802).dtype == np.uint8
    with pytest.raises(ValueError, match="wrong magic number 0x00000802, expected 0x00000803"):
        read_idx(f, expected_magic=0x803)
    bad_type = _write_idx(tmp_path / "b.idx", 0x0D01, (2,), bytes(8))  # type 0x0D (float32) is not unsigned bytes
    with pytest.raises(ValueError, match=r"wrong magic number 0x00000d01, expected 0x000008NN"):
        read_idx(bad_type)
    with pytest.raises(ValueError, match="cannot read"):
        read_idx(tmp_path / "missing.idx")


# --------------------------------------------------------------------------
# The train/validation split
# --------------------------------------------------------------------------


def test_train_val_split_is_a_deterministic_stratified_partition():
    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(10), [98, 113, 103, 101, 98, 89, 96, 103, 97, 102])[rng.permutation(1000)]
    images = np.arange(1000)[:, None] * np.ones((1, 3))  # each row names its index
    (xt, yt), (xv, yv) = train_val_split(images, labels, val_size=200, seed=1)
    assert len(xv) == 200 and len(xt) == 800
    idx_train, idx_val = xt[:, 0].astype(int), xv[:, 0].astype(int)
    # a partition: disjoint, together everything, labels travel with their images
    assert np.intersect1d(idx_train, idx_val).size == 0
    assert np.array_equal(np.sort(np.concatenate([idx_train, idx_val])), np.arange(1000))
    assert np.array_equal(yt, labels[idx_train]) and np.array_equal(yv, labels[idx_val])
    # stratified: each class's share of the validation set is its share of the data, within one image
    share = np.bincount(labels, minlength=10) * 200 / 1000
    assert np.all(np.abs(np.bincount(yv, minlength=10) - share) <= 1)
    # deterministic for a seed, different for another
    (xt2, _), (xv2, _) = train_val_split(images, labels, val_size=200, seed=1)
    assert np.array_equal(xv, xv2) and np.array_equal(xt, xt2)
    (_, _), (xv3, _) = train_val_split(images, labels, val_size=200, seed=2)
    assert not np.array_equal(xv, xv3)


def test_train_val_split_with_one_hot_labels():
    labels = np.arange(100) % 10
    one_hot = np.eye(10, dtype=np.float32)[labels]
    (_, yt), (_, yv) = train_val_split(np.arange(100), one_hot, val_size=20)
    (_, ct), (_, cv) = train_val_split(np.arange(100), labels, val_size=20)
    assert np.array_equal(yv.argmax(axis=1), cv) and np.array_equal(yt.argmax(axis=1), ct)
    assert np.bincount(cv, minlength=10).tolist() == [2] * 10


def test_train_val_split_errors():
    with pytest.raises(ValueError, match=r"images \(5\) and labels \(4\) differ in length"):
        train_val_split(np.zeros(5), np.zeros(4, int))
    with pytest.raises(ValueError, match="val_size must be between 1 and 4; got 5"):
        train_val_split(np.zeros(5), np.zeros(5, int), val_size=5)
    with pytest.raises(ValueError, match="val_size must be between 1 and 4; got 0"):
        train_val_split(np.zeros(5), np.zeros(5, int), val_size=0)


def test_load_mnist_split(mnist):
    (xt, yt), (xv, yv) = load_mnist_split(val_size=2000, seed=0)
    assert xt.shape == (8000, 1, 28, 28) and xv.shape == (2000, 1, 28, 28)
    assert np.array_equal(np.bincount(np.concatenate([yt, yv]), minlength=10), MNIST_TEST_COUNTS)
    assert np.all(np.abs(np.bincount(yv, minlength=10) - np.array(MNIST_TEST_COUNTS) * 0.2) <= 1)
    (xt2, _), (xv2, _) = load_mnist_split(val_size=2000, seed=0)
    assert np.array_equal(xv, xv2)
    (_, _), (_, yv_flat) = load_mnist_split(val_size=500, seed=3, one_hot=True)
    assert yv_flat.shape == (500, 10)
