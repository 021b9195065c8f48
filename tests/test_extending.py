"""docs/extending.md's worked examples run as written, and each extension point is one place."""

import re
import sys
from pathlib import Path

import numpy as np
import pytest

DOC = Path(__file__).resolve().parents[1] / "docs" / "extending.md"


def example(name: str) -> str:
    """The ```python block of docs/extending.md that starts with '# example: NAME'."""
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), re.S)
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
    from dlexp.cli import train as train_cmd

    assert train_cmd.preflight(["dataset=file", f"dataset.path={tmp_path / 'mine.csv'}", "dataset.scale=standard",
                                "model=mlp_128_64_32"]) == 1


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


def test_an_unknown_optimizer_is_refused_by_the_config(compose):
    from dlexp.config import experiment
    from dlexp.errors import ConfigError

    with pytest.raises(ConfigError, match="optimizer.name: got 'adamw'; allowed: one of: adam, rmsprop, sgd"):
        experiment.expand(compose(["optimizer.name=adamw"]))


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
