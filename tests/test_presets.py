"""The presets follow the notebook: a table of its sizes, epochs, batch sizes, splits and parameter counts."""

import pytest

from dlexp.data import datasets as data
from dlexp.config import experiment
from dlexp.nn import models
from dlexp.notebook.exercises import all_exercises, names
from dlexp.config.presets import list_presets

# preset, variant -> (dataset, hidden, activation, epochs, batch, val split, early stopping patience or None)
NOTEBOOK = {
    ("shallow_vs_deep", "shallow"): ("spiral", (1000,), "relu", 50, 32, 0.2, None),
    ("shallow_vs_deep", "deep"): ("spiral", (100, 100, 100), "relu", 50, 32, 0.2, None),
    ("activation_comparison", "relu"): ("moons_circles", (128, 64, 32), "relu", 50, 32, 0.2, 10),
    ("activation_comparison", "gelu"): ("moons_circles", (128, 64, 32), "gelu", 50, 32, 0.2, 10),
    ("representations", "default"): ("moons_circles", (128, 64, 32), "relu", 30, 32, 0.2, None),
    ("dead_relu", "zeros"): ("moons_circles", (256, 128, 64), "relu", 20, 32, 0.2, None),
    ("gradient_clipping", "clipvalue"): ("unstable", (128, 128, 128, 128), "tanh", 50, 32, 0.2, None),
    ("batch_norm", "batchnorm_dropout"): ("moons_circles", (256, 128, 64, 32), "relu", 50, 32, 0.2, 10),
}


def _job(compose, preset, variant):
    jobs = experiment.expand(compose([f"+exp={preset}"]))
    return next(j for j in jobs if j.spec.variant == variant)


@pytest.mark.parametrize("key", list(NOTEBOOK))
def test_preset_settings_match_the_notebook(compose, key):
    preset, variant = key
    dataset, hidden, act, epochs, batch, val, patience = NOTEBOOK[key]
    s = _job(compose, preset, variant).spec
    assert s.dataset.name == dataset
    assert s.model.hidden == hidden
    assert s.activation.name == act
    assert (s.trainer.epochs, s.trainer.batch_size, s.trainer.validation_split) == (epochs, batch, val)
    assert s.trainer.test_size == 0.2 and s.trainer.split_seed == 42
    es = s.trainer.early_stopping
    assert (es.patience if es.enabled else None) == patience
    if patience:
        assert es.restore_best and es.monitor == "val_loss"


def test_exercise1_parameter_counts(compose):
    """6,003 and 20,803 parameters, as Keras counts them (and as the notebook prints)."""
    for variant, expected in (("shallow", 6003), ("deep", 20803)):
        spec = _job(compose, "shallow_vs_deep", variant).spec
        assert models.count_params(spec, input_dim=2, n_classes=3) == expected


def test_parameter_count_formula_matches_keras(compose):
    for preset, variant in (("shallow_vs_deep", "deep"), ("batch_norm", "batchnorm_dropout")):
        spec = _job(compose, preset, variant).spec
        ds = data.load(spec.dataset, 0.2, 42, True)
        assert models.build(spec, ds.input_dim, ds.n_classes).count_params() == \
            models.count_params(spec, ds.input_dim, ds.n_classes)


@pytest.mark.slow
def test_exercise_specific_settings(compose):
    dead = {j.spec.variant: j.spec for j in experiment.expand(compose(["+exp=dead_relu"]))}
    assert dead["random_normal"].initializer.params == {"mean": 0.0, "stddev": 0.5}
    assert dead["he_normal"].initializer.name == "he_normal"
    clip = {j.spec.variant: j.spec for j in experiment.expand(compose(["+exp=gradient_clipping"]))}
    assert clip["no_clipping"].clipping.kind == "none"
    assert (clip["clipvalue"].clipping.kind, clip["clipvalue"].clipping.value) == ("value", 1.0)
    assert clip["clipvalue"].trainer.stratify is False  # the notebook's Exercise 7 split is not stratified
    bn = {j.spec.variant: j.spec for j in experiment.expand(compose(["+exp=batch_norm"]))}
    assert bn["batchnorm"].normalization.placement == "pre_activation"
    assert bn["dropout"].model.dropout == 0.3 and bn["plain"].normalization.kind == "none"
    act = experiment.expand(compose(["+exp=activation_comparison"]))
    assert {j.spec.variant for j in act} == {"relu", "elu", "selu", "swish", "gelu"}
    assert all(j.spec.model.dropout == 0.3 and j.spec.normalization.placement == "post_activation" for j in act)
    deepest = experiment.expand(compose(["+exp=deepest_network"]))
    assert max(len(j.spec.model.hidden) for j in deepest) >= 50
    assert {j.spec.model.kind for j in deepest} == {"mlp", "residual"}


def test_data_sets_have_the_notebooks_sizes():
    from dlexp.data.generators import moons_circles, spiral, unstable

    sp = data.load(spiral.Config(), 0.2, 42, True)
    assert sp.n_samples == 999 and len(sp.x_test) == 200 and sp.n_classes == 3
    mc = data.load(moons_circles.Config(), 0.2, 42, True)
    assert mc.n_samples == 1000 and len(mc.x_test) == 200 and mc.n_classes == 4
    un = data.load(unstable.Config(), 0.2, 42, False)
    assert un.x_train.shape == (800, 10) and un.binary


