"""Scaling out for real: Ray (a local instance), submitit's local executor, an Optuna search, shell completion.

Each sweep is 2-3 jobs of a [8] net for one epoch. A plugin that is missing skips its
test locally; in CI (CI=true) it fails it: .ci/run installs every extra.
(The joblib launcher is tested in test_sweeps.py.)
"""

import json
import os
import subprocess

import pytest
import yaml

from test_tracking import need

BASE = ["trainer.epochs=1", "model.hidden=[8]", "trainer.diagnostics=false", "trainer.progress=none"]


def _jobs(tmp_path, name):
    (sweep,) = (tmp_path / "outputs" / name / "multirun").iterdir()
    jobs = [p for p in sweep.iterdir() if p.is_dir() and p.name.split("_")[0].isdigit()]  # 0_activation=relu, ...
    return sweep, sorted(jobs, key=lambda p: int(p.name.split("_")[0]))


def _summaries(jobs):
    return [json.loads((j / "summary.json").read_text()) for j in jobs]


@pytest.mark.slow
def test_ray_launcher_runs_a_sweep_on_a_local_ray_instance_with_mlflow(run_dlexp, tmp_path):
    need("hydra_plugins.hydra_ray_launcher")
    need("mlflow")
    from mlflow.tracking import MlflowClient

    proc = run_dlexp("train", "-m", *BASE, "name=ray", "activation=relu,elu", "logger=mlflow",
                     "hydra/launcher=ray", "+hydra.launcher.ray.init.num_cpus=2",
                     "+hydra.launcher.ray.init.include_dashboard=false", timeout=400,
                     env={"RAY_USAGE_STATS_ENABLED": "0"})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep, jobs = _jobs(tmp_path, "ray")
    assert len(jobs) == 2
    summaries = _summaries(jobs)
    assert [s["status"] for s in summaries] == ["completed", "completed"], summaries
    assert not [s for s in summaries if s.get("warnings")], [s.get("warnings") for s in summaries]
    assert [[o for o in s["overrides"] if o.startswith("activation=")] for s in summaries] == [
        ["activation=relu"], ["activation=elu"]]
    # Two Ray workers logged into one SQLite store: one experiment, two finished runs.
    client = MlflowClient(tracking_uri=f"sqlite:///{tmp_path / 'outputs' / 'mlflow.db'}")
    runs = client.search_runs([client.get_experiment_by_name("ray").experiment_id])
    assert sorted(r.data.params["activation.name"] for r in runs) == ["elu", "relu"]
    assert {r.info.status for r in runs} == {"FINISHED"}


