"""Dead units and gradient norms, checked against hand-computed values on tiny arrays and a tiny network."""

import numpy as np
import pytest

from dlexp.train import diagnostics as D


def test_dead_fraction_counts_units_zero_for_every_input():
    acts = np.array([[0.0, 1.0, 0.0], [0.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
    assert D.dead_fraction(acts) == pytest.approx(2 / 3)


def test_dead_fraction_accumulates_over_batches():
    s = D.ActivationSummary.of(np.array([[0.0, 0.0], [0.0, 0.0]]))
    assert s.dead_fraction == 1.0
    s.add(np.array([[0.0, 3.0]]))  # unit 2 fires once: it is alive
    assert s.dead_fraction == 0.5
    assert s.mean == pytest.approx(3.0 / 6)
    assert s.std == pytest.approx(np.std([0, 0, 0, 0, 0, 3.0]))


def test_weight_proxy_is_all_incoming_weights_nonpositive():
    kernel = np.array([[-1.0, 0.5, 0.0], [-2.0, -1.0, 0.0]])  # columns = units
    assert D.weight_proxy_dead_fraction(kernel) == pytest.approx(2 / 3)


def test_loss_variance_is_the_notebooks_tail_variance():
    losses = list(range(20))
    assert D.loss_variance(losses, 10) == pytest.approx(np.var(losses[10:]))


def test_layer_diagnostics_match_hand_computed_values():
    """A 1-input, 2-unit ReLU layer with fixed weights: dead units and dL/dW by hand."""
    import keras

    from dlexp.train.callbacks import LayerDiagnostics

    keras.utils.set_random_seed(0)
    inputs = keras.Input((1,))
    h = keras.layers.Dense(2, name="dense_1")(inputs)
    h = keras.layers.Activation("relu", name="act_1")(h)
    out = keras.layers.Dense(1, activation="sigmoid", name="output")(h)
    model = keras.Model(inputs, out)
    # unit 1: w=+1, b=0 (alive for x>0); unit 2: w=-1, b=-1 (dead for x>=0)
    model.get_layer("dense_1").set_weights([np.array([[1.0, -1.0]]), np.array([0.0, -1.0])])
    model.get_layer("output").set_weights([np.array([[0.5], [0.5]]), np.array([0.0])])
    x = np.array([[1.0], [2.0]], dtype="float32")
    y = np.array([1.0, 0.0], dtype="float32").reshape(-1, 1)
    rows = []
    cb = LayerDiagnostics(x, y, keras.losses.BinaryCrossentropy(), rows.extend)
    cb.set_model(model)
    cb.on_train_begin()
    (row,) = rows
    assert row["dead_fraction"] == 0.5
    assert row["weight_proxy_dead_fraction"] == 0.5
    acts = np.array([[1.0, 0.0], [2.0, 0.0]])
    assert row["act_mean"] == pytest.approx(acts.mean())
    # dL/dW1 for unit 1: mean over samples of (p - y) * v1 * x, with p = sigmoid(0.5 * h1)
    h1 = np.array([1.0, 2.0])
    p = 1 / (1 + np.exp(-0.5 * h1))
    grad_unit1 = np.mean((p - y[:, 0]) * 0.5 * x[:, 0])
    assert row["grad_norm"] == pytest.approx(abs(grad_unit1), rel=1e-4)  # unit 2 gets no gradient (dead)
