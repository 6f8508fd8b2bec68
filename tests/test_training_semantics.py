"""What the training loop promises, checked against hand computations.

Each test here was written to fail on a bug that survived the rest of the
suite (a hand mutation test): the Trainer's history averaged wrongly, the
Trainer never shuffling, GoogLeNet keeping stale auxiliary gradients, the
AvgPool2d layer ignoring ``count_include_pad=False``, and ``zero_grad``
doing nothing. The history is compared with a loop written out here, in
float64, to 1e-12; reproducibility is bit-identical, as the library
promises (same seeds, same machine).
"""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib.layers import AvgPool2d, Dropout, Layer, Linear, ReLU, Sequential, SoftmaxCrossEntropy
from cnnlib.models import GoogLeNet, LeNet5
from cnnlib.train import SGD, Momentum, Trainer
from helpers import torch_pool


def _data(n=7, features=3, classes=2, seed=0):
    rng = np.random.default_rng(seed)
    x = rng.standard_normal((n, features))
    x[:, 0] = np.arange(n)  # column 0 identifies each sample
    return x, rng.integers(0, classes, n)


def _model(seed=1):
    return Sequential(("fc1", Linear(3, 4, rng=seed, dtype=np.float64)), ("relu", ReLU()),
                      ("fc2", Linear(4, 2, rng=seed + 1, dtype=np.float64)))


def test_history_is_the_sample_weighted_mean_over_the_epoch():
    x, y = _data()
    batch, lr, seed = 3, 0.05, 4  # 7 samples: batches of 3, 3 and 1
    model = _model()
    trainer = Trainer(model, SGD(model, lr=lr), batch_size=batch, seed=seed, progress=False)
    history = trainer.fit(x, y, epochs=2)

    # The same loop, by hand: per batch forward, loss, backward, p -= lr * g.
    ref = _model()
    loss = SoftmaxCrossEntropy()
    order_rng = np.random.default_rng(seed)
    expected_loss, expected_acc = [], []
    for _ in range(2):
        order = order_rng.permutation(len(x))
        total, correct = 0.0, 0
        for start in range(0, len(x), batch):
            idx = order[start:start + batch]
            logits = ref.forward(x[idx])
            total += loss.forward(logits, y[idx]) * len(idx)
            correct += int((logits.argmax(axis=1) == y[idx]).sum())
            ref.backward(loss.backward())
            for _, param, grad in ref.parameters():
                param -= lr * grad
        expected_loss.append(total / len(x))
        expected_acc.append(correct / len(x))
    np.testing.assert_allclose(history["train_loss"], expected_loss, rtol=1e-12, atol=0)
    assert history["train_acc"] == expected_acc
    for (_, a, _), (_, b, _) in zip(model.parameters(), ref.parameters()):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)


