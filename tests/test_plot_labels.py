"""Plot titles and legends say what is drawn (issue 28): a panel with validation curves is not titled
"Training ...", legends name each run once (not "default - train"), and "thin: each run" / "one seed"
appear only when there is more than one run or seed to draw. Read back from the returned figures."""

import json

import numpy as np
import pandas as pd
import pytest
import yaml

from dlexp.report import charts as ep
from dlexp.report import plots


def _history(shift=0.0, val=True):
    e = np.arange(1, 4)
    h = {"epoch": e, "loss": 1 / e + shift, "accuracy": 0.5 + 0.1 * e - shift}
    if val:
        h.update(val_loss=1.1 / e + shift, val_accuracy=0.4 + 0.1 * e - shift)
    return pd.DataFrame(h)


def _legend_texts(ax):
    legend = ax.get_legend()
    return [t.get_text() for t in legend.get_texts()] if legend is not None else []


def _all_legend_texts(fig):
    texts = [t.get_text() for leg in fig.legends for t in leg.get_texts()]
    return texts + [t for ax in fig.axes for t in _legend_texts(ax)]


# --------------------------------------------------------------------------- plots.learning_curves


def test_learning_curves_titles_say_train_and_validation():
    fig = plots.learning_curves({"relu": _history(), "elu": _history(0.05)})
    titles = [ax.get_title() for ax in fig.axes]
    assert titles == ["Loss (solid: train, dashed: validation)", "Accuracy (solid: train, dashed: validation)"]
    assert not any(t.startswith("Training") for t in titles)  # they showed validation curves too


def test_learning_curves_legend_names_each_run_once():
    fig = plots.learning_curves({"relu": _history(), "elu": _history(0.05)})
    assert _all_legend_texts(fig) == ["relu", "elu"]  # was relu - train, relu - val, ... on both panels


def test_learning_curves_of_one_default_run_have_no_meaningless_legend():
    fig = plots.learning_curves({"default": _history()})
    assert _all_legend_texts(fig) == []  # was "default - train", "default - val"
    assert "default" not in fig.get_suptitle()
    named = plots.learning_curves({"relu": _history()})
    assert _all_legend_texts(named) == [] and named.get_suptitle() == "Learning curves: relu"


def test_learning_curves_without_validation_are_titled_training():
    fig = plots.learning_curves({"default": _history(val=False)})
    assert [ax.get_title() for ax in fig.axes] == ["Training loss", "Training accuracy"]
    assert all(not line.get_linestyle() == "--" for ax in fig.axes for line in ax.get_lines())


# --------------------------------------------------------------------------- sweep report curves


def _sweep(root, values, runs_per_value):
    """A sweep folder: one job per (value, repeat) of optimizer.learning_rate, with metrics.csv."""
    job = 0
    for lr in values:
        for seed in range(runs_per_value):
            folder = root / str(job)
            folder.mkdir(parents=True)
            cfg = {"name": "demo", "optimizer": {"learning_rate": lr}, "trainer": {"seed": seed}}
            (folder / "config.yaml").write_text(yaml.safe_dump(cfg))
            (folder / "summary.json").write_text(json.dumps({
                "kind": "run", "name": "demo", "variant": "default", "seed": seed, "status": "completed",
                "test_accuracy": 0.5, "overrides": [f"optimizer.learning_rate={lr}", f"trainer.seed={seed}"]}))
            _history(0.01 * seed).to_csv(folder / "metrics.csv", index=False)
            job += 1
    return root


@pytest.mark.parametrize("runs_per_value,thin", [(1, False), (2, True)])
def test_sweep_curves_say_thin_lines_only_when_there_are_some(tmp_path, runs_per_value, thin):
    from dlexp.report.sweep import curves_by_value, sweep_frame
    from dlexp.report.sweep_keys import run_configs, swept_frame, varying_keys

    root = _sweep(tmp_path / "sweep", [0.01, 0.1], runs_per_value)
    frame = sweep_frame(root)
    configs = run_configs(root, frame)
    (key,) = varying_keys(configs)
    fig = curves_by_value(root, swept_frame(frame, configs, [key]), key)
    title = fig.get_suptitle()
    assert ("thin" in title) is thin, title  # "thin: each of the 2 runs" was said with one run per value
    thin_lines = [line for ax in fig.axes for line in ax.get_lines() if line.get_linewidth() < 1]
    assert bool(thin_lines) is thin
    if not thin:
        assert "one run per value" in title


