"""The vectorized stack trainer against the reference, ``training.fit_one``.

Equivalence is tested, not assumed: a member of a stack and the solo Keras
fit see the same batches (``data.epoch_order``) and the same dropout masks
(Keras' own draws), so they must end with the same weights, to float32
rounding. Tiny data (200 samples: 128 fit rows, batches of 24 so the last
batch is smaller, as Keras makes it) and 1-8 epochs keep the module fast.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import math
import statistics
import tracemalloc
from dataclasses import replace

import numpy as np
import pytest

from dlexp.config import schema as C
from dlexp.data import datasets as D
from dlexp.nn import models
from dlexp.train.stack import fit as stack
from dlexp.train.stack import engine as stack_engine
from dlexp.train.stack import ops as stack_ops
from dlexp.train import keras_fit as training

WEIGHT_ATOL = 1e-4  # observed: <= 3e-6 after 12 steps
METRIC_RTOL = 1e-5  # observed: <= 3e-7


def make_spec(dataset=None, **groups) -> C.RunSpec:
    """A tiny run; ``groups`` like ``optimizer={"name": "sgd"}`` override the base."""
    cfg = {
        "dataset": dataset or {"name": "moons_circles", "n_samples": 100},
        "model": {"hidden": [16, 8]},
        "optimizer": {"name": "adam", "learning_rate": 0.01},
        "trainer": {"epochs": 2, "batch_size": 24, "shuffle": False, "diagnostics": False, "progress": "none"},
    }
    for group, values in groups.items():
        cfg[group] = {**cfg.get(group, {}), **values}
    return C.to_spec(cfg)


def load(spec: C.RunSpec) -> D.Dataset:
    t = spec.trainer
    return D.load(spec.dataset, t.test_size, t.split_seed, t.stratify)


@pytest.fixture(scope="module")
def moons() -> D.Dataset:
    return load(make_spec())


def max_weight_diff(a, b) -> float:
    wa, wb = a.keras_model().get_weights(), b.keras_model().get_weights()
    assert [w.shape for w in wa] == [w.shape for w in wb]
    return max(float(np.abs(x - y).max()) for x, y in zip(wa, wb))


def assert_same_run(solo, member) -> None:
    assert max_weight_diff(solo, member) < WEIGHT_ATOL
    assert len(solo.history) == len(member.history)
    for r_solo, r_member in zip(solo.history, member.history):
        assert r_member["epoch"] == r_solo["epoch"]
        for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
            assert r_member[key] == pytest.approx(r_solo[key], rel=METRIC_RTOL, abs=1e-6), key
    assert member.test_loss == pytest.approx(solo.test_loss, rel=METRIC_RTOL)
    assert member.test_accuracy == pytest.approx(solo.test_accuracy, abs=1e-6)
    assert (member.status, member.epochs_run, member.best_epoch) == (solo.status, solo.epochs_run, solo.best_epoch)
    assert member.param_count == solo.param_count


# ---------------------------------------------------------------- equivalence with fit_one

# Adam and SGD, each with and without batchnorm, and every clipping kind, with the
# cases below: Adam + batchnorm + clipvalue + diagnostics (stacks of three and one),
# Adam + batchnorm + dropout + shuffling + global_clipnorm under XLA, dropout +
# shuffling without batchnorm (the seed-spread test), RMSprop on a residual MLP
# with mixed activations and initializers, RMSprop with momentum.
EQUIVALENCE_CASES = {
    "adam_clipnorm": {"clipping": {"kind": "norm", "value": 0.1}},
    "sgd_momentum_global_clipnorm_binary": {
        "optimizer": {"name": "sgd", "learning_rate": 0.05, "momentum": 0.9}, "clipping": {"kind": "global_norm", "value": 0.2},
        "dataset": {"name": "classification", "n_samples": 200, "n_features": 6, "n_informative": 4, "n_redundant": 1,
                    "n_classes": 2}},  # one sigmoid unit, binary cross-entropy
    "sgd_bn_pre": {"optimizer": {"name": "sgd", "learning_rate": 0.05},
                   "normalization": {"kind": "batchnorm", "placement": "pre_activation"}},
    # the notebook's batches: one shuffled order repeated every epoch
    "sgd_one_order_every_epoch": {"optimizer": {"name": "sgd", "learning_rate": 0.05}, "trainer": {"reshuffle": False, "shuffle": True}},
    "rmsprop_momentum": {"optimizer": {"name": "rmsprop", "learning_rate": 0.003, "momentum": 0.5}},
}


@pytest.mark.equivalence
@pytest.mark.slow
@pytest.mark.parametrize("case", list(EQUIVALENCE_CASES))
def test_member_of_stack_matches_fit_one(case, moons):
    groups = dict(EQUIVALENCE_CASES[case])
    dataset = groups.pop("dataset", None)
    spec = make_spec(dataset, **groups).with_seed(5)
    data = load(spec) if dataset else moons
    members = stack.fit_stack([spec.with_seed(11), spec, spec.with_seed(12)], data, jit=False)
    solo = training.fit_one(spec, data)
    assert_same_run(solo, members[1])
    assert max_weight_diff(members[0], members[1]) > 1e-2  # the others really are other networks
    assert members[1].keras_model().output_shape[-1] == (1 if data.binary else data.n_classes)


@pytest.mark.equivalence
@pytest.mark.slow
def test_xla_compiled_stack_matches_fit_one(moons):
    """The whole step under XLA (jit=True), with mixed clipping kinds so every branch of
    clip_members is compiled."""
    spec = make_spec(normalization={"kind": "batchnorm"}, model={"dropout": 0.2},
                     clipping={"kind": "global_norm", "value": 0.5}, trainer={"shuffle": True}).with_seed(4)
    no_dropout = replace(spec, model=replace(spec.model, dropout=0.0),
                         clipping=C.ClippingConfig(kind="value", value=0.1)).with_seed(8)
    members = stack.fit_stack([no_dropout, spec], moons, jit=True)
    assert_same_run(training.fit_one(spec, moons), members[1])
    assert_same_run(training.fit_one(no_dropout, moons), members[0])


def test_fit_stack_refuses_a_jit_that_is_not_a_bool(moons):
    with pytest.raises(ValueError, match="jit must be True or False; got 'fast'"):
        stack.fit_stack([make_spec()], moons, jit="fast")


@pytest.mark.slow
def test_xla_step_is_traced_once_and_pads_the_last_batch(moons):
    """Under XLA a smaller last batch (128 rows in batches of 24: 5 full and 8 rows) goes through
    the same compiled step, padded; the plain step is never traced (one Python trace less)."""
    spec = make_spec(normalization={"kind": "batchnorm"}, model={"dropout": 0.2}, trainer={"shuffle": True})
    specs = [spec.with_seed(3), spec.with_seed(4)]
    n_fit = D.validation_cut(len(moons.x_train), spec.trainer.validation_split)
    engine = stack_engine.StackEngine(specs, moons, n_fit, True)
    assert n_fit % spec.trainer.batch_size
    engine._train_step = lambda *a: pytest.fail("the plain step was traced")
    x, y = moons.x_train[:n_fit], moons.y_train[:n_fit].astype("int64")
    perm = np.stack([D.epoch_order(s.seed, 0, n_fit, True) for s in specs]).astype("int32")
    for epoch in range(2):
        out = engine.train_epoch(perm, np.ones(2, bool), engine.dropout_seeds(epoch), x, y, x[:0], y[:0],
                                 0, engine.n_batches)
        np.testing.assert_array_equal(out[2].numpy(), [n_fit, n_fit])  # rows counted: the padding is not
    assert engine._full_step.experimental_get_tracing_count() == 1


def test_layer_rows_in_small_chunks_match_one_pass(moons, monkeypatch):
    """layer_rows measures in chunks of diag_chunk rows to bound the backward pass' memory: the
    activation stats add up over all rows and the gradient over the first GRAD_SAMPLES only,
    whatever the chunking (here 32-row chunks, and 100 gradient rows of 128, so one chunk ends at
    the gradient cut and the last one is forward-only)."""
    specs = [make_spec(model={"hidden": [16, 8], "dropout": 0.2}, trainer={"diagnostics": True}).with_seed(s)
             for s in (1, 2)]
    monkeypatch.setattr(stack_engine, "GRAD_SAMPLES", 100)
    whole = stack.fit_stack(specs, moons)
    monkeypatch.setattr(stack_engine, "_DIAG_FLOATS", 1)  # diag_chunk = its floor, 32 rows
    chunked = stack.fit_stack(specs, moons)
    for a, b in zip(whole, chunked):
        assert len(a.layer_stats) == len(b.layer_stats) == 3 * 2
        for ra, rb in zip(a.layer_stats, b.layer_stats):
            for key in ("epoch", "layer", "units", "dead_fraction", "weight_proxy_dead_fraction"):
                assert ra[key] == rb[key], key
            for key in ("act_mean", "act_std", "grad_norm"):
                assert ra[key] == pytest.approx(rb[key], rel=1e-5, abs=1e-8), key
    monkeypatch.setattr(stack_engine, "GRAD_SAMPLES", 128)  # the gradient really was of the first 100 rows only
    other = [r["grad_norm"] for r in stack.fit_stack(specs, moons)[0].layer_stats]
    assert other != pytest.approx([r["grad_norm"] for r in whole[0].layer_stats], rel=1e-5)


def test_layer_rows_gradient_sum_is_the_flat_sum_without_whole_copies(moons, monkeypatch):
    """layer_rows adds each chunk's gradient into one float64 (M, P) array weight by weight: the
    sums are bit for bit those of the flat float32 copy cast to float64, for weights sharing a
    variable and weights with their own, and the heap it takes while measuring stays under 2.2
    times that one array (1.8 measured; a flat float32 and a float64 copy of the gradient per
    chunk made it 3.0)."""
    monkeypatch.setattr(stack_engine, "OWN_VARIABLE_FLOATS", 2000)  # the wide kernels get their own
    specs = [make_spec(model={"hidden": [256, 256]}, trainer={"diagnostics": True}).with_seed(s) for s in (1, 2, 3, 4)]
    engine = stack.prepare(specs, moons).engine
    assert len(engine.groups) > 1 and any(len(g) > 1 for g in engine.groups)
    rng = np.random.default_rng(0)
    chunks = [[rng.standard_normal(v.shape).astype("float32") for v in engine.params] for _ in range(3)]
    for arrays in chunks:
        arrays[0][0, 0] = -0.0  # a sum of negative zeros: +0.0 both ways, which tobytes tells apart
    expected = 0.0
    for arrays in chunks:
        expected = expected + engine._flat(arrays).astype(np.float64)
    total = None
    for arrays in chunks:
        total = engine._add_flat(total, arrays)
    assert total.dtype == np.float64 and total.tobytes() == expected.tobytes()
    named = engine.layout.named(engine._by_weight(chunks[0]))  # layer_rows' kernels, without the flat copy
    flat = engine.layout.split(engine._flat(chunks[0]))
    assert list(named) == list(flat)
    for name in flat:
        np.testing.assert_array_equal(named[name], flat[name])

    x, y = moons.x_train[:engine.n_fit], moons.y_train[:engine.n_fit].astype("int64")
    engine.diag_chunk = 32  # more than one chunk, so a copy made per chunk would show in the peak
    engine.layer_rows(0, x, y)  # traced before measuring: tracing allocates too
    tracemalloc.start()
    try:
        rows = engine.layer_rows(1, x, y)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    one_array = len(specs) * sum(engine.layout.sizes) * 8
    assert len(rows) == 4 and all(math.isfinite(r["grad_norm"]) for r in rows[0])
    assert peak < 2.2 * one_array, (peak, one_array)


@pytest.mark.equivalence
@pytest.mark.slow
def test_stacks_of_three_and_of_one_match_fit_one_with_diagnostics_and_sinks(moons):
    spec = make_spec(normalization={"kind": "batchnorm"}, clipping={"kind": "value", "value": 0.05},
                     trainer={"diagnostics": True}).with_seed(3)
    solo = training.fit_one(spec, moons)
    assert_same_run(solo, stack.fit_stack([spec.with_seed(1), spec.with_seed(2), spec], moons)[2])
    epochs, layers = [], []
    (member,) = stack.fit_stack([spec], moons, on_epoch=[epochs.append], on_layer_rows=[layers.append])
    assert_same_run(solo, member)
    assert epochs == member.history and [r for rows in layers for r in rows] == member.layer_stats
    assert [rows[0]["epoch"] for rows in layers] == [0, 1, 2]
    assert set(member.history[0]) == set(solo.history[0])
    assert member.history[0]["lr"] == solo.history[0]["lr"]
    assert len(member.layer_stats) == len(solo.layer_stats) == 3 * len(spec.model.hidden)
    for r_solo, r_member in zip(solo.layer_stats, member.layer_stats):
        assert set(r_member) == set(r_solo)
        for key in ("epoch", "layer", "units", "dead_fraction", "weight_proxy_dead_fraction"):
            assert r_member[key] == r_solo[key], key
        for key in ("act_mean", "act_std"):
            assert r_member[key] == pytest.approx(r_solo[key], rel=1e-4, abs=1e-7), key
        # Adam's fused kernel (stack_ops.Optimizer.apply_fused) rounds 1 - beta_2 as float32
        # 1 - 0.999f, Keras as 0.001f: after 3 epochs the weights differ by ~1e-6, enough for one
        # ReLU to flip on a sample, which moved one layer's gradient norm here by 1.2e-3 relative.
        assert r_member["grad_norm"] == pytest.approx(r_solo["grad_norm"], rel=1e-2), r_member
    # The returned Keras model holds the member's weights (BN moving stats included).
    predicted = training.predict_classes(member.keras_model(), moons.x_test)
    assert np.mean(predicted == moons.y_test) == pytest.approx(member.test_accuracy, abs=1e-6)
    # ... and the stack's own predictions (decision grids) are the model's.
    assert np.array_equal(member.classes(moons.x_test), predicted)
    assert member.param_count == models.count_params(spec, moons.input_dim, moons.n_classes)


@pytest.mark.equivalence
@pytest.mark.slow
@pytest.mark.parametrize("grad_norm_every", [None, 0])
def test_diagnostics_every_n_epochs_and_the_last_one_trained_match_fit_one(moons, grad_norm_every):
    """trainer.diagnostics_every=2: epoch 0, epochs 2, 4, ... and the last epoch a run trains
    (its budget's, or where early stopping ends it), in the stack as in the solo fit; with
    grad_norm_every=0, gradient norms at each member's first and last of those only."""
    base = make_spec(optimizer={"name": "sgd"}, trainer={"diagnostics": True, "diagnostics_every": 2, "epochs": 5,
                                                         "grad_norm_every": grad_norm_every})
    stopped = replace(base.trainer, epochs=8, early_stopping=C.EarlyStoppingConfig(enabled=True, patience=1))
    specs = [base.with_seed(3), replace(base, optimizer=replace(base.optimizer, learning_rate=3.0),
                                        trainer=stopped).with_seed(4)]
    members = stack.fit_stack(specs, moons)
    assert sorted({r["epoch"] for r in members[0].layer_stats}) == [0, 2, 4, 5]
    last = members[1].epochs_run
    assert last < 8  # the learning rate makes it stop early
    assert sorted({r["epoch"] for r in members[1].layer_stats}) == sorted({0, *range(2, last, 2), last})
    for spec, member in zip(specs, members):
        solo = training.fit_one(spec, moons)
        assert_same_run(solo, member)
        assert [(r["epoch"], r["layer"]) for r in solo.layer_stats] == [(r["epoch"], r["layer"]) for r in member.layer_stats]
        with_grads = [not math.isnan(r["grad_norm"]) for r in member.layer_stats]
        assert with_grads == [not math.isnan(r["grad_norm"]) for r in solo.layer_stats]
        ends = {0, member.epochs_run}
        assert with_grads == [grad_norm_every is None or r["epoch"] in ends for r in member.layer_stats]
        for r_solo, r_member in zip(solo.layer_stats, member.layer_stats):
            assert r_member["grad_norm"] == pytest.approx(r_solo["grad_norm"], rel=1e-4, abs=1e-7, nan_ok=True)
            assert r_member["dead_fraction"] == r_solo["dead_fraction"]


def test_gradient_norms_only_where_due_and_no_backward_pass_elsewhere(moons, monkeypatch):
    """trainer.grad_norm_every=0 with diagnostics every epoch: every epoch's activation columns,
    gradient norms at epoch 0 and the last epoch only (NaN between); the stack runs its backward
    pass only at those epochs, and its forward-only epochs cut the rows into the same chunks, so
    their activation columns are those of a fit measuring everything, bit for bit."""
    monkeypatch.setattr(stack_engine, "_DIAG_FLOATS", 1)  # the smallest chunks (32 rows): 4 of them here
    base = make_spec(trainer={"diagnostics": True, "epochs": 3})
    lean = replace(base, trainer=replace(base.trainer, grad_norm_every=0))
    backward: list[int] = []
    real = stack_engine.StackEngine.layer_rows

    def counted(self, epoch, x, y, gradients=None):
        assert self.diag_chunk < len(x)
        calls = []
        diagnostics = self.diagnostics
        self.diagnostics = lambda *a: calls.append(1) or diagnostics(*a)
        try:
            return real(self, epoch, x, y, gradients)
        finally:
            self.diagnostics = diagnostics
            backward.append(len(calls))

    monkeypatch.setattr(stack_engine.StackEngine, "layer_rows", counted)
    [full] = stack.fit_stack([base.with_seed(3)], moons)
    backward.clear()
    [member] = stack.fit_stack([lean.with_seed(3)], moons)
    assert [n > 0 for n in backward] == [True, False, False, True]
    assert [r["epoch"] for r in member.layer_stats] == [0, 0, 1, 1, 2, 2, 3, 3]
    assert [math.isnan(r["grad_norm"]) for r in member.layer_stats] == [False, False, True, True, True, True, False, False]
    for r_full, r_member in zip(full.layer_stats, member.layer_stats):
        for key in ("dead_fraction", "weight_proxy_dead_fraction", "act_mean", "act_std"):
            assert r_member[key] == r_full[key], key
        if not math.isnan(r_member["grad_norm"]):
            assert r_member["grad_norm"] == r_full["grad_norm"]


def test_grad_norm_every_is_checked():
    from dlexp.config.schema import gradients_due
    from dlexp.errors import ConfigError

    for bad in (-1, True, 1.5):
        with pytest.raises(ConfigError, match="grad_norm_every"):
            replace(make_spec().trainer, grad_norm_every=bad)
    # at the epochs the diagnostics measure (every 2nd and the last), those grad_norm_every picks
    assert [e for e in range(10) if gradients_due(2, 3, e, 9)] == [0, 6, 9]
    assert [e for e in range(10) if gradients_due(2, None, e, 9)] == [0, 2, 4, 6, 8, 9]
    assert gradients_due(2, 0, 3, 9, stopping=True) and not gradients_due(2, 0, 4, 9)


def test_diagnostics_due():
    from dlexp.config.schema import diagnostics_due

    assert [e for e in range(8) if diagnostics_due(3, e, 7)] == [0, 3, 6, 7]
    assert [e for e in range(8) if diagnostics_due(0, e, 7)] == [0, 7]
    assert [e for e in range(8) if diagnostics_due(1, e, 7)] == list(range(8))
    assert diagnostics_due(0, 4, 7, stopping=True)


# ---------------------------------------------------------------- per-member behaviour


def test_early_stopping_stops_members_at_their_own_epochs(moons):
    base = make_spec(optimizer={"name": "sgd"},
                     trainer={"epochs": 8, "early_stopping": {"enabled": True, "patience": 1, "monitor": "val_loss"}})
    specs = [replace(base, optimizer=replace(base.optimizer, learning_rate=lr)) for lr in (0.001, 0.3, 3.0)]
    members = stack.fit_stack(specs, moons)
    assert len({m.epochs_run for m in members}) == 3, [m.epochs_run for m in members]
    assert members[0].epochs_run == 8  # the slow learner never stops improving
    assert all(len(m.history) == m.epochs_run for m in members)
    assert members[2].best_epoch < members[2].epochs_run  # so restore_best_weights matters below
    assert_same_run(training.fit_one(specs[2], moons), members[2])


def test_diverging_member_is_marked_and_does_not_poison_the_others():
    base = make_spec(dataset={"name": "unstable", "n_samples": 200, "scale": 10.0},
                     model={"hidden": [32, 32, 32]}, initializer={"name": "he_normal"},
                     optimizer={"name": "sgd", "momentum": 0.9}, trainer={"epochs": 3, "diagnostics": True})
    ds = load(base)
    lrs = (0.001, 10.0, 0.01)
    specs = [replace(base, optimizer=replace(base.optimizer, learning_rate=lr)) for lr in lrs]
    ok_a, bad, ok_b = stack.fit_stack(specs, ds)
    assert bad.status == "diverged" and bad.diverged_at == 1 and bad.epochs_run == 1
    assert not math.isfinite(bad.history[-1]["loss"])
    for member in (ok_a, ok_b):
        assert member.status == "completed" and member.diverged_at is None and member.epochs_run == 3
        assert all(math.isfinite(r[k]) for r in member.history for k in ("loss", "accuracy", "val_loss", "val_accuracy"))
        assert all(math.isfinite(r["grad_norm"]) for r in member.layer_stats)
        assert math.isfinite(member.test_loss)
    # The same members without the diverging one train identically.
    clean_a, clean_b = stack.fit_stack([specs[0], specs[2]], ds)
    assert max_weight_diff(ok_a, clean_a) < WEIGHT_ATOL and max_weight_diff(ok_b, clean_b) < WEIGHT_ATOL


@pytest.mark.equivalence
@pytest.mark.slow
def test_fused_adam_stays_close_to_keras_over_hundreds_of_steps():
    """Adam's fused kernel rounds 1 - beta as float32 1 - 0.9f and 1 - 0.999f (Keras: 0.1f and
    0.001f), a constant relative difference of up to 1.3e-5 in every step that training compounds.
    Over ~220 steps (20 epochs of 11 batches) a member stays within the tests' tolerances of its
    solo Keras run (measured: weights 9.8e-6, history 3.9e-6 relative); over 1,500 steps (30 epochs
    on 2,000 points) weights drifted to 6.7e-3 while the test loss still agreed to 2e-5 relative."""
    spec = make_spec(dataset={"name": "moons_circles", "n_samples": 400}, trainer={"shuffle": True, "epochs": 20})
    ds = load(spec)
    members = stack.fit_stack([spec.with_seed(1), spec.with_seed(2)], ds)
    n_fit = D.validation_cut(len(ds.x_train), spec.trainer.validation_split)
    assert stack_engine.StackEngine([spec], ds, n_fit, False).fused
    solo = training.fit_one(spec.with_seed(1), ds)
    assert max_weight_diff(solo, members[0]) < WEIGHT_ATOL
    for r_solo, r_member in zip(solo.history, members[0].history):
        for key in ("loss", "val_loss"):
            assert r_member[key] == pytest.approx(r_solo[key], rel=1e-4), key
    assert members[0].test_accuracy == pytest.approx(solo.test_accuracy, abs=1e-6)


@pytest.mark.slow
def test_fused_adam_freezes_a_diverging_member_where_keras_stops_it():
    """Adam through the fused kernel masks no member: an epoch's call ends right after the batch
    where a member's loss turned non-finite (here the first of 8: inputs x1e30 overflow the linear
    and ReLU nets, not the tanh one), that member is frozen there, and the others go on from the
    next batch. Each diverged member ends as its solo fit does; the finite one trains as alone."""
    base = make_spec(dataset={"name": "unstable", "n_samples": 400, "scale": 1e6}, model={"hidden": [32, 32, 32]},
                     initializer={"name": "he_normal"}, trainer={"epochs": 3, "diagnostics": True})
    ds = load(base)  # the config caps the scale at 1e6, so the inputs are scaled to 1e30 here
    ds = replace(ds, x_train=ds.x_train * np.float32(1e24), x_test=ds.x_test * np.float32(1e24))
    specs = [replace(base, activation=replace(base.activation, name=a)).with_seed(i)
             for i, a in enumerate(("linear", "tanh", "relu"))]
    n_fit = D.validation_cut(len(ds.x_train), base.trainer.validation_split)
    assert stack_engine.StackEngine(specs, ds, n_fit, False).fused
    members = stack.fit_stack(specs, ds)
    for i in (0, 2):
        solo, bad = training.fit_one(specs[i], ds), members[i]
        assert (bad.status, bad.diverged_at, bad.epochs_run) == (solo.status, solo.diverged_at, solo.epochs_run)
        assert (bad.status, bad.diverged_at) == ("diverged", 1)
        for a, b in zip(solo.keras_model().get_weights(), bad.keras_model().get_weights()):
            np.testing.assert_allclose(a, b, rtol=1e-5, equal_nan=True)
    ok = members[1]
    assert ok.status == "completed" and ok.epochs_run == 3
    assert_same_run(training.fit_one(specs[1], ds), ok)
    (alone,) = stack.fit_stack([specs[1]], ds)
    assert max_weight_diff(ok, alone) < WEIGHT_ATOL
    assert [r["loss"] for r in ok.history] == pytest.approx([r["loss"] for r in alone.history], rel=METRIC_RTOL)


def test_fused_epoch_ends_after_the_batch_a_member_diverges_in_and_the_others_go_on(moons):
    """The mechanism under the test above, where divergence could come at any batch: member 0's
    output kernel is poisoned after one epoch, so its loss is NaN on the second epoch's first
    batch. The call stops after that batch (applied, as Keras applies it); the member is frozen
    there; member 1's epoch, continued from the next batch, sums as if uninterrupted."""
    specs = [make_spec(trainer={"shuffle": True}).with_seed(s) for s in (1, 2)]
    n_fit = D.validation_cut(len(moons.x_train), specs[0].trainer.validation_split)
    x, y = moons.x_train[:n_fit], moons.y_train[:n_fit].astype("int64")

    def order(epoch):
        return np.stack([D.epoch_order(s.seed, epoch, n_fit, True) for s in specs]).astype("int32")

    def engine_after_one_epoch(poison: bool):
        engine = stack_engine.StackEngine(specs, moons, n_fit, False)
        assert engine.fused and engine.n_batches > 2
        engine.train_epoch(order(0), np.ones(2, bool), engine.dropout_seeds(0), x, y, x[:0], y[:0], 0, engine.n_batches)
        if poison:
            flat = engine.flat_weights()
            flat[0, sum(engine.layout.sizes[:engine.layout.names.index("out_kernel")])] = np.inf
            for var, part in zip(engine.params, engine._grouped(flat)):
                var.assign(part)
        return engine

    frozen = np.zeros(2, bool)

    def freeze(members):
        engine.freeze(members)
        frozen[members] = True

    engine = engine_after_one_epoch(poison=True)
    first = engine.train_epoch(order(1), np.ones(2, bool), engine.dropout_seeds(1), x, y, x[:0], y[:0], 0, engine.n_batches)
    assert int(first[-1]) == 1 and first[3].numpy().tolist() == [False, True]
    engine = engine_after_one_epoch(poison=True)
    out = stack._epoch(engine, np.ones(2, bool), freeze, order(1), engine.dropout_seeds(1), (x, y, x[:0], y[:0]))
    assert frozen.tolist() == [True, False] and out[3].tolist() == [False, True]
    engine.thaw(frozen)
    one_batch = engine_after_one_epoch(poison=True)
    one_batch.train_epoch(order(1), np.ones(2, bool), one_batch.dropout_seeds(1), x, y, x[:0], y[:0], 0, 1)
    np.testing.assert_array_equal(engine.flat_weights()[0], one_batch.flat_weights()[0])
    clean = engine_after_one_epoch(poison=False)
    whole = clean.train_epoch(order(1), np.ones(2, bool), clean.dropout_seeds(1), x, y, x[:0], y[:0], 0, clean.n_batches)
    for got, want in zip(out[:3], whole[:3]):
        assert got[1] == pytest.approx(want.numpy()[1], rel=1e-6)
    np.testing.assert_allclose(engine.flat_weights()[1], clean.flat_weights()[1], rtol=1e-6, atol=1e-7)


def test_different_seeds_start_from_their_own_built_weights(moons):
    spec = make_spec(normalization={"kind": "batchnorm"})
    specs = [spec.with_seed(s) for s in (1, 2)]
    nets = [models.build(s, moons.input_dim, moons.n_classes) for s in specs]
    plan = stack_ops.layer_plan("mlp", spec.model.hidden, 2)
    layout = stack_ops.Layout(moons.input_dim, plan, moons.n_classes, batchnorm=True)
    theta, mean, var = stack_engine._initial_buffers(specs, moons, layout, plan)
    for m, net in enumerate(nets):
        trainable = np.concatenate([w.numpy().ravel() for w in net.trainable_weights])
        assert np.array_equal(theta[m], trainable)  # Keras' trainable order is the buffer's layout
    assert not np.allclose(theta[0], theta[1])
    assert np.all(mean == 0) and np.all(var == 1)


def test_reshuffle_false_repeats_one_order_every_epoch():
    """trainer.reshuffle=false: the notebook's batches (Keras 3.15's fit repeats one permutation under
    tf.random.set_seed); the default draws a new order each epoch."""
    import tensorflow as tf

    from dlexp.train.keras_fit import epoch_batches

    x, y = np.arange(40, dtype="float32").reshape(20, 2), np.arange(20)

    def orders(reshuffle):
        batches = list(epoch_batches(x, y, 20, seed=3, shuffle=True, start_epoch=0, epochs=3, reshuffle=reshuffle))
        return [tf.cast(b[1], tf.int64).numpy().tolist() for b in batches]

    same, new = orders(False), orders(True)
    assert same[0] == same[1] == same[2] != sorted(same[0])
    assert new[0] != new[1] and new[0] == same[0]


def test_each_seed_has_its_own_batch_order():
    first, other_seed, next_epoch = (D.epoch_order(s, e, 50) for s, e in ((1, 0), (2, 0), (1, 1)))
    assert sorted(first) == list(range(50))
    assert not np.array_equal(first, other_seed) and not np.array_equal(first, next_epoch)
    assert np.array_equal(D.epoch_order(1, 0, 50, shuffle=False), np.arange(50))


def test_member_losses_are_tf_softmax_cross_entropy_bit_for_bit():
    """The raw kernel on the reshaped logits (no wrapper asserts): same values and gradients as
    tf.nn.sparse_softmax_cross_entropy_with_logits, per-member and shared labels alike."""
    import tensorflow as tf

    rng = np.random.default_rng(0)
    logits = tf.constant(rng.normal(size=(3, 7, 4)).astype("float32"))
    for y in (tf.constant(rng.integers(0, 4, (3, 7))), tf.constant(rng.integers(0, 4, (7,)))):
        labels = tf.broadcast_to(y[None], [3, 7]) if y.shape.rank == 1 else y
        with tf.GradientTape(persistent=True) as tape:
            tape.watch(logits)
            ours = stack_ops.member_losses(False, logits, y)
            theirs = tf.nn.sparse_softmax_cross_entropy_with_logits(labels=labels, logits=logits)
        np.testing.assert_array_equal(ours.numpy(), theirs.numpy())
        np.testing.assert_array_equal(tape.gradient(ours, logits).numpy(), tape.gradient(theirs, logits).numpy())


def test_dropout_is_keras_stateless_dropout_per_member():
    import tensorflow as tf

    x = tf.random.stateless_normal([3, 40, 7], seed=[1, 2])
    rates = [0.0, 0.3, 0.9]
    seeds = [tf.constant([s, 5], tf.int32) for s in (11, 12, 13)]
    uniforms = [tf.stack([tf.random.stateless_uniform([40, 7], seed=s) for s in seeds])]
    drop = stack_ops.dropout_fn(uniforms, tf.constant(rates), tf.constant([np.float32(1 / (1 - r)) for r in rates]))
    out = drop(0, x).numpy()
    assert np.array_equal(out[0], x[0].numpy())  # rate 0: as a model without a Dropout layer
    for m in (1, 2):
        ref = tf.nn.experimental.stateless_dropout(x[m], rate=rates[m], seed=seeds[m]).numpy()
        assert np.array_equal(out[m], ref)


@pytest.mark.slow
def test_stack_accuracy_is_within_seed_spread_of_solo(moons):
    spec = make_spec(model={"dropout": 0.1}, optimizer={"learning_rate": 0.03}, trainer={"shuffle": True, "epochs": 4})
    seeds = [21, 22, 23]
    *stacked, again = stack.fit_stack([spec.with_seed(s) for s in seeds + [21]], moons)
    solo = [training.fit_one(spec.with_seed(s), moons) for s in seeds]
    acc_stack, acc_solo = [r.test_accuracy for r in stacked], [r.test_accuracy for r in solo]
    spread = max(statistics.stdev(acc_stack), statistics.stdev(acc_solo), 0.02)
    assert abs(statistics.mean(acc_stack) - statistics.mean(acc_solo)) <= 3 * spread, (acc_stack, acc_solo)
    assert min(acc_stack) > 0.4  # it learned (4 classes: chance is 0.25)
    # Same batches and dropout masks, so in fact every seed matches its solo run,
    # and a seed's run does not depend on who else is in the stack.
    assert all(max_weight_diff(a, b) < WEIGHT_ATOL for a, b in zip(stacked, solo))
    assert max_weight_diff(stacked[0], again) == 0.0
    assert [r["loss"] for r in stacked[0].history] == [r["loss"] for r in again.history]
    assert max_weight_diff(stacked[0], stacked[1]) > 1e-2


# ---------------------------------------------------------------- grouping


def test_stack_key_groups_only_what_a_stack_can_vary():
    base = make_spec()
    key = stack.stack_key(base)
    assert key is not None and hash(key) is not None
    same = [
        base.with_seed(7),
        replace(base, name="other", variant="v2"),
        replace(base, optimizer=replace(base.optimizer, learning_rate=0.1)),
        replace(base, model=replace(base.model, dropout=0.3)),
        replace(base, initializer=C.InitializerConfig("he_normal")),
        replace(base, activation=C.ActivationConfig("leaky_relu", alpha=0.2)),
        replace(base, trainer=replace(base.trainer, progress="plain")),
        replace(base, trainer=replace(base.trainer, epochs=3)),
        make_spec(clipping={"kind": "norm", "value": 1.0}),
        make_spec(trainer={"early_stopping": {"enabled": True, "patience": 2}}),
    ]
    assert all(stack.stack_key(s) == key for s in same)
    different = [
        replace(base, model=replace(base.model, hidden=(8, 8))),
        replace(base, optimizer=replace(base.optimizer, name="sgd")),
        replace(base, trainer=replace(base.trainer, batch_size=32)),
        make_spec(dataset={"name": "moons_circles", "n_samples": 120}),
    ]
    assert all(stack.stack_key(s) != key for s in different)
    assert stack.stack_key(replace(base, activation=C.ActivationConfig("math:tanh"))) is None
    with pytest.raises(ValueError):
        stack.fit_stack([base, different[0]], load(base))


def test_stack_groups_put_members_without_batchnorm_with_one_batchnorm_config():
    base = make_spec()
    post = replace(base, normalization=C.NormalizationConfig("batchnorm"))
    pre = replace(base, normalization=C.NormalizationConfig("batchnorm", placement="pre_activation"))
    custom = replace(base, activation=C.ActivationConfig("math:tanh"))
    other = replace(base, model=replace(base.model, hidden=(8, 8)))
    # plain members join the first BN configuration seen; another BN placement is its own stack;
    # an unstackable spec stands alone.
    assert stack.stack_groups([base, pre, custom, post, base.with_seed(3), other]) == [[0, 1, 4], [2], [3], [5]]
    assert stack.stack_groups([base, base.with_seed(2)]) == [[0, 1]]
    with pytest.raises(ValueError):
        stack.fit_stack([pre, post], load(base))


@pytest.mark.equivalence
@pytest.mark.slow
def test_members_may_differ_in_batchnorm_clipping_epochs_and_early_stopping(moons):
    """Runs of different exercises share a stack: each member matches its solo fit.

    BN here is post-activation: with BN right after a Dense layer, that layer's bias has an
    exactly-zero gradient in exact arithmetic, and Adam turns the rounding noise of its
    float32 value into +-lr steps, so solo and stacked biases (and moving means) drift apart
    by ~1e-3 with no effect on training outputs (measured; kernels still agree to 5e-7)."""
    base = make_spec(trainer={"shuffle": True, "epochs": 4}, model={"hidden": [16, 8], "dropout": 0.2})
    bn = C.NormalizationConfig("batchnorm")
    specs = [
        replace(base, normalization=bn, clipping=C.ClippingConfig("value", 0.05)),
        replace(base, clipping=C.ClippingConfig("global_norm", 0.3)).with_seed(5),
        replace(base, normalization=bn, trainer=replace(base.trainer, epochs=2)),
        make_spec(trainer={"shuffle": True, "epochs": 6, "early_stopping": {"enabled": True, "patience": 1,
                                                                          "restore_best": True}},
                  model={"hidden": [16, 8]}, clipping={"kind": "norm", "value": 0.2}),
    ]
    assert stack.stack_groups(specs) == [[0, 1, 2, 3]]
    members = stack.fit_stack(specs, moons)
    for spec, member in zip(specs, members):
        assert_same_run(training.fit_one(spec, moons), member)
    assert [m.epochs_run for m in members][:3] == [4, 4, 2]


def test_param_groups_give_large_weights_a_variable_of_their_own():
    big = stack_engine.OWN_VARIABLE_FLOATS
    assert stack_engine.param_groups([10, big // 4, 3, big], members=4) == [[0, 2], [1], [3]]
    assert stack_engine.param_groups([10, 20], members=4) == [[0, 1]]
    assert stack_engine.param_groups([big], members=1) == [[0]]


@pytest.mark.slow
def test_weights_in_variables_of_their_own_train_as_in_one_flat_variable(moons, monkeypatch):
    """Which weights share a variable (param_groups) changes no result: the same mixed stack (BN,
    every clipping kind, early stopping with restore, diagnostics) with all weights in one flat
    variable and with most in variables of their own, and a member against its solo fit."""
    base = make_spec(trainer={"shuffle": True, "epochs": 4, "diagnostics": True})
    bn = C.NormalizationConfig("batchnorm")
    specs = [
        replace(base, normalization=bn, clipping=C.ClippingConfig("value", 0.05)),
        replace(base, normalization=bn, clipping=C.ClippingConfig("global_norm", 0.3)).with_seed(5),
        replace(base, clipping=C.ClippingConfig("norm", 0.2)).with_seed(6),
        make_spec(optimizer={"learning_rate": 0.1},
                  trainer={"shuffle": True, "epochs": 6, "diagnostics": True,
                           "early_stopping": {"enabled": True, "patience": 1, "restore_best": True}}).with_seed(7),
    ]
    flat = stack.fit_stack(specs, moons, jit=False)
    monkeypatch.setattr(stack_engine, "OWN_VARIABLE_FLOATS", 64)  # kernels, BN vectors, first bias: their own
    n_fit = D.validation_cut(len(moons.x_train), base.trainer.validation_split)
    groups = stack_engine.StackEngine(specs, moons, n_fit, False).groups
    assert len(groups) > 2 and len(groups[0]) > 1, groups  # shared and own variables both
    split = stack.fit_stack(specs, moons, jit=False)
    for a, b in zip(flat, split):
        assert max_weight_diff(a, b) < 1e-6
        assert (a.epochs_run, a.best_epoch) == (b.epochs_run, b.best_epoch)
        for ra, rb in zip(a.history, b.history):
            for key in ("loss", "accuracy", "val_loss", "val_accuracy"):
                assert rb[key] == pytest.approx(ra[key], rel=1e-6, abs=1e-7), key
        assert len(a.layer_stats) == len(b.layer_stats) > 0
        for ra, rb in zip(a.layer_stats, b.layer_stats):
            for key in ("dead_fraction", "act_mean", "act_std", "grad_norm"):
                assert rb[key] == pytest.approx(ra[key], rel=1e-5, abs=1e-8), key
    assert_same_run(training.fit_one(specs[1], moons), split[1])
    assert split[3].best_epoch < split[3].epochs_run < 6  # stopped early, best weights restored


@pytest.mark.slow
def test_members_may_differ_in_activation_and_initializer(moons):
    base = make_spec(optimizer={"name": "rmsprop", "learning_rate": 0.003},
                     model={"kind": "residual", "hidden": [16, 16, 16], "block_size": 2})
    # tanh members at 0 and 2, so the activation groups are gathered out of and back into order.
    specs = [replace(base, activation=C.ActivationConfig("tanh")),
             replace(base, activation=C.ActivationConfig("leaky_relu", alpha=0.2), initializer=C.InitializerConfig("he_normal")),
             replace(base, activation=C.ActivationConfig("tanh")).with_seed(9)]
    members = stack.fit_stack(specs, moons)
    assert_same_run(training.fit_one(specs[1], moons), members[1])
    assert max_weight_diff(members[0], members[2]) > 1e-2


def test_activation_runs_and_per_member_select_agree():
    """Members sharing an activation in runs get it on their slice; interleaved ones fall back to
    every function with a per-member select. Both give each member exactly its own function's
    values and gradients."""
    import tensorflow as tf

    names = ["relu", "relu", "gelu", "tanh", "tanh", "relu"]  # 3 functions in 4 runs: sliced
    specs = [replace(make_spec(), activation=C.ActivationConfig(n)) for n in names]
    arch = stack_engine._arch(specs, [], binary=False)
    assert [n for _, n in arch.act_runs] == [2, 1, 2, 1]
    z = tf.constant(np.random.default_rng(0).normal(size=(6, 5, 4)).astype("float32") * 3)

    def values_and_grad(a):
        with tf.GradientTape() as tape:
            tape.watch(z)
            out = stack_ops._activate(a, z)
            loss = tf.reduce_sum(out * tf.range(1.0, 5.0))
        return out.numpy(), tape.gradient(loss, z).numpy()

    sliced, select = values_and_grad(arch), values_and_grad(replace(arch, act_runs=None))
    for m, name in enumerate(names):
        want = tf.keras.activations.get(name)(z[m]).numpy()
        np.testing.assert_allclose(sliced[0][m], want, rtol=1e-6, atol=1e-7)
    np.testing.assert_array_equal(sliced[0], select[0])
    np.testing.assert_allclose(sliced[1], select[1], rtol=1e-6, atol=1e-7)
    interleaved = [replace(make_spec(), activation=C.ActivationConfig(n)) for n in ["relu", "tanh"] * 3]
    assert stack_engine._arch(interleaved, [], binary=False).act_runs is None  # 6 runs of 2 functions


@pytest.mark.equivalence
@pytest.mark.slow
@pytest.mark.parametrize("norm", ["none", "post_activation", "pre_activation"])
def test_stack_representations_equal_the_keras_models_layer_outputs(norm, moons):
    """The probes read each hidden layer's output from the stack itself (no Keras model is
    built for them): it must be what training.hidden_representations takes from the model."""
    groups = {"model": {"kind": "residual", "hidden": [16, 16, 16], "block_size": 2, "dropout": 0.2}}
    if norm != "none":
        groups["normalization"] = {"kind": "batchnorm", "placement": norm}
    base = make_spec(**groups)
    members = stack.fit_stack([base, base.with_seed(5)], moons)
    cut = D.validation_cut(len(moons.x_train), base.trainer.validation_split)
    for member in members:
        for x in (moons.x_train[:cut], moons.x_test):
            got = member.representations(x)
            want = training.hidden_representations(member.keras_model(), x)
            assert list(got) == list(want) == ["Input", "Layer 1", "Layer 2", "Layer 3"]
            for name in want:
                np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)


def test_only_the_probed_members_representations_are_kept(moons):
    """A stack's representations are (members, rows, width) per layer: the shared cache keeps only
    the members whose probes read them (a 20-seed reproduction stacks Exercise 5's 20 probed runs
    with Exercise 4's 100 unprobed ones); any other member's are computed alone and not kept."""
    base = make_spec()
    specs = [base, replace(base.with_seed(5), trainer=replace(base.trainer, probes=True)), base.with_seed(7)]
    members = stack.fit_stack(specs, moons)
    for m in (1, 2):
        got = members[m].representations(moons.x_test)
        want = training.hidden_representations(members[m].keras_model(), moons.x_test)
        for name in ("Layer 1", "Layer 2"):
            np.testing.assert_allclose(got[name], want[name], rtol=1e-5, atol=1e-5)
    kept = members[1].representation_fn.func.__self__.reps
    assert [r.shape[0] for reps in kept.values() for r in reps] == [1, 1]  # one member, two layers


def test_weight_copies_are_made_only_for_stacks_that_use_them(moons):
    """EarlyStopping's best weights exist only with early stopping; the fused update's frozen copies
    only when members stop at different times, else at the first freeze (a diverging member)."""
    n_fit = D.validation_cut(len(moons.x_train), 0.2)
    plain = [make_spec().with_seed(s) for s in (1, 2)]
    engine = stack_engine.StackEngine(plain, moons, n_fit, False)
    assert engine.freezes and engine.best == [] and engine.frozen == []
    engine.freeze(np.array([True, False]))
    assert len(engine.frozen) == len(engine._state)
    stopping = [make_spec(trainer={"early_stopping": {"enabled": True}}).with_seed(s) for s in (1, 2)]
    engine = stack_engine.StackEngine(stopping, moons, n_fit, False)
    assert len(engine.best) == len(engine._state) == len(engine.frozen)
