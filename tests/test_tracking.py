"""Run trackers for real: TensorBoard event files read back with TF's reader, MLflow read back from a SQLite store.

Tiny budgets (a [8] net, 1-2 epochs). A tracker package that is missing skips its
tests locally; in CI (CI=true) it fails them: .ci/run installs every extra.
"""

import glob
import importlib
import json
import os
import subprocess
import sys
from collections import defaultdict
from pathlib import Path

import pytest

TINY = ["model.hidden=[8]", "trainer.progress=none", "trainer.checkpoint=false"]


def need(module: str):
    """Import ``module``; skip when it is missing, except in CI where every extra must be installed."""
    if os.environ.get("CI"):
        return importlib.import_module(module)
    return pytest.importorskip(module)


def read_events(run_folder: Path) -> dict:
    """{tag: {"plugin": name, "steps": [...], "values": [...]}} from every event file of a run's tensorboard/."""
    import tensorflow as tf
    from tensorflow.python.framework import tensor_util

    files = glob.glob(str(run_folder / "tensorboard" / "events.out.tfevents.*"))
    assert files, f"no event files in {run_folder / 'tensorboard'}"
    out: dict = defaultdict(lambda: {"plugin": None, "steps": [], "values": []})
    for f in files:
        for event in tf.compat.v1.train.summary_iterator(f):
            for v in event.summary.value:
                entry = out[v.tag]
                entry["plugin"] = v.metadata.plugin_data.plugin_name
                entry["steps"].append(event.step)
                entry["values"].append(tensor_util.MakeNdarray(v.tensor))
    return dict(out)


def _train(compose, tmp_path, overrides, name="run"):
    from dlexp.run.runner import train

    cfg = compose([*TINY, f"output_root={tmp_path / 'out'}", *overrides])
    folder = tmp_path / "out" / name
    return train(cfg, folder), folder


@pytest.mark.slow
def test_tensorboard_solo_run_has_epoch_and_layer_scalars_and_histograms(compose, tmp_path):
    summary, folder = _train(compose, tmp_path, ["trainer.epochs=2", "model.hidden=[8,8]", "trainer.backend=keras"])
    assert summary["status"] == "completed" and "warnings" not in summary, summary.get("warnings")
    events = read_events(folder)
    for tag in ("loss", "accuracy", "val_loss", "val_accuracy", "lr"):
        assert events[tag]["plugin"] == "scalars"
        assert sorted(events[tag]["steps"]) == [1, 2], tag
    for layer in (1, 2):
        for metric in ("dead_fraction", "grad_norm"):
            tag = f"{metric}/layer_{layer}"
            assert sorted(events[tag]["steps"]) == [0, 1, 2], tag  # epoch 0 = at initialization
    # The scalars are the numbers of metrics.csv.
    import pandas as pd

    metrics = pd.read_csv(folder / "metrics.csv")
    loss = dict(zip(events["loss"]["steps"], events["loss"]["values"]))
    assert abs(float(loss[2]) - metrics["loss"].iloc[-1]) < 1e-5
    # Histograms of weights and activations per layer, at init and after each epoch.
    for tag in ("weights/dense_1/kernel", "weights/dense_2/bias", "activations/act_1", "activations/act_2"):
        assert events[tag]["plugin"] == "histograms", tag
        assert sorted(events[tag]["steps"]) == [0, 1, 2], tag
        buckets = events[tag]["values"][-1]
        assert buckets.ndim == 2 and buckets.shape[1] == 3  # (left, right, count) rows
    # activations are measured on a fixed probe of at most 512 training rows, 8 units each
    assert events["activations/act_1"]["values"][0][:, 2].sum() == 512 * 8
    assert events["weights/dense_1/kernel"]["values"][0][:, 2].sum() == 2 * 8  # spiral: 2 inputs x 8 units


def test_tensorboard_stack_path_logs_scalars_from_rows(compose, tmp_path):
    summary, folder = _train(compose, tmp_path, ["trainer.epochs=1", "seeds=[1,2]", "name=stacked"])
    runs = sorted((folder / "runs").glob("*/seed*"))
    assert len(runs) == 2
    for run in runs:
        s = json.loads((run / "summary.json").read_text())
        assert s["trainer"] == "stack" and s["status"] == "completed", s
        events = read_events(run)
        assert {"loss", "val_accuracy", "lr", "dead_fraction/layer_1", "grad_norm/layer_1"} <= set(events)
        assert events["loss"]["steps"] == [1]
        assert not [t for t in events if t.startswith("weights/")]  # histograms are the solo path's


