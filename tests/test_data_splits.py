"""cnnlib.data.load_mnist_splits: three disjoint, stratified, seeded parts of the bundled digits."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib.data import load_mnist, load_mnist_splits


@pytest.fixture(scope="module")
def everything():
    return load_mnist()


@pytest.fixture(scope="module")
def parts():
    return load_mnist_splits(val_size=1000, test_size=2000, seed=0)


def _rows(images: np.ndarray, labels: np.ndarray) -> list[bytes]:
    """One sortable key per (image, label) pair: the pixel bytes and the label."""
    return sorted(img.tobytes() + bytes([int(lab)]) for img, lab in zip(images, labels))


def test_sizes_and_shapes(parts):
    sizes = [len(x) for x, _ in parts]
    assert sizes == [7000, 1000, 2000]
    for x, y in parts:
        assert x.shape[1:] == (1, 28, 28) and x.dtype == np.float32
        assert y.shape == (len(x),) and y.dtype == np.int64


def test_the_parts_partition_the_bundled_set(parts, everything):
    # The union, as a multiset of (image, label) pairs, is the whole test set
    # and the sizes add up to 10,000: no image is in two parts, none is lost.
    # (Compared as multisets because MNIST has a few repeated images.)
    x_all = np.concatenate([x for x, _ in parts])
    y_all = np.concatenate([y for _, y in parts])
    assert len(x_all) == len(everything[0]) == 10_000
    assert _rows(x_all, y_all) == _rows(*everything)


def test_parts_are_pairwise_disjoint_by_index():
    # An (image, label) pair that occurs once in the bundled set stands for
    # its index: no such pair may turn up in two parts (other sizes, seed).
    x, y = load_mnist()
    index_of = {img.tobytes() + bytes([int(lab)]): [] for img, lab in zip(x, y)}
    for i, (img, lab) in enumerate(zip(x, y)):
        index_of[img.tobytes() + bytes([int(lab)])].append(i)
    unique = {k for k, v in index_of.items() if len(v) == 1}
    seen: list[set[bytes]] = []
    for xs, ys in load_mnist_splits(val_size=1500, test_size=1500, seed=3):
        keys = {img.tobytes() + bytes([int(lab)]) for img, lab in zip(xs, ys)} & unique
        for other in seen:
            assert not keys & other
        seen.append(keys)


def test_every_digit_keeps_its_share(parts, everything):
    share = np.bincount(everything[1], minlength=10) / len(everything[1])
    for _, y in parts:
        counts = np.bincount(y, minlength=10)
        expected = share * len(y)
        assert np.all(np.abs(counts - expected) <= 2.0), (counts, expected.round(1))


def test_determined_by_the_seed(parts):
    again = load_mnist_splits(val_size=1000, test_size=2000, seed=0)
    for (x1, y1), (x2, y2) in zip(parts, again):
        np.testing.assert_array_equal(x1, x2)
        np.testing.assert_array_equal(y1, y2)
    other = load_mnist_splits(val_size=1000, test_size=2000, seed=1)
    assert not np.array_equal(parts[2][1], other[2][1])
    assert not np.array_equal(parts[1][0], other[1][0])


def test_options_reach_load_mnist():
    (x, y), _, _ = load_mnist_splits(val_size=10, test_size=10, flatten=True, one_hot=True)
    assert x.shape == (9980, 784) and y.shape == (9980, 10)
    np.testing.assert_array_equal(y.sum(axis=1), 1)


@pytest.mark.parametrize("val_size, test_size", [(0, 10), (10, 0), (5000, 5000), (-1, 10), (9999, 1)])
def test_sizes_out_of_range(val_size, test_size):
    with pytest.raises(ValueError, match="val_size and test_size"):
        load_mnist_splits(val_size=val_size, test_size=test_size)


def test_bad_types_and_arguments():
    with pytest.raises(TypeError, match="val_size"):
        load_mnist_splits(val_size=1000.0)
    with pytest.raises(TypeError, match="test_size"):
        load_mnist_splits(test_size=True)
    with pytest.raises(TypeError, match="path"):
        load_mnist_splits(path="somewhere")