@pytest.mark.slow
def test_submitit_local_launcher_runs_the_same_sweep(run_dlexp, tmp_path):
    need("hydra_plugins.hydra_submitit_launcher")
    proc = run_dlexp("train", "-m", *BASE, "name=sub", "activation=relu,elu", "hydra/launcher=submitit_local",
                     "hydra.launcher.timeout_min=10", timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep, jobs = _jobs(tmp_path, "sub")
    assert len(jobs) == 2
    assert [s["status"] for s in _summaries(jobs)] == ["completed", "completed"]
    assert (sweep / ".submitit").is_dir()  # the jobs really went through submitit
    assert list((jobs[0] / "tensorboard").glob("events.out.tfevents.*"))


@pytest.mark.slow
def test_optuna_search_returns_the_objective_and_reports_the_best_trials(run_dlexp, tmp_path):
    need("hydra_plugins.hydra_optuna_sweeper")
    proc = run_dlexp("train", "-m", "+exp=hyperparameter_search", "trainer.epochs=1", "trainer.diagnostics=false",
                     "trainer.progress=none", "logger=none", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=1",
                     timeout=400)
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep, jobs = _jobs(tmp_path, "hyperparameter_search")
    assert len(jobs) == 3
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert set(results["best_params"]) == {"optimizer.learning_rate", "trainer.batch_size", "model.hidden"}
    # The task returned each trial's final validation accuracy; Optuna kept the largest.
    val_acc = [s["final"]["val_accuracy"] for s in _summaries(jobs)]
    assert results["best_value"] == pytest.approx(max(val_acc))
    for job in jobs:  # the sampled values reached the runs
        cfg = yaml.safe_load((job / "config.yaml").read_text())
        assert 1e-4 <= cfg["optimizer"]["learning_rate"] <= 0.1
        assert cfg["trainer"]["batch_size"] in (16, 32, 64, 128, 256)
        assert set(cfg["model"]["hidden"]) == {64}

    from dlexp.report import optuna as optuna_results

    assert (sweep / optuna_results.TRIALS_FILE).is_file()  # written by the preset's callback at the end
    frame = optuna_results.report(sweep)  # what `dlexp report SWEEP_DIR` shows
    assert list(frame["objective"]) == sorted(val_acc, reverse=True)
    assert frame.iloc[0]["objective"] == pytest.approx(results["best_value"])
    assert frame.iloc[0]["model.hidden"] == str(results["best_params"]["model.hidden"])


@pytest.mark.slow
def test_launcher_configs_size_tf_threads(compose):
    """Composed launcher configs -> TF threads per job (so parallel jobs do not oversubscribe the cores)."""
    from hydra import compose as hydra_compose
    from hydra import initialize_config_module

    from dlexp.cli.train import launcher_threads

    def launcher(*overrides):
        with initialize_config_module("dlexp.conf", version_base="1.3"):
            return hydra_compose("config", list(overrides), return_hydra_config=True).hydra.launcher

    cores = len(os.sched_getaffinity(0))
    assert launcher_threads(launcher()) is None  # basic launcher: one job at a time, TF's default
    assert launcher_threads(launcher("hydra/launcher=joblib", "hydra.launcher.n_jobs=2")) == max(1, cores // 2)
    need("hydra_plugins.hydra_ray_launcher")
    assert launcher_threads(launcher("hydra/launcher=ray")) == 1
    assert launcher_threads(launcher("hydra/launcher=ray", "+hydra.launcher.ray.remote.num_cpus=2")) == 2
    need("hydra_plugins.hydra_submitit_launcher")
    assert launcher_threads(launcher("hydra/launcher=submitit_local")) == 1
    assert launcher_threads(launcher("hydra/launcher=submitit_local", "hydra.launcher.cpus_per_task=2")) == 2
    assert launcher_threads(launcher("hydra/launcher=submitit_slurm", "hydra.launcher.cpus_per_task=4")) == 4


@pytest.mark.slow
def test_shell_completion_through_the_dispatcher(run_dlexp, tmp_path):
    script = run_dlexp("train", "-sc", "install=bash")
    assert script.returncode == 0, script.stderr
    assert script.stdout.rstrip().endswith("hydra_bash_completion dlexp")  # registered for `dlexp`, not argv[0]

    def query(line):
        proc = run_dlexp("-sc", "query=bash", env={"COMP_LINE": line})  # what the installed script runs
        assert proc.returncode == 0, proc.stderr
        return proc.stdout.split()

    assert query("dlexp tr") == ["train"]
    assert query("dlexp train activation=re") == ["activation=relu"]
    assert "hydra/launcher=joblib" in query("dlexp train hydra/launcher=")
    assert "+exp=hyperparameter_search" in query("dlexp train +exp=hyper")
    # In a real bash: the installed function fills COMPREPLY.
    bash = subprocess.run(["bash", "-c", 'eval "$(dlexp train -sc install=bash)"; COMP_LINE="dlexp train optimizer=s"; '
                           'COMP_POINT=${#COMP_LINE}; COMP_CWORD=2; hydra_bash_completion; echo "${COMPREPLY[@]}"'],
                          capture_output=True, text=True, timeout=120, cwd=tmp_path,
                          env={**os.environ, "PATH": os.path.dirname(_dlexp_exe()) + os.pathsep + os.environ["PATH"]})
    assert bash.stdout.split() == ["optimizer=sgd"], bash.stderr


def _dlexp_exe():
    from conftest import dlexp_cmd

    cmd = dlexp_cmd()
    if len(cmd) != 1:
        pytest.skip("no installed dlexp script next to this Python")
    return cmd[0]
