"""models.layer_names / initial_weights describe exactly what models.build makes (the stack
trainer relies on them instead of building a Keras model per member)."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np
import pytest

from dlexp.config import schema as C
from dlexp.nn import models


def make_spec(**groups) -> C.RunSpec:
    cfg = {"dataset": {"name": "moons_circles"}, "model": {"hidden": [16, 8, 8]}, "trainer": {"seed": 7}}
    for group, values in groups.items():
        cfg[group] = {**cfg.get(group, {}), **values}
    return C.to_spec(cfg)


CASES = {
    "plain": make_spec(),
    "bn_post_dropout": make_spec(normalization={"kind": "batchnorm"}, model={"dropout": 0.3}),
    "bn_pre_he": make_spec(normalization={"kind": "batchnorm", "placement": "pre_activation"},
                           initializer={"name": "he_normal"}),
    "residual_normal": make_spec(initializer={"name": "random_normal", "params": {"mean": 0.0, "stddev": 0.5}},
                                 model={"kind": "residual", "hidden": [8, 8, 8, 8, 8], "block_size": 2,
                                        "dropout": 0.1}),
    "zeros": make_spec(initializer={"name": "zeros", "params": {}}),
}


@pytest.mark.parametrize("name", sorted(CASES))
@pytest.mark.parametrize("n_classes", [2, 4])
def test_layer_names_and_initial_weights_match_build(name, n_classes):
    spec = CASES[name]
    net = models.build(spec, 2, n_classes)
    assert [layer.name for layer in net.layers] == models.layer_names(spec)
    init = models.initial_weights(spec, 2, n_classes)
    built = {layer.name: layer.get_weights() for layer in net.layers if layer.get_weights()}
    assert set(built) == set(init)
    for layer_name, weights in built.items():
        assert len(weights) == len(init[layer_name])
        assert all(np.array_equal(a, b) for a, b in zip(weights, init[layer_name])), layer_name
    assert net.count_params() == models.count_params(spec, 2, n_classes)


@pytest.mark.parametrize("n_classes", [2, 4])
def test_solo_test_loss_is_model_evaluates_even_for_confidently_wrong_runs(n_classes):
    """training.evaluate (the solo path's test loss) must equal model.evaluate, also when the true
    class gets a probability below Keras' 1e-7 clip (weights scaled up, as in a diverging run)."""

    from dlexp.train import keras_fit as training
    from dlexp.data.datasets import Dataset

    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(50, 2)).astype("float32"), rng.integers(0, n_classes, 50)
    data = Dataset("tiny", x, y, x, y, n_classes=n_classes)
    model = models.build(make_spec(), 2, n_classes)
    model.set_weights([w * 40 for w in model.get_weights()])
    loss = training.loss_for(data)
    model.compile(loss=loss, metrics=["accuracy"])
    want_loss, want_acc = model.evaluate(x, y, verbose=0)
    got_loss, got_acc = training.evaluate(model, loss, x, y, chunk=16)  # chunks of 16, 16, 16, 2
    assert want_loss > 20  # far beyond what clipped probabilities allow (-log(1e-7) = 16.1)
    assert got_loss == pytest.approx(want_loss, rel=1e-5)
    assert got_acc == pytest.approx(want_acc)