@pytest.mark.slow
def test_mlflow_run_is_read_back_from_sqlite(compose, tmp_path):
    need("mlflow")
    from mlflow.tracking import MlflowClient

    summary, folder = _train(compose, tmp_path, ["trainer.epochs=2", "logger=mlflow", "name=tracked",
                                                 "trainer.backend=keras"])
    assert summary["status"] == "completed" and "warnings" not in summary, summary.get("warnings")
    db = tmp_path / "out" / "mlflow.db"
    assert db.is_file()
    client = MlflowClient(tracking_uri=f"sqlite:///{db}")
    experiment = client.get_experiment_by_name("tracked")  # logger.mlflow_experiment=null -> the run's name
    assert experiment is not None
    assert experiment.artifact_location.startswith((tmp_path / "out" / "mlartifacts").as_uri())
    (run,) = client.search_runs([experiment.experiment_id])
    assert run.info.status == "FINISHED"
    assert run.data.params["optimizer.learning_rate"] == "0.001"
    assert run.data.params["model.hidden"] == "[8]"
    assert run.data.params["dataset.name"] == "spiral"
    assert run.data.tags["variant"] == "default" and run.data.tags["seed"] == "42"
    assert run.data.tags["status"] == "completed"
    history = client.get_metric_history(run.info.run_id, "loss")
    assert sorted(m.step for m in history) == [1, 2]
    assert len(client.get_metric_history(run.info.run_id, "val_accuracy")) == 2
    assert sorted(m.step for m in client.get_metric_history(run.info.run_id, "dead_fraction/layer_1")) == [0, 1, 2]
    assert abs(run.data.metrics["test_accuracy"] - summary["test_accuracy"]) < 1e-9
    top = {a.path for a in client.list_artifacts(run.info.run_id)}
    assert {"metrics.csv", "layer_stats.csv", "summary.json", "config.yaml", "plots"} <= top
    plots = {a.path for a in client.list_artifacts(run.info.run_id, "plots")}
    assert "plots/learning_curves.png" in plots
    # both trackers at once: logger=mlflow keeps TensorBoard on
    assert "loss" in read_events(folder)


@pytest.mark.slow
def test_mlflow_experiment_and_uri_from_the_config(compose, tmp_path):
    need("mlflow")
    from mlflow.tracking import MlflowClient

    uri = f"sqlite:///{tmp_path / 'elsewhere.db'}"
    summary, _ = _train(compose, tmp_path, ["trainer.epochs=1", "logger=mlflow", "logger.tensorboard=false",
                                            f"logger.mlflow_uri={uri}", "logger.mlflow_experiment=study"])
    assert summary["status"] == "completed" and "warnings" not in summary, summary.get("warnings")
    client = MlflowClient(tracking_uri=uri)
    (run,) = client.search_runs([client.get_experiment_by_name("study").experiment_id])
    assert len(client.get_metric_history(run.info.run_id, "loss")) == 1
    assert not (tmp_path / "out" / "mlflow.db").exists()
    assert not (tmp_path / "out" / "run" / "tensorboard").exists()  # logger.tensorboard=false: no event files


def test_missing_mlflow_is_one_line_in_preflight_before_tensorflow(tmp_path):
    """With MLflow not importable, `dlexp train logger=mlflow` names the field and the pip command, without TF."""
    script = tmp_path / "probe.py"
    script.write_text(
        "import importlib.util, sys\n"
        "real = importlib.util.find_spec\n"
        "importlib.util.find_spec = lambda name, *a: None if name == 'mlflow' else real(name, *a)\n"
        "from dlexp.cli.main import main\n"
        "code = main(['train', 'logger=mlflow'])\n"
        "print('TF_IMPORTED' if 'tensorflow' in sys.modules else 'NO_TF')\n"
        "sys.exit(code)\n")
    proc = subprocess.run([sys.executable, str(script)], cwd=tmp_path, capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2, proc.stderr
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip()]
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith("dlexp: error: logger.mlflow:") and 'pip install "dlexp[mlflow]"' in lines[0]
    assert "NO_TF" in proc.stdout
    assert not (tmp_path / "outputs").exists()