def test_sweep_learning_curves_are_labelled_by_what_each_run_changes(tmp_path, monkeypatch):
    from dlexp.report import sweep as sweep_report

    root = _sweep(tmp_path / "sweep", [0.01, 0.1], 1)
    drawn, draw = {}, plots.learning_curves

    def spy(histories, title="Learning curves"):
        drawn["labels"], drawn["title"] = list(histories), title
        return draw(histories, title)

    monkeypatch.setattr(sweep_report.plots, "learning_curves", spy)
    monkeypatch.setattr(sweep_report.artifacts, "save_figure", lambda path, fig: None)
    assert sweep_report.write_sweep_report(root) == 0
    # trainer.seed=0 is shared by both runs: said once under the table, not in every label
    assert drawn["labels"] == ["optimizer.learning_rate=0.01", "optimizer.learning_rate=0.1"]
    assert drawn["title"] == "demo sweep: learning curves"


# --------------------------------------------------------------------------- exercise figures


def _probes(seeds):
    return pd.DataFrame([{"seed": s, "depth": d, "representation": "Input" if d == 0 else f"Layer {d}",
                          "probe_accuracy": 0.5 + 0.1 * d + 0.01 * s} for s in seeds for d in range(3)])


def test_probe_accuracy_draws_and_names_seed_lines_only_with_several_seeds():
    one = ep.probe_accuracy_vs_depth(_probes([42]), title="t")
    assert _all_legend_texts(one) == ["mean of 1 seed"]  # was also "one seed": a grey line under the mean
    assert len(one.axes[0].get_lines()) == 1
    two = ep.probe_accuracy_vs_depth(_probes([42, 43]), title="t")
    assert "one seed" in _all_legend_texts(two) and len(two.axes[0].get_lines()) == 3


def test_lines_vs_shows_seed_dots_only_with_several_seeds():
    frame = pd.DataFrame({"depth": [1, 2, 3], "seed": 42, "value": [0.6, 0.7, 0.65]})
    one = ep.lines_vs(frame, x="depth", xlabel="Hidden layers", ylabel="Test accuracy", title="t")
    assert not any("one seed" in t for t in _all_legend_texts(one))
    assert not one.axes[0].collections  # no dot on top of the mean's marker
    two = ep.lines_vs(pd.concat([frame, frame.assign(seed=43, value=frame["value"] + 0.02)]), x="depth",
                      xlabel="Hidden layers", ylabel="Test accuracy", title="t")
    assert any("one seed" in t for t in _all_legend_texts(two))


def test_report_figure_titles_do_not_call_validation_curves_training(tmp_path, monkeypatch):
    """Exercise 8's curve panel draws validation accuracy: it was titled "Training curves"."""
    from test_report_figures import _config, make_preset

    from dlexp.notebook import figures as rf
    from dlexp.notebook.figures import curves
    from dlexp.notebook.exercises import load

    make_preset(tmp_path / "batch_norm", "batch_norm",
                {"plain": _config(), "batchnorm": _config(normalization__kind="batchnorm")})
    figures = {}
    monkeypatch.setattr(curves, "save", lambda ex_dir, name, fig: figures.setdefault(name, fig) and tmp_path / name)
    rf.FIGURES["batch_norm"](load("batch_norm"), tmp_path / "batch_norm")
    ax = figures["batch_norm_comparison"].axes[0]
    assert ax.get_lines() and "val" in ax.get_ylabel().lower()
    assert "training" not in ax.get_title().lower() and "validation" in ax.get_title().lower()
    for fig in figures.values():
        assert not any("default" in t or " - train" in t for t in _all_legend_texts(fig))
