"""Multirun sweeps: the basic and joblib launchers, failed and diverged jobs, `dlexp report` on the sweep."""

import json
import textwrap

import pandas as pd
import pytest

from dlexp.run import budget

BASE = ["trainer.epochs=1", "model.hidden=[16]", "trainer.diagnostics=false", "name=sweep"]


def _sweep_dir(tmp_path):
    (sweep,) = (tmp_path / "outputs" / "sweep" / "multirun").iterdir()
    return sweep


@pytest.mark.slow
def test_sweep_with_a_failing_and_a_diverging_job_keeps_the_others(run_dlexp, tmp_path):
    (tmp_path / "acts.py").write_text(textwrap.dedent("""
        def broken(x):
            # passes preflight's check on a small concrete tensor, fails on the model's symbolic input
            if x.shape[0] is None:
                raise RuntimeError("this activation is broken on purpose")
            return x
    """))
    proc = run_dlexp("train", "-m", *BASE, "dataset=unstable", "trainer.stratify=false", "optimizer=sgd",
                     "optimizer.momentum=0.0", "activation.name=relu,acts:broken",
                     "optimizer.learning_rate=0.01,10.0", env={"PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 1, proc.stderr[-3000:]  # the others finished, but scripts must notice the failure
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


@pytest.mark.slow
def test_joblib_launcher_runs_two_jobs_in_parallel(run_dlexp, tmp_path):
    proc = run_dlexp("train", "-m", *BASE, "activation=relu,elu", "hydra/launcher=joblib", "hydra.launcher.n_jobs=2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = [p for p in _sweep_dir(tmp_path).iterdir() if p.is_dir()]
    assert len(jobs) == 2
    for job in jobs:
        assert json.loads((job / "summary.json").read_text())["status"] == "completed"


@pytest.mark.slow
def test_default_launcher_trains_compatible_sweep_jobs_as_stacks(run_dlexp, tmp_path):
    """`-m` jobs go through dlexp's launcher: stacked together (one stack, or one per core when the
    runner cuts it to share the cores), each in its own job folder, and a member's numbers are
    those of the same run trained alone."""
    # No per-epoch backups: with them a run alone would go through Keras' fit, and no cut makes one.
    proc = run_dlexp("train", "-m", *BASE, "trainer.checkpoint=false", "activation=relu,tanh", "trainer.seed=1,2")
    assert proc.returncode == 0, proc.stderr[-3000:]
    jobs = sorted(p for p in _sweep_dir(tmp_path).iterdir() if p.is_dir())
    assert len(jobs) == 4
    summaries = [json.loads((job / "summary.json").read_text()) for job in jobs]
    assert all(s["status"] == "completed" and s["trainer"] == "stack" for s in summaries)
    # Four runs of equal work: one stack, halved (runner.share_cores) while a stack is more than
    # a lane's share; the subprocess may use the cores this one may (budget.usable_cores).
    lanes, expected = min(budget.usable_cores(), 4), 4
    while expected > 4 / lanes:
        expected //= 2
    assert [s["stack_size"] for s in summaries] == [expected] * 4, "not stacked as planned"
    assert all((job / ".hydra" / "overrides.yaml").is_file() for job in jobs)
    assert {(s["overrides"][-2], s["overrides"][-1]) for s in summaries} == {
        (f"activation={a}", f"trainer.seed={seed}") for a in ("relu", "tanh") for seed in (1, 2)}
    tanh2 = next(job for job, s in zip(jobs, summaries) if s["overrides"][-2:] == ["activation=tanh", "trainer.seed=2"])

    alone = run_dlexp("train", *[a for a in BASE if not a.startswith("name=")], "name=alone", "activation=tanh",
                      "trainer.seed=2")
    assert alone.returncode == 0, alone.stderr[-3000:]
    (single,) = (tmp_path / "outputs" / "alone").iterdir()
    a, b = pd.read_csv(tanh2 / "metrics.csv"), pd.read_csv(single / "metrics.csv")
    for col in ("loss", "accuracy", "val_loss", "val_accuracy"):
        assert list(a[col]) == pytest.approx(list(b[col]), rel=1e-5), col


@pytest.mark.slow
def test_resuming_a_stacked_sweep_job_gives_the_uninterrupted_numbers(run_dlexp, tmp_path):
    """A sweep's jobs train as one stack and keep no per-epoch backup; resuming one trains it again
    as a stack (not with plain Keras), so its numbers are the uninterrupted sweep's."""
    import pandas as pd

    proc = run_dlexp("train", "-m", *BASE, "activation=relu,elu", "trainer.epochs=3", "dataset.n_samples=300")
    assert proc.returncode == 0, proc.stderr[-3000:]
    sweep = _sweep_dir(tmp_path)
    job = sorted(p for p in sweep.iterdir() if p.is_dir())[0]
    before = pd.read_csv(job / "metrics.csv")
    summary = json.loads((job / "summary.json").read_text())
    assert summary["trainer"] == "stack"
    # as a kill during epoch 2 leaves it
    (job / "summary.json").write_text(json.dumps({**summary, "status": "interrupted"}))
    (job / "metrics.csv").write_text("\n".join((job / "metrics.csv").read_text().splitlines()[:2]) + "\n")
    proc = run_dlexp("train", f"resume={job}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    after = json.loads((job / "summary.json").read_text())
    assert after["status"] == "completed" and after["trainer"] == "stack"
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(pd.read_csv(job / "metrics.csv")[cols], before[cols], check_exact=False, rtol=1e-6)
