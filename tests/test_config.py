"""Every config option composes and validates; bad values fail with one line naming the field."""

import pytest

from dlexp.config import schema as config
from dlexp.config import experiment
from dlexp.errors import ConfigError
from dlexp.config.presets import group_options, list_presets, read_group_option

GROUPS = ["dataset", "model", "activation", "initializer", "normalization", "clipping", "optimizer", "trainer"]


@pytest.mark.slow
@pytest.mark.parametrize("group", GROUPS)
def test_every_group_option_composes_and_validates(compose, group):
    options = group_options(group)
    assert options, group
    for option in options:
        cfg = compose([f"{group}={option}"])
        jobs = experiment.expand(cfg)
        assert len(jobs) == 1 and isinstance(jobs[0].spec, config.RunSpec)


@pytest.mark.parametrize("preset", [name for name, _ in list_presets()])
def test_every_preset_composes_and_expands(compose, preset):
    cfg = compose([f"+exp={preset}"])
    jobs = experiment.expand(cfg)
    assert jobs and all(j.spec.name == cfg.name for j in jobs)
    assert len({j.subdir for j in jobs}) == len(jobs), "every run needs its own folder"


def test_every_preset_has_a_description():
    for name, description in list_presets():
        assert description, name


BAD_VALUES = [
    (["trainer.grad_norm_every=-1"], "trainer.grad_norm_every", "-1"),
    (["trainer.epochs=-1"], "trainer.epochs", "-1"),
    (["trainer.epochs=0"], "trainer.epochs", "0"),
    (["trainer.batch_size=0"], "trainer.batch_size", "0"),
    (["trainer.diagnostics_every=-1"], "trainer.diagnostics_every", "-1"),
    (["trainer.validation_split=1.5"], "trainer.validation_split", "1.5"),
    (["trainer.validation_split=0"], "trainer.validation_split", "0"),
    (["model.hidden=[]"], "model.hidden", "[]"),
    (["model.hidden=[10,-3]"], "model.hidden", "-3"),
    (["model.dropout=1.0"], "model.dropout", "1.0"),
    (["trainer.epochs=abc"], "trainer.epochs", "abc"),
    (["+trainer.foo=1"], "trainer.foo", "foo"),
    (["activation.name=relux"], "activation.name", "relux"),
    (["initializer.name=nope"], "initializer.name", "nope"),
    (["initializer=random_normal", "initializer.params.stddev=-1"], "initializer.params.stddev", "-1"),
    (["initializer=zeros", "+initializer.params.stddev=1"], "initializer.params.stddev", "1"),
    (["clipping.kind=sideways"], "clipping.kind", "sideways"),
    (["clipping=value", "clipping.value=0"], "clipping.value", "0"),
    (["optimizer.learning_rate=-0.1"], "optimizer.learning_rate", "-0.1"),
    (["normalization.placement=middle"], "normalization.placement", "middle"),
    (["dataset.noise=-1"], "dataset.noise", "-1"),
    (["model.kind=residual", "model.hidden=[10,20]"], "model.hidden", "[10, 20]"),
    (["seeds=[1,1]"], "seeds", "[1, 1]"),
    (["+model._target_=os.system"], "model._target_", "_target_"),
]


@pytest.mark.parametrize("overrides,field,value", BAD_VALUES)
def test_bad_values_name_field_value_and_allowed(compose, overrides, field, value):
    cfg = compose(overrides)
    with pytest.raises(ConfigError) as info:
        experiment.expand(cfg)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(field), message
    assert value in message and "allowed" in message, message


def test_variant_errors_name_the_variant(compose):
    cfg = compose(["+exp=shallow_vs_deep", "+variants.broken.model.hidden=[]"])
    with pytest.raises(ConfigError, match=r"^variants\.broken\.model\.hidden"):
        experiment.expand(cfg)


