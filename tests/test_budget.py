"""Memory and work are estimated before a run starts; what cannot fit is refused with the estimate
(issue 30: sizes). Unit tests of run/estimate.py and run/budget.py on tiny numbers, then the command line."""

import inspect
import subprocess
import sys
import time

import numpy as np
import pytest

from dlexp.data import files

from dlexp.config import schema
from dlexp.errors import ConfigError
from dlexp.run import budget, estimate


def _spec(**groups):
    cfg = {"dataset": {"name": "spiral"}, "trainer": {"progress": "none"}}
    for group, values in groups.items():
        cfg[group] = {**cfg.get(group, {}), **values}
    return schema.to_spec(cfg)


TINY = estimate.RunSize(samples=100, features=2, classes=3, hidden=(3,), epochs=2, batch_size=10,
                      test_size=0.2, validation_split=0.25)


def test_sizes_of_a_tiny_run_by_hand():
    assert (TINY.n_test, TINY.n_fit, TINY.n_val) == (20, 60, 20)
    assert TINY.macs == 2 * 3 + 3 * 3
    assert TINY.params == 15 + 3 + 3
    assert TINY.steps == 2 * 6
    # training 6 x macs per fitted sample, validation 2 x, each epoch; the test set once
    assert estimate.flops(TINY) == (6 * 60 + 2 * 20) * 15 * 2 + 2 * 15 * 20


def test_params_match_the_network_builder():
    from dlexp.nn import models

    spec = _spec(model={"hidden": [7, 5]}, normalization={"kind": "batchnorm"})
    size = budget.run_size(spec, samples=200, features=2, classes=3)
    assert size.params == models.count_params(spec, 2, 3)


def test_diagnosed_epochs_counts_what_diagnostics_due_measures():
    for every in range(0, 5):
        for epochs in range(1, 12):
            expected = sum(schema.diagnostics_due(every, e, epochs) for e in range(1, epochs + 1))
            assert estimate.diagnosed_epochs(every, epochs) == expected


def test_the_runner_counts_diagnosed_epochs_without_looping_over_them():
    from dlexp.run import runner

    t = schema.TrainerConfig(epochs=10**12, diagnostics_every=7)
    start = time.perf_counter()
    share = runner._diagnosed_share(t)
    assert time.perf_counter() - start < 0.5  # a loop over 10**12 epochs would never end
    assert share == pytest.approx(1 / 7)


def test_the_grid_and_the_stack_size_scale_what_is_held():
    grid = estimate.RunSize(100, 2, 3, (1000,), grid=True)
    keras = estimate.training_bytes(grid, keras=True)
    assert keras["the decision-boundary plot"] == estimate.GRID_ROWS * 1000 * estimate.FORWARD_COPIES * estimate.FLOAT
    assert "the decision-boundary plot" not in estimate.training_bytes(estimate.RunSize(100, 2, 3, (1000,)))
    one, ten = (estimate.training_bytes(TINY, members, keras=False) for members in (1, 10))
    assert ten["the weights and optimizer state"] == 10 * one["the weights and optimizer state"]
    assert estimate.peak_training(ten) > estimate.peak_training(one)


def test_data_bytes_grow_with_samples_and_features():
    load, resident = estimate.data_bytes(estimate.RunSize(1000, 10, 2, (4,)))
    assert load == 1000 * (10 * estimate.GENERATED_VALUE_BYTES + estimate.SAMPLE_BYTES)
    assert resident < load


def test_the_mirrored_chunks_match_the_trainers():
    from dlexp.data import datasets
    from dlexp.run import runner
    from dlexp.train import callbacks, keras_fit
    from dlexp.train.stack import engine

    assert estimate.STACK_CHUNK_FLOATS == engine._CHUNK_FLOATS and estimate.STACK_DIAG_FLOATS == engine._DIAG_FLOATS
    assert estimate.GRAD_ROWS == engine.GRAD_SAMPLES
    diag = inspect.signature(callbacks.LayerDiagnostics).parameters
    assert (estimate.KERAS_DIAG_ROWS, estimate.GRAD_ROWS) == (diag["chunk"].default, diag["grad_samples"].default)
    assert estimate.KERAS_EVAL_ROWS == inspect.signature(keras_fit.predict_proba).parameters["chunk"].default
    assert estimate.GRID_ROWS == inspect.signature(datasets.mesh_grid).parameters["steps"].default ** 2
    assert estimate.PREPARED_AHEAD == runner.PREFETCH_DEPTH


