"""docs/extending.md's worked examples run as written, and each extension point is one place."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def example(name: str) -> str:
    """The ```python (or ```yaml) block of docs/extending.md that starts with '# example: NAME'."""
    blocks = re.findall(r"```(?:python|yaml)\n(.*?)```", DOC.read_text(), re.S)
    found = [b for b in blocks if b.startswith(f"# example: {name}\n")]
    assert len(found) == 1, f"docs/extending.md has {len(found)} examples named {name!r}"
    return found[0]


def test_own_activation_by_import_path(tmp_path, monkeypatch, compose):
    (tmp_path / "my_acts.py").write_text(example("activation"))
    monkeypatch.syspath_prepend(str(tmp_path))
    monkeypatch.delitem(sys.modules, "my_acts", raising=False)
    from dlexp.config import experiment
    from dlexp.nn import activations, models

    fn = activations.get("my_acts:scaled_tanh")
    assert float(fn(np.float32(1.5))) == pytest.approx(1.7159 * np.tanh(1.0), rel=1e-6)
    cfg = compose(["activation.name=my_acts:scaled_tanh", "model.hidden=[4]"])
    spec = experiment.expand(cfg)[0].spec
    assert models.build(spec, 2, 3).count_params() == 2 * 4 + 4 + 4 * 3 + 3


def test_own_data_file_passes_preflight(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    exec(example("dataset"), {})
    from dlexp.cli import preflight as train_cmd

    assert train_cmd.preflight(["dataset=file", f"dataset.path={tmp_path / 'mine.csv'}", "dataset.scale=standard",
                                "model=mlp_128_64_32"]) == 1


def test_a_generated_data_set_is_one_file_and_its_conf(tmp_path, monkeypatch, request):
    """docs/extending.md's xor: its module found in generators/, its conf composed by dataset=xor,
    validated, counted by the preflight and generated, with nothing else registered."""
    from dlexp.cli import preflight as train_cmd
    from dlexp.config import schema
    from dlexp.data import datasets, generators
    from dlexp.errors import ConfigError

    (tmp_path / "xor.py").write_text(example("generator"))
    conf = tmp_path / "conf"
    (conf / "dataset").mkdir(parents=True)
    (conf / "dataset" / "xor.yaml").write_text(example("generator conf"))
    monkeypatch.chdir(tmp_path)
    # As if xor.py were in src/dlexp/data/generators/: the package's folder list extended, the registry
    # found again; the import's traces are removed afterwards so no other test sees an xor.
    monkeypatch.setattr(generators, "__path__", [*generators.__path__, str(tmp_path)])
    request.addfinalizer(lambda: (sys.modules.pop("dlexp.data.generators.xor", None), vars(generators).pop("xor", None)))
    found = generators.discover()
    monkeypatch.setattr(datasets, "GENERATORS", found)
    monkeypatch.setattr(schema, "DATASETS", {**schema.DATASETS, "xor": found["xor"].Config})

    with train_cmd.user_config_dir(["-cd", str(conf)]):
        (job,) = train_cmd.preflight_jobs(["-cd", str(conf), "dataset=xor", "dataset.noise=0.1"])
        with pytest.raises(ConfigError, match=r"^dataset.noise: got -1.0; allowed: a number >= 0$"):
            train_cmd.preflight_jobs(["-cd", str(conf), "dataset=xor", "dataset.noise=-1"])
    assert job.spec.dataset == found["xor"].Config(noise=0.1)
    t = job.spec.trainer
    ds = datasets.load(job.spec.dataset, t.test_size, t.split_seed, t.stratify)
    assert ds.n_samples == datasets.sample_count(job.spec.dataset) == 400
    assert ds.input_dim == 2 and ds.binary
    x, y = np.vstack([ds.x_train, ds.x_test]), np.concatenate([ds.y_train, ds.y_test])
    assert np.mean((np.sign(x[:, 0]) != np.sign(x[:, 1])) == y) > 0.99  # noise 0.1 rarely crosses an axis
    again = datasets.load(job.spec.dataset, t.test_size, t.split_seed, t.stratify)
    np.testing.assert_array_equal(again.x_train, ds.x_train)


def test_every_dataset_conf_has_one_registered_data_set_with_its_defaults():
    from dlexp.artifacts import read_yaml
    from dlexp.config.presets import conf_dir, group_options
    from dlexp.data.datasets import DATASETS

    assert sorted(DATASETS) == group_options("dataset")
    for name, config in DATASETS.items():
        assert config(**read_yaml(conf_dir() / "dataset" / f"{name}.yaml")) == config(), name


def test_every_generator_module_keeps_the_contract():
    from dlexp.data.generators import GENERATORS

    for name, module in GENERATORS.items():
        cfg = module.Config()
        assert cfg.name == name and module.__doc__
        x, y = module.generate(cfg)
        assert x.ndim == 2 and y.shape == (len(x),) == (module.shape(cfg)[0],), name
        assert set(np.unique(y)) == set(range(int(y.max()) + 1)), name

def test_chart_returns_a_figure_and_writes_nothing(tmp_path, monkeypatch):
    import pandas as pd

    monkeypatch.chdir(tmp_path)
    scope: dict = {}
    exec(example("chart"), scope)
    frame = pd.DataFrame({"variant": ["a", "a", "b"], "test_accuracy": [0.5, 0.7, 0.9]})
    fig = scope["accuracy_by_variant"](frame, title="t")
    assert [p.get_height() for p in fig.axes[0].patches] == pytest.approx([0.6, 0.9])
    assert list(tmp_path.iterdir()) == []


def test_exercise_yaml_loads_and_its_claim_names_a_metric(tmp_path, monkeypatch):
    from dlexp.notebook import exercises
    from dlexp.notebook.metrics import METRICS

    scope: dict = {}
    exec(example("exercise"), scope)
    (tmp_path / "wider.yaml").write_text(scope["EXERCISE"])
    monkeypatch.setattr(exercises, "exercises_dir", lambda: tmp_path)
    ex = exercises.load("wider")
    assert ex.presets == ("shallow_vs_deep_width",) and ex.claims[0]["metric"] in METRICS
    assert exercises.names() == ["wider"]


def test_every_optimizer_conf_has_one_registry_entry():
    from dlexp.config.presets import group_options
    from dlexp.train.optimizers import OPTIMIZERS

    assert sorted(OPTIMIZERS) == group_options("optimizer")


def test_the_optimizers_the_config_lets_take_momentum_are_those_whose_keras_optimizer_has_one():
    """names.WITH_MOMENTUM decides, before TF, where a momentum other than 0 is allowed: it must
    name exactly the optimizers whose Keras object takes it, and each must receive it."""
    from dlexp.config.names import WITH_MOMENTUM
    from dlexp.config.schema import OptimizerConfig
    from dlexp.train.optimizers import OPTIMIZERS

    for name, entry in OPTIMIZERS.items():
        takes = name in WITH_MOMENTUM
        built = entry.keras(OptimizerConfig(name, 0.01, momentum=0.5 if takes else 0.0))
        assert hasattr(built, "momentum") == takes, name
        if takes:
            assert built.momentum == 0.5, name
            assert entry.slots(OptimizerConfig(name, 0.01, momentum=0.5)) == entry.slots(OptimizerConfig(name, 0.01)) + 1


def test_an_unknown_optimizer_is_refused_by_the_config(compose):
    from dlexp.config import experiment
    from dlexp.errors import ConfigError

    with pytest.raises(ConfigError, match="optimizer.name: got 'adamw'; allowed: one of: adam, rmsprop, sgd"):
        experiment.expand(compose(["optimizer.name=adamw"]))


@pytest.mark.parametrize("name", ["sgd", "rmsprop"])
def test_the_stacked_momentum_update_is_keras_own(name):
    """The stacked rule with momentum (two members, one row each) takes the same three steps as the
    Keras optimizer on each member's weights alone, and differs from the rule without momentum."""
    import numpy as np
    import tensorflow as tf

    from dlexp.config.schema import OptimizerConfig
    from dlexp.train.optimizers import OPTIMIZERS

    rng = np.random.default_rng(0)
    start, grads = rng.normal(size=(2, 3)).astype("float32"), rng.normal(size=(3, 2, 3)).astype("float32")

    def stacked(cfg):
        rule, var = OPTIMIZERS[name], tf.Variable(start)
        slots = [tf.Variable(tf.zeros_like(start)) for _ in range(rule.slots(cfg))]
        for step, g in enumerate(grads, start=1):
            var.assign(rule.update(var, tf.constant(g), slots, tf.constant(cfg.learning_rate), tf.constant(float(step)), cfg))
        return var.numpy()

    cfg = OptimizerConfig(name, 0.05, momentum=0.5)
    for m in range(2):
        var = tf.Variable(start[m])
        keras_opt = OPTIMIZERS[name].keras(cfg)
        for g in grads:
            keras_opt.apply_gradients([(tf.constant(g[m]), var)])
        np.testing.assert_allclose(stacked(cfg)[m], var.numpy(), rtol=1e-6, atol=1e-7)
    assert not np.allclose(stacked(cfg), stacked(OptimizerConfig(name, 0.05)))