def test_batch_larger_than_data_is_rejected_before_training(compose):
    from dlexp.data import datasets as data

    jobs = experiment.expand(compose(["trainer.batch_size=5000"]))
    with pytest.raises(ConfigError, match=r"trainer.batch_size: got 5000; allowed: at most the 639"):
        data.check_sizes([j.spec for j in jobs])


def test_grid_expands_to_the_cartesian_product(compose):
    cfg = compose(["+exp=hyperparameter_study"])
    jobs = experiment.expand(cfg)
    assert len(jobs) == 27
    lrs = {j.spec.optimizer.learning_rate for j in jobs}
    assert lrs == {0.0003, 0.003, 0.03}
    assert {len(j.spec.model.hidden) for j in jobs} == {1, 3, 5}


def test_seeds_repeat_every_variant(compose):
    jobs = experiment.expand(compose(["+exp=shallow_vs_deep", "seeds=[1,2,3]"]))
    assert [(j.spec.variant, j.spec.seed) for j in jobs] == [
        ("shallow", 1), ("shallow", 2), ("shallow", 3), ("deep", 1), ("deep", 2), ("deep", 3)]
    assert jobs[0].subdir == "runs/shallow/seed1"


def test_a_variant_naming_another_activation_starts_from_its_own_alpha(compose):
    """Exercise 4's variants name their activation only: on a leaky_relu base (alpha 0.01) its elu
    variant must train ELU with its own alpha, not the leaky slope; a variant's own alpha stays."""
    jobs = experiment.expand(compose(["+exp=activation_comparison", "activation=leaky_relu"]))
    alphas = {j.spec.variant: (j.spec.activation.name, j.spec.activation.alpha) for j in jobs}
    assert alphas["elu"] == ("elu", None) and alphas["gelu"] == ("gelu", None)
    cfg = experiment.plain_config(compose(["+exp=activation_comparison", "activation=leaky_relu"]))
    cfg["variants"] = {"elu": {"activation": {"name": "elu", "alpha": 0.5}}, "same": {"activation": {"name": "leaky_relu"}}}
    alphas = {j.spec.variant: j.spec.activation.alpha for j in experiment.expand(cfg)}
    assert alphas == {"elu": 0.5, "same": 0.01}


def test_a_variant_naming_another_optimizer_or_data_set_starts_from_its_own_file(compose):
    """As ``optimizer=sgd`` on the command line: an sgd variant of an adam preset trains with
    sgd.yaml's momentum (0.9) and learning rate, not adam's; an adam variant of an sgd base is not
    refused for SGD's momentum; a data set variant does not inherit another set's sizes. A
    variant's own keys win; one that names the base's option keeps the base's settings."""
    cfg = experiment.plain_config(compose(["+exp=shallow_vs_deep", "optimizer.learning_rate=0.002"]))
    cfg["variants"] = {"sgd": {"optimizer": {"name": "sgd"}},
                       "sgd_slow": {"optimizer": {"name": "sgd", "learning_rate": 0.001}},
                       "same": {"optimizer": {"name": "adam"}}}
    specs = {j.spec.variant: j.spec for j in experiment.expand(cfg)}
    assert (specs["sgd"].optimizer.momentum, specs["sgd"].optimizer.learning_rate) == (0.9, 0.01)
    assert (specs["sgd_slow"].optimizer.momentum, specs["sgd_slow"].optimizer.learning_rate) == (0.9, 0.001)
    assert specs["same"].optimizer.learning_rate == 0.002
    cfg = experiment.plain_config(compose(["+exp=shallow_vs_deep", "dataset=moons_circles"]))
    cfg["variants"] = {"spiral": {"dataset": {"name": "spiral"}}}
    (job,) = experiment.expand(cfg)
    preset = experiment.expand(compose(["+exp=shallow_vs_deep"]))[0]  # spiral.yaml, as the preset chooses it
    assert job.spec.dataset == preset.spec.dataset and job.spec.dataset.n_samples == read_group_option("dataset", "spiral")["n_samples"]
    cfg = experiment.plain_config(compose(["+exp=shallow_vs_deep", "optimizer=sgd"]))
    cfg["variants"] = {"adam": {"optimizer": {"name": "adam"}}}
    (job,) = experiment.expand(cfg)
    assert (job.spec.optimizer.momentum, job.spec.optimizer.learning_rate) == (0.0, 0.001)