def test_every_exercise_names_existing_presets():
    presets = {n for n, _ in list_presets()}
    assert names()[:8] == ["shallow_vs_deep", "vanishing_gradients", "modern_activations", "activation_comparison",
                           "representations", "dead_relu", "gradient_clipping", "batch_norm"]
    for ex in all_exercises():
        assert set(ex.presets) <= presets, ex.name
        assert ex.presets or ex.analysis, ex.name


def test_reproduce_draws_tsne_for_the_first_seed_only_and_still_stacks_the_seeds():
    """The report shows the first seed's t-SNE; the other seeds keep their probe tables but skip
    the embedding, and the flag must not split the seeds into separate stacks."""
    from dlexp.notebook import exercises
    from dlexp.notebook import reproduce
    from dlexp.run import runner

    args = reproduce.parse_args(["representations", "--seeds", "3", "--progress", "none"])
    (_, _, _, jobs), = reproduce.compose_jobs([exercises.load("representations")], [42, 43, 44], args)
    assert [(j.spec.seed, j.spec.trainer.probes, j.spec.trainer.tsne) for j in jobs] == [
        (42, True, True), (43, True, False), (44, True, False)]
    assert runner.plan(jobs) == [jobs]


def test_reproduce_reruns_only_the_variants_a_variation_needs():
    """deepest_network has dozens of variants; its claims under the low-noise spiral compare five of
    them, so the variation trains those five (at noise 0.05, in their own folder), not all."""
    from dlexp.notebook import exercises
    from dlexp.notebook import reproduce

    ex = exercises.load("deepest_network")
    plans = reproduce.compose_jobs([ex], [42], reproduce.parse_args(["deepest_network", "--seeds", "1"]))
    names = {name: jobs for _, name, _, jobs in plans}
    varied = names["deepest_network__low_noise"]
    assert {j.spec.variant for j in varied} == {"plain,bn,he,depth50", "plain,nobn,he,depth50", "residual,nobn,he,depth50",
                                                "plain,nobn,he,depth20", "plain,nobn,glorot,depth20"}
    assert {j.spec.dataset.noise for j in varied} == {0.05}
    assert len(names["deepest_network"]) > 2 * len(varied)
    no_var = reproduce.compose_jobs([ex], [42], reproduce.parse_args(["deepest_network", "--no-variations"]))
    assert [name for _, name, _, _ in no_var] == ["deepest_network"]


@pytest.mark.slow
@pytest.mark.parametrize("flags,diagnostics,every", [([], True, 0), (["--diagnostics"], True, 1)])
def test_reproduce_measures_layers_where_the_report_reads_them(flags, diagnostics, every):
    """Exercise 2's report and claims read per-layer stats at epoch 0 and the last epoch only, so
    reproduce measures just those (`--diagnostics`: every epoch); Exercise 7's curve every 5th
    epoch; Exercise 6 reads every epoch (its gradient norms at initialization only); Exercise 4
    none at all."""
    from dlexp.notebook import exercises
    from dlexp.notebook import reproduce

    args = reproduce.parse_args(["vanishing_gradients", "--seeds", "1", "--progress", "none", *flags])
    names = ["vanishing_gradients", "dead_relu", "activation_comparison", "gradient_clipping"]
    plans = reproduce.compose_jobs([exercises.load(n) for n in names], [42], args)
    trainer = {ex.name: jobs[0].spec.trainer for ex, _, _, jobs in plans}
    assert (trainer["vanishing_gradients"].diagnostics, trainer["vanishing_gradients"].diagnostics_every) == (diagnostics, every)
    assert (trainer["dead_relu"].diagnostics, trainer["dead_relu"].diagnostics_every) == (True, 1)
    # ... but its gradient norms only at initialization (and the last epoch)
    assert trainer["dead_relu"].grad_norm_every == (0 if not flags else None)
    assert trainer["vanishing_gradients"].grad_norm_every is None
    assert trainer["gradient_clipping"].diagnostics_every == (5 if not flags else 1)
    assert trainer["activation_comparison"].diagnostics is bool(flags)


def test_exercise_layer_stats_field_is_checked(tmp_path, monkeypatch):
    from dlexp.notebook import exercises
    from dlexp.errors import ConfigError

    monkeypatch.setattr(exercises, "exercises_dir", lambda: tmp_path)
    for text, message in [("layer_stats: sometimes", "layer_stats: got 'sometimes'; allowed: true or false"),
                          ("layer_stats_every: -1", "layer_stats_every: got -1; allowed: an integer >= 0"),
                          ("layer_stats_every: ends", "layer_stats_every: got 'ends'; allowed: an integer >= 0"),
                          ("grad_norm_every: -2", "grad_norm_every: got -2; allowed: null or an integer >= 0")]:
        (tmp_path / "odd.yaml").write_text(f"presets: [dead_relu]\n{text}\n")
        with pytest.raises(ConfigError, match=message):
            exercises.load("odd")