def test_default_and_notebook_sized_runs_pass():
    budget.check([_spec()])
    budget.check([_spec(model={"hidden": [64] * 50}, trainer={"epochs": 100})])


def test_an_endless_run_is_refused_naming_epochs_and_the_work():
    with pytest.raises(ConfigError) as err:
        budget.check([_spec(trainer={"epochs": 10**8})])
    assert err.value.field == "trainer.epochs" and err.value.value == 10**8
    assert "floating-point operations" in err.value.allowed and "days of CPU time" in err.value.allowed


def test_memory_is_compared_with_what_is_available(monkeypatch):
    spec = _spec(model={"hidden": [20000]})  # a 40,000-point grid x 20,000 units: ~6 GB
    budget.check([spec])  # well within a machine's memory...
    monkeypatch.setattr(budget, "available_memory", lambda: 2.0 * 2**30)
    with pytest.raises(ConfigError) as err:  # ...but not within 2 GB
        budget.check([spec])
    assert err.value.field == "model.hidden" and err.value.value == [20000]
    assert "for the decision-boundary plot" in err.value.allowed and "2.0 GB available" in err.value.allowed


def test_many_seeds_are_blamed_when_each_run_fits_but_not_all(monkeypatch):
    specs = [_spec(model={"hidden": [2000]}, trainer={"seed": s, "checkpoint": False}) for s in range(60)]
    monkeypatch.setattr(budget, "available_memory", lambda: 0.7 * 2**30)
    budget.check(specs[:1])  # one such run needs ~0.6 GB, sixty in one stack ~0.8 GB
    with pytest.raises(ConfigError) as err:
        budget.check(specs, runs=budget.Blame("seeds", 60))
    assert err.value.field == "seeds" and "60 runs in stacks of up to 60" in err.value.allowed


def _stacks(n_stacks, width=64, seeds=2):
    """``n_stacks`` stacks (one per depth) of ``seeds`` runs each."""
    return [_spec(model={"hidden": [width] * (d + 1)}, trainer={"seed": s, "checkpoint": False})
            for d in range(n_stacks) for s in range(seeds)]


def test_one_lane_per_usable_core(monkeypatch):
    monkeypatch.setattr(budget, "available_memory", lambda: 64.0 * 2**30)
    assert budget.training_lanes(_stacks(5), cores=1) == 1
    assert budget.training_lanes(_stacks(5), cores=2) == 2
    assert budget.training_lanes(_stacks(5), cores=8) == 8  # the runner uses as many as it has stacks
    monkeypatch.setattr(budget, "usable_cores", lambda: 3)
    assert budget.training_lanes(_stacks(5)) == 3  # the cores this process may use, not a constant


def test_fewer_lanes_when_memory_is_short_and_refused_only_when_one_does_not_fit(monkeypatch):
    specs = _stacks(4, width=2000, seeds=20)  # each stack of 20 runs of [2000]*d holds hundreds of MB
    plan = budget._plan_memory(specs, budget.sizes_of(specs), budget.plan_groups(specs))
    assert plan.total(1) < plan.total(2) < plan.total(3)
    room = (plan.total(2) + plan.total(3)) / 2  # two lanes (and the stack prepared ahead) fit, three do not
    monkeypatch.setattr(budget, "available_memory", lambda: room)
    assert budget.training_lanes(specs, cores=8) == 2
    budget.check(specs)  # fits with fewer lanes: not refused
    monkeypatch.setattr(budget, "available_memory", lambda: (plan.total(1) + plan.base) / 2)
    assert budget.training_lanes(specs, cores=8) == 1  # the runner still trains, one stack at a time...
    with pytest.raises(ConfigError, match="2 stacks at once"):  # ...but the preflight has refused it
        budget.check(specs, runs=budget.Blame("seeds", 20))


