"""SimpleConvNet(weight_init_std=...): Saito's fixed-scale Gaussian initialisation."""

from __future__ import annotations

import numpy as np
import pytest

from cnnlib.models import SimpleConvNet


def test_every_weight_has_the_given_scale():
    model = SimpleConvNet(weight_init_std=0.01, seed=0)
    for name, tolerance in (("conv1", 0.1), ("fc1", 0.01), ("fc2", 0.1)):  # ~4 standard errors of a std estimate
        weight = model[name].params["weight"]
        assert weight.dtype == np.float32
        assert abs(weight.std() / 0.01 - 1) < tolerance, (name, weight.std())
        assert abs(weight.mean()) < 4 * 0.01 / np.sqrt(weight.size)
        np.testing.assert_array_equal(model[name].params["bias"], 0)


def test_default_is_he_and_the_option_changes_only_the_scale_rule():
    he = SimpleConvNet(seed=0)
    assert abs(he["conv1"].params["weight"].std() / np.sqrt(2 / 25) - 1) < 0.1
    assert abs(he["fc1"].params["weight"].std() / np.sqrt(2 / 4320) - 1) < 0.01
    small = SimpleConvNet(seed=0, weight_init_std=0.01)
    assert small["fc1"].params["weight"].std() < he["fc1"].params["weight"].std() / 2


def test_seeded():
    a = SimpleConvNet(seed=5, weight_init_std=0.01)
    b = SimpleConvNet(seed=5, weight_init_std=0.01)
    c = SimpleConvNet(seed=6, weight_init_std=0.01)
    np.testing.assert_array_equal(a["conv1"].params["weight"], b["conv1"].params["weight"])
    assert not np.array_equal(a["conv1"].params["weight"], c["conv1"].params["weight"])


@pytest.mark.parametrize("bad", [0, -0.01, float("nan"), float("inf")])
def test_bad_scale(bad):
    with pytest.raises(ValueError, match="weight_init_std"):
        SimpleConvNet(weight_init_std=bad)
