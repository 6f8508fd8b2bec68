"""cnnlib.train: optimisers against torch.optim, the Trainer, and saving weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from cnnlib.data import load_mnist_split
from cnnlib.layers import Linear, Sequential
from cnnlib.models import LeNet5, SimpleConvNet
from cnnlib.train import SGD, Adam, Momentum, Trainer, load_weights, save_weights

# --------------------------------------------------------------------------
# Optimisers: the same updates as torch.optim, step by step
# --------------------------------------------------------------------------

OPTIMISERS = [
    (SGD, dict(lr=0.1), torch.optim.SGD, dict(lr=0.1)),
    (Momentum, dict(lr=0.05, momentum=0.9), torch.optim.SGD, dict(lr=0.05, momentum=0.9)),
    (Adam, dict(lr=0.01), torch.optim.Adam, dict(lr=0.01)),
    (Adam, dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6), torch.optim.Adam, dict(lr=0.003, betas=(0.8, 0.99), eps=1e-6)),
]


@pytest.mark.parametrize("ours, kwargs, theirs, torch_kwargs", OPTIMISERS, ids=lambda v: getattr(v, "__name__", ""))
def test_optimizer_steps_match_torch(ours, kwargs, theirs, torch_kwargs):
    model = Sequential(("fc", Linear(4, 3, rng=0, dtype=np.float64)))
    params = {name: torch.tensor(p.copy(), requires_grad=True) for name, p, _ in model.parameters()}
    opt, topt = ours(model, **kwargs), theirs(list(params.values()), **torch_kwargs)
    rng = np.random.default_rng(1)
    for _ in range(6):
        for name, _, grad in model.parameters():
            grad[...] = rng.standard_normal(grad.shape)
            params[name].grad = torch.tensor(grad.copy())
        opt.step()
        topt.step()
    for name, p, _ in model.parameters():
        np.testing.assert_allclose(p, params[name].detach().numpy(), rtol=1e-12, atol=1e-14, err_msg=name)


def test_optimizer_updates_in_place_and_validates_arguments():
    model = Sequential(Linear(2, 2, rng=0))
    weight = model[0].params["weight"]
    before = weight.copy()
    model[0].grads["weight"][...] = 1.0
    SGD(model, lr=0.5).step()
    np.testing.assert_allclose(weight, before - 0.5)
    with pytest.raises(ValueError, match="lr must be positive"):
        Adam(model, lr=0)
    with pytest.raises(TypeError, match="model must be"):
        SGD([weight], lr=0.1)


# --------------------------------------------------------------------------
# The Trainer
# --------------------------------------------------------------------------


@pytest.fixture(scope="module")
def small_mnist():
    (x, y), (xv, yv) = load_mnist_split()
    return (x[:600], y[:600]), (xv[:300], yv[:300])


def test_short_training_run_lowers_the_loss(small_mnist):
    (x, y), val = small_mnist
    model = SimpleConvNet(seed=0)
    trainer = Trainer(model, Adam(model, lr=0.001), batch_size=50, seed=0, progress=False)
    loss_before, acc_before = trainer.evaluate(*val)
    history = trainer.fit(x, y, epochs=2, validation=val)
    assert history["epoch"] == [1, 2]
    assert history["train_loss"][1] < history["train_loss"][0]
    assert history["val_loss"][-1] < 0.6 * loss_before, (loss_before, history["val_loss"])
    assert history["val_acc"][-1] > max(0.7, acc_before + 0.5), (acc_before, history["val_acc"])
    assert all(s > 0 for s in history["seconds"])


def test_training_is_reproducible_with_a_seed(small_mnist):
    (x, y), _ = small_mnist

    def run():
        model = LeNet5(seed=1)
        xp = np.pad(x[:200], [(0, 0), (0, 0), (2, 2), (2, 2)])
        Trainer(model, Momentum(model, lr=0.05), batch_size=40, seed=2, progress=False).fit(xp, y[:200], epochs=1)
        return model.state_dict()

    a, b = run(), run()
    for name in a:  # the library promises bit-identical runs, not merely close ones
        np.testing.assert_array_equal(a[name], b[name], err_msg=name)


def test_progress_bar_shows_the_epoch_and_history(small_mnist, capsys):
    (x, y), val = small_mnist
    model = SimpleConvNet(seed=0)
    trainer = Trainer(model, SGD(model, lr=0.01), batch_size=100, progress=True)
    trainer.fit(x[:200], y[:200], epochs=1, validation=(val[0][:100], val[1][:100]))
    err = capsys.readouterr().err
    assert "epoch 1/1" in err and "2/2" in err and "val_acc=" in err
    # Not a terminal: the bar is drawn once, complete, so saved outputs hold one line per epoch.
    assert err.count("epoch 1/1") == 1 and " 0%|" not in err, err
    with pytest.raises(ValueError, match="progress_interval"):
        Trainer(model, SGD(model), progress_interval=0)


def test_trainer_evaluates_in_eval_mode_and_restores_the_mode():
    model = Sequential(Linear(3, 2, rng=0))
    trainer = Trainer(model, SGD(model), progress=False)
    model.train()
    trainer.predict(np.zeros((4, 3), dtype=np.float32))
    assert model.training
    loss, acc = trainer.evaluate(np.eye(3, dtype=np.float32)[[0, 1]], np.array([0, 1]))
    assert np.isfinite(loss) and 0 <= acc <= 1


def test_trainer_rejects_an_optimizer_of_another_model_and_mismatched_data():
    a, b = Sequential(Linear(3, 2)), Sequential(Linear(3, 2))
    with pytest.raises(ValueError, match="another model"):
        Trainer(a, SGD(b))
    with pytest.raises(ValueError, match="5 images but 4 labels"):
        Trainer(a, SGD(a), progress=False).fit(np.zeros((5, 3), dtype=np.float32), np.zeros(4, dtype=np.int64))


# --------------------------------------------------------------------------
# Saving and loading weights
# --------------------------------------------------------------------------


def test_save_load_round_trip_is_exact(tmp_path):
    model = SimpleConvNet(seed=3)
    path = save_weights(model, tmp_path / "weights")
    assert path.suffix == ".npz"
    fresh = SimpleConvNet(seed=4)
    assert not np.array_equal(fresh["conv1"].params["weight"], model["conv1"].params["weight"])
    load_weights(fresh, path)
    for (name, a, _), (name_b, b, _) in zip(model.parameters(), fresh.parameters()):
        assert name == name_b and a.dtype == b.dtype
        np.testing.assert_array_equal(a, b)
    x = np.random.default_rng(5).random((3, 1, 28, 28), dtype=np.float32)
    np.testing.assert_array_equal(model.forward(x), fresh.forward(x))


def test_loading_into_a_different_model_fails_clearly(tmp_path):
    path = save_weights(SimpleConvNet(hidden_size=50), tmp_path / "w.npz")
    with pytest.raises(ValueError, match=r"parameter 'fc1.weight': model has shape \(100, 4320\), file has \(50, 4320\)"):
        load_weights(SimpleConvNet(), path)
    with pytest.raises(KeyError, match="missing"):
        load_weights(LeNet5(), path)


# --------------------------------------------------------------------------
# Training figures (cnnlib.viz.training)
# --------------------------------------------------------------------------


def test_training_figures_draw_what_they_are_given():
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from cnnlib import viz

    history = {"epoch": [1, 2], "train_loss": [0.5, 0.2], "train_acc": [0.8, 0.9],
               "val_loss": [0.4, 0.3], "val_acc": [0.85, 0.88]}
    fig = viz.plot_learning_curves(history)
    assert len(fig.axes) == 2 and len(fig.axes[0].lines) == 2 and list(fig.axes[1].lines[1].get_ydata()) == [0.85, 0.88]
    fig = viz.plot_filter_grid(np.zeros((30, 1, 5, 5)), ncols=10)
    assert len(fig.axes) == 30
    images = np.zeros((4, 1, 28, 28))
    fig = viz.plot_misclassified(images, np.array([1, 2, 3, 4]), np.array([1, 0, 3, 0]))
    assert [ax.get_title() for ax in fig.axes] == ["2 → 0", "4 → 0"]
    with pytest.raises(ValueError, match="no misclassified"):
        viz.plot_misclassified(images, np.array([1, 2, 3, 4]), np.array([1, 2, 3, 4]))
    # plot_feature_maps' layout is tested in tests/test_viz_training.py
    with pytest.raises(ValueError, match="one sample"):
        viz.plot_feature_maps(images[0], [("conv", np.zeros((1, 3, 24, 24)))])
    plt.close("all")