def test_the_activations_the_config_lets_take_alpha_are_those_whose_function_uses_it():
    """names.WITH_ALPHA decides, before TF, where activation.alpha may be set: exactly the
    builders whose function changes with it."""
    import numpy as np

    from dlexp.config.names import ACTIVATIONS, WITH_ALPHA
    from dlexp.nn import activations

    x = np.linspace(-3, 3, 13, dtype="float32")[None]
    for name in ACTIVATIONS:
        default, other = (np.asarray(activations.get(name, a)(x)) for a in (None, 0.37))
        assert (not np.allclose(default, other)) == (name in WITH_ALPHA), name


def test_every_activation_conf_has_one_builder():
    from dlexp.config.names import ACTIVATIONS
    from dlexp.config.presets import group_options
    from dlexp.nn import activations

    assert sorted(activations._BUILDERS) == group_options("activation") == sorted(ACTIVATIONS)


def test_a_new_layer_diagnostic_reaches_both_trainers(monkeypatch, compose):
    """docs/extending.md's diagnostic: one LAYER_STATS entry shows in the rows of model.fit runs
    and of stacked runs, with the same value for the same network."""
    from dlexp.config import experiment
    from dlexp.data import datasets as data
    from dlexp.train import diagnostics
    from dlexp.train import keras_fit
    from dlexp.train.stack import fit as stack

    monkeypatch.setattr(diagnostics, "LAYER_STATS", dict(diagnostics.LAYER_STATS))
    monkeypatch.setattr(diagnostics, "LAYER_COLUMNS", list(diagnostics.LAYER_COLUMNS))
    exec(example("diagnostic"), {})  # the example adds to dlexp.train.diagnostics.LAYER_STATS
    assert "act_max" in diagnostics.LAYER_STATS
    cfg = compose(["dataset=moons_circles", "dataset.n_samples=200", "model.hidden=[6]", "trainer.epochs=1",
                   "trainer.diagnostics=true", "trainer.progress=none", "trainer.batch_size=32"])
    spec = experiment.expand(cfg)[0].spec
    t = spec.trainer
    ds = data.load(spec.dataset, t.test_size, t.split_seed, t.stratify)
    solo = keras_fit.fit_one(spec, ds)
    (stacked,) = stack.fit_stack([spec], ds)
    for a, b in zip(solo.layer_stats, stacked.layer_stats):
        assert "act_max" in a and "act_max" in b
        assert b["act_max"] == pytest.approx(a["act_max"], rel=1e-4)
