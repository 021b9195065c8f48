"""Multirun sweeps: the basic and joblib launchers, failed and diverged jobs, `dlexp report` on the sweep."""

import json
import textwrap

import pandas as pd

BASE = ["trainer.epochs=1", "model.hidden=[16]", "trainer.diagnostics=false", "name=sweep"]


def _sweep_dir(tmp_path):
    (sweep,) = (tmp_path / "outputs" / "sweep" / "multirun").iterdir()
    return sweep


def test_sweep_with_a_failing_and_a_diverging_job_keeps_the_others(run_dlexp, tmp_path):
    (tmp_path / "acts.py").write_text(textwrap.dedent("""
        def broken(x):
            raise RuntimeError("this activation is broken on purpose")
    """))
    proc = run_dlexp("train", "-m", *BASE, "dataset=unstable", "trainer.stratify=false", "optimizer=sgd",
                     "optimizer.momentum=0.0", "activation.name=relu,acts:broken",
                     "optimizer.learning_rate=0.01,10.0", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = _sweep_dir(tmp_path)
    statuses = {}
    for job in sorted(p for p in sweep.iterdir() if p.is_dir()):
        s = json.loads((job / "summary.json").read_text())
        statuses[(s["overrides"][-2].split("=")[1].replace("\\", ""), s["overrides"][-1].split("=")[1])] = s["status"]
    assert statuses[("relu", "0.01")] == "completed"
    assert statuses[("acts:broken", "0.01")] == "failed"
    assert statuses[("relu", "10.0")] == "diverged"

    report = run_dlexp("report", str(sweep))
    assert report.returncode == 0, report.stderr
    results = pd.read_csv(sweep / "results.csv")
    assert len(results) == 4
    assert set(results["status"]) == {"completed", "failed", "diverged"}
    assert "failed" in report.stdout and "diverged" in report.stdout


def test_joblib_launcher_runs_two_jobs_in_parallel(run_dlexp, tmp_path):
    proc = run_dlexp("train", "-m", *BASE, "activation=relu,elu", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [p for p in _sweep_dir(tmp_path).iterdir() if p.is_dir()]
    assert len(jobs) == 2
    for job in jobs:
        assert json.loads((job / "summary.json").read_text())["status"] == "completed"