class _Recorder(Layer):
    """Identity layer that records column 0 (the sample ids) of every batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.batches: list[list[int]] = []

    def forward(self, x):
        self.batches.append(x[:, 0].astype(int).tolist())
        return x

    def backward(self, dout):
        return dout

    def output_shape(self, input_shape):
        return tuple(input_shape)


def test_every_epoch_visits_every_sample_once_in_a_fresh_seeded_order():
    x, y = _data(n=12)
    recorder = _Recorder()
    model = Sequential(("record", recorder), ("fc", Linear(3, 2, rng=0, dtype=np.float64)))
    Trainer(model, SGD(model, lr=0.01), batch_size=5, seed=9, progress=False).fit(x, y, epochs=2)
    epochs = [sum(recorder.batches[:3], []), sum(recorder.batches[3:], [])]
    assert [len(b) for b in recorder.batches] == [5, 5, 2] * 2
    rng = np.random.default_rng(9)
    assert epochs == [rng.permutation(12).tolist(), rng.permutation(12).tolist()]
    for order in epochs:
        assert sorted(order) == list(range(12)) and order != list(range(12))
    assert epochs[0] != epochs[1]


def _train_lenet(x, y):
    model = LeNet5(seed=1)
    trainer = Trainer(model, Momentum(model, lr=0.05), batch_size=20, seed=2, progress=False)
    history = trainer.fit(x, y, epochs=1)
    return model.state_dict(), history


def test_training_with_the_same_seeds_is_bit_identical():
    rng = np.random.default_rng(3)
    x = np.pad(rng.random((60, 1, 28, 28), dtype=np.float32), [(0, 0), (0, 0), (2, 2), (2, 2)])
    y = rng.integers(0, 10, 60)
    (a, ha), (b, hb) = _train_lenet(x, y), _train_lenet(x, y)
    assert list(a) == list(b)
    for name in a:
        assert np.array_equal(a[name], b[name]), name
    assert ha["train_loss"] == hb["train_loss"] and ha["train_acc"] == hb["train_acc"]


# --------------------------------------------------------------------------
# Gradients: backward overwrites, zero_grad zeroes
# --------------------------------------------------------------------------


def test_backward_overwrites_gradients_and_zero_grad_zeroes_them():
    x, y = _data()
    model, loss = _model(), SoftmaxCrossEntropy()

    def grads_after_one_backward():
        loss.forward(model.forward(x), y)
        model.backward(loss.backward())
        return {name: g.copy() for name, _, g in model.parameters()}

    first = grads_after_one_backward()
    assert all(np.abs(g).sum() > 0 for g in first.values())
    again = grads_after_one_backward()  # no zero_grad in between: still one pass's gradient
    model.zero_grad()
    assert all(not g.any() for _, _, g in model.parameters())
    after_zero = grads_after_one_backward()
    for name in first:
        assert np.array_equal(first[name], again[name]) and np.array_equal(first[name], after_zero[name]), name
    model.zero_grad()
    before = {name: p.copy() for name, p, _ in model.parameters()}
    SGD(model, lr=0.5).step()  # zero gradients: the step moves nothing
    for name, p, _ in model.parameters():
        assert np.array_equal(p, before[name]), name


def test_googlenet_backward_without_aux_douts_leaves_no_stale_aux_gradient():
    model = GoogLeNet(num_classes=3, aux_logits=True, input_size=96, width=1 / 16, seed=2, dtype=np.float64)
    for layer in [model, *(aux for _, aux in model.aux)]:
        for child in layer:
            if isinstance(child, Dropout):
                child.p = 0.0
    rng = np.random.default_rng(3)
    x = rng.standard_normal((1, 3, 96, 96))
    main = model.forward(x)
    model.backward(rng.standard_normal(main.shape), aux_douts=[rng.standard_normal(a.shape) for a in model.aux_outputs])
    aux_names = [n for n, _, _ in model.parameters() if n.startswith("aux")]
    assert aux_names and all(np.abs(dict((n, g) for n, _, g in model.parameters())[n]).sum() > 0 for n in aux_names)
    main = model.forward(x)
    model.backward(rng.standard_normal(main.shape))  # no aux loss this time
    grads = {n: g for n, _, g in model.parameters()}
    assert all(not grads[n].any() for n in aux_names)
    assert any(grads[n].any() for n in grads if not n.startswith("aux"))
    before = {n: p.copy() for n, p, _ in model.parameters() if n.startswith("aux")}
    SGD(model, lr=0.1).step()
    for n, p, _ in model.parameters():
        if n.startswith("aux"):
            assert np.array_equal(p, before[n]), n


@pytest.mark.parametrize("count_include_pad", [True, False])
def test_avg_pool_layer_honours_count_include_pad(count_include_pad):
    layer = AvgPool2d(3, stride=1, padding=1, count_include_pad=count_include_pad)
    x = np.ones((1, 1, 3, 3))
    y = layer.forward(x)
    # with padding counted, the corner window sees 4 ones of 9 cells; without, 4 of 4
    assert y[0, 0, 0, 0] == (4 / 9 if count_include_pad else 1.0)
    x = np.random.default_rng(5).standard_normal((2, 2, 5, 4))
    np.testing.assert_allclose(layer.forward(x), torch_pool("avg", x, 3, 1, 1, count_include_pad=count_include_pad),
                               rtol=1e-12, atol=1e-12)