def test_the_runner_trains_on_as_many_lanes_as_the_budget_allows(monkeypatch, tmp_path):
    from dlexp.run import runner

    seen = []
    monkeypatch.setattr(budget, "training_lanes", lambda specs, cores=None: seen.append(len(specs)) or 1)
    made = []
    real = runner.ThreadPoolExecutor
    monkeypatch.setattr(runner, "ThreadPoolExecutor",
                        lambda n, thread_name_prefix="": made.append((thread_name_prefix, n)) or real(n, thread_name_prefix))
    runner.execute_tasks([], {}, runner.Progress("none", None))
    assert seen == [0] and ("dlexp-train", 1) in made


def test_the_memory_limit_variable(monkeypatch):
    monkeypatch.setenv(budget.MEMORY_ENV, "512M")
    assert budget.available_memory() <= 512 * 2**20
    monkeypatch.setenv(budget.MEMORY_ENV, "lots")
    with pytest.raises(ConfigError, match=budget.MEMORY_ENV):
        budget.available_memory()


def test_feature_counts_of_data_files_come_from_their_headers(tmp_path):
    npz = tmp_path / "d.npz"
    np.savez(npz, x_train=np.zeros((5, 4, 3)), y_train=np.zeros(5, int))
    csv = tmp_path / "d.csv"
    csv.write_text("a,b,label\n1,2,0\n")
    assert files.feature_count(npz) == 12
    assert files.feature_count(csv) == 2


def test_stack_groups_no_longer_need_tensorflow():
    code = ("import sys; from dlexp.run import budget; from dlexp.train.stack import groups;"
            "print('tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.stdout.strip() == "False", out.stderr[-2000:]


# ---------------------------------------------------------------- the command line

# The memory this machine has available varies with what else runs on it; the limit fixes it.
EIGHT_GB = {budget.MEMORY_ENV: "8G"}


@pytest.mark.parametrize("args,field,estimate", [
    (["model.hidden=[1000000]"], "model.hidden: got [1000000]", "for the decision-boundary plot"),
    (["dataset.n_samples=100000000"], "dataset.n_samples: got 100000000", "for making and splitting the data set"),
    (["dataset=classification", "dataset.n_features=1000000"], "dataset.n_features: got 1000000",
     "for making and splitting the data set"),
    (["trainer.epochs=100000000"], "trainer.epochs: got 100000000", "floating-point operations"),
])
def test_too_large_is_one_line_exit_2_no_folder_before_tensorflow(args, field, estimate, run_dlexp, tmp_path):
    start = time.perf_counter()
    proc = run_dlexp("train", *args, f"output_root={tmp_path / 'out'}", timeout=60, env=EIGHT_GB)
    elapsed = time.perf_counter() - start
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith(f"dlexp: error: {field}; allowed: "), proc.stderr
    assert estimate in lines[0] and "Traceback" not in proc.stderr
    assert list(tmp_path.iterdir()) == []
    assert elapsed < 5, f"{elapsed:.1f} s: the refusal must come before TensorFlow's import"


def test_the_refusal_imports_no_tensorflow(tmp_path):
    code = ("import sys; from dlexp.cli import main; rc = main.main(['train', 'model.hidden=[1000000]', "
            f"'output_root={tmp_path}']); print(rc, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, cwd=tmp_path)
    assert out.stdout.split()[-2:] == ["2", "False"], out.stderr[-2000:]


def test_reproduce_refuses_a_budget_that_cannot_finish(run_dlexp, tmp_path):
    out = tmp_path / "rep"
    proc = run_dlexp("reproduce", "dead_relu", "--seeds", "1000", "--epochs", "100000", "--out", str(out), timeout=120)
    assert proc.returncode == 2, proc.stderr[-2000:]
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("dlexp: error: --epochs: got 100000; allowed: "), proc.stderr
    assert "floating-point operations" in lines[0] and "runs need about" in lines[0]
    assert not out.exists()


def test_runs_are_sized_on_the_path_they_train_on(monkeypatch):
    """A run alone keeps a backup, so Keras trains it and predicts the grid in one 40,000-row chunk;
    the same run as one of three seeds trains in a stack, whose chunks are sized by floats."""
    monkeypatch.setattr(budget, "available_memory", lambda: 3.0 * 2**30)
    alone = _spec(model={"hidden": [20000]})
    with pytest.raises(ConfigError, match="decision-boundary plot"):
        budget.check([alone])
    budget.check([alone.with_seed(s) for s in (1, 2, 3)], runs=budget.Blame("seeds", 3))