def test_a_renamed_group_starts_from_the_base_s_option_only_when_it_really_is_another(compose):
    """A base group without ``name`` (or none at all) chooses the schema's default option: an adam
    variant of {learning_rate: 0.05} keeps that rate; an sgd variant of no optimizer section gets
    sgd.yaml's settings. report.compare's first-variant shortcut builds the same spec as expand."""
    from dlexp.report import compare

    cfg = experiment.plain_config(compose(["+exp=shallow_vs_deep"]))
    cfg["optimizer"] = {"learning_rate": 0.05}
    cfg["variants"] = {"adam": {"optimizer": {"name": "adam"}}, "sgd": {"optimizer": {"name": "sgd"}}}
    specs = {j.spec.variant: j.spec.optimizer for j in experiment.expand(cfg)}
    assert (specs["adam"].learning_rate, specs["sgd"].learning_rate, specs["sgd"].momentum) == (0.05, 0.01, 0.9)
    del cfg["optimizer"]
    cfg["variants"] = {"sgd": {"optimizer": {"name": "sgd"}}}
    (job,) = experiment.expand(cfg)
    assert (job.spec.optimizer.learning_rate, job.spec.optimizer.momentum) == (0.01, 0.9)
    assert compare._first_spec(cfg) == job.spec


def test_a_renamed_group_starts_from_the_user_s_file_with_a_config_dir(compose, tmp_path, monkeypatch):
    """With ``-cd DIR`` (DLEXP_CONFIG_DIR) a variant naming sgd reads DIR/optimizer/sgd.yaml, as
    optimizer=sgd would; the packaged file stays for options the folder does not have."""
    (tmp_path / "optimizer").mkdir()
    (tmp_path / "optimizer" / "sgd.yaml").write_text("name: sgd\nlearning_rate: 0.2\nmomentum: 0.5\n")
    monkeypatch.setenv("DLEXP_CONFIG_DIR", str(tmp_path))
    assert read_group_option("optimizer", "sgd")["momentum"] == 0.5
    assert read_group_option("optimizer", "rmsprop")["learning_rate"] == 0.001
    cfg = experiment.plain_config(compose(["+exp=shallow_vs_deep"]))
    cfg["variants"] = {"sgd": {"optimizer": {"name": "sgd"}}}
    (job,) = experiment.expand(cfg)
    assert (job.spec.optimizer.learning_rate, job.spec.optimizer.momentum) == (0.2, 0.5)


def test_a_momentum_the_optimizer_would_ignore_is_refused(compose):
    with pytest.raises(ConfigError, match=r"optimizer.momentum: got 0.5; allowed: 0 with adam \(momentum applies to: rmsprop, sgd; optimizer=adam starts"):
        experiment.expand(compose(["+exp=shallow_vs_deep", "optimizer.momentum=0.5"]))
    jobs = experiment.expand(compose(["+exp=shallow_vs_deep", "optimizer=rmsprop", "optimizer.momentum=0.5"]))
    assert [j.spec.optimizer.momentum for j in jobs] == [0.5, 0.5]


@pytest.mark.slow
def test_config_module_does_not_import_tensorflow():
    import subprocess
    import sys

    code = ("import sys; import dlexp.cli.main, dlexp.config.schema, dlexp.config.experiment, dlexp.data.datasets, "
            "dlexp.config.presets, dlexp.notebook.exercises, dlexp.report.stats, dlexp.notebook.claims;"
            "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'")
    subprocess.run([sys.executable, "-c", code], check=True)
