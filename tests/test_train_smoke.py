"""Smoke runs with a 1-2 epoch budget into tmp_path: every output file and its columns, per data set."""

import json
from dataclasses import replace
import math
import threading
import time
from contextlib import ExitStack

import numpy as np
import pandas as pd
import pytest

from dlexp import artifacts
from dlexp.config import experiment
from dlexp.run import runner
from dlexp.errors import DlexpError

FAST = ["trainer.progress=none", "trainer.backend=keras"]


def _train(compose, tmp_path, overrides, name="run"):
    cfg = compose(FAST + list(overrides))
    return runner.train(cfg, tmp_path / name), tmp_path / name


def _check_run_folder(folder, epochs, two_d):
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["epochs_run"] == epochs
    for key in ("test_loss", "test_accuracy", "param_count", "seed", "timings", "provenance"):
        assert key in summary, key
    prov = summary["provenance"]
    assert prov["tensorflow"] and prov["keras"] and prov["python"] and prov["host"]
    metrics = pd.read_csv(folder / "metrics.csv")
    assert list(metrics.columns) == artifacts.METRICS_COLUMNS
    assert metrics["epoch"].tolist() == list(range(1, epochs + 1))
    assert metrics[["loss", "accuracy", "val_loss", "val_accuracy"]].notna().all().all()
    stats = pd.read_csv(folder / "layer_stats.csv")
    assert list(stats.columns) == ["epoch", "layer", "units", "dead_fraction", "weight_proxy_dead_fraction", "act_mean", "act_std", "grad_norm"]
    assert sorted(stats["epoch"].unique()) == list(range(0, epochs + 1))  # epoch 0 = initialization
    assert stats["dead_fraction"].between(0, 1).all() and (stats["grad_norm"] >= 0).all()
    plots = {p.name for p in (folder / "plots").glob("*.png")}
    assert {"learning_curves.png", "dead_units.png", "gradient_norms.png"} <= plots
    assert ("decision_boundary.png" in plots) == two_d
    assert (folder / "config.yaml").exists()


@pytest.mark.parametrize("overrides,two_d", [
    (["dataset=spiral"], True),
    (["dataset=moons_circles", "normalization=batchnorm", "model.dropout=0.3"], True),
    (["dataset=unstable", "trainer.stratify=false", "activation=tanh", "clipping=value"], False),
    (["dataset=classification", "initializer=he_normal", "optimizer=sgd"], False),
    (["dataset=digits", "model=mlp_10x64", "normalization=batchnorm_pre"], False),
])
@pytest.mark.slow
def test_smoke_run_per_dataset(compose, tmp_path, overrides, two_d):
    summary, folder = _train(compose, tmp_path, overrides + ["trainer.epochs=2"])
    _check_run_folder(folder, 2, two_d)


@pytest.mark.slow
def test_mnist_from_a_local_file(compose, tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 255, (200, 28, 28)), y_train=np.arange(200) % 10,
             x_test=rng.integers(0, 255, (50, 28, 28)), y_test=np.arange(50) % 10)
    summary, folder = _train(compose, tmp_path, ["dataset=mnist", f"dataset.path={path}", "trainer.epochs=1",
                                                "model.hidden=[32]"])
    _check_run_folder(folder, 1, False)
    assert summary["param_count"] == 784 * 32 + 32 + 32 * 10 + 10


@pytest.mark.slow
def test_residual_and_custom_activation(compose, tmp_path):
    summary, folder = _train(compose, tmp_path, ["model=residual", "model.hidden=[16,16,16,16,16]", "trainer.epochs=1",
                                                "activation.name=dlexp.nn.activations:xtanh_sqrt"])
    _check_run_folder(folder, 1, True)


@pytest.mark.slow
def test_same_seed_same_metrics(compose, tmp_path):
    over = ["trainer.epochs=2", "model.dropout=0.2", "trainer.seed=7"]
    _, a = _train(compose, tmp_path, over, "a")
    _, b = _train(compose, tmp_path, over, "b")
    ma, mb = pd.read_csv(a / "metrics.csv"), pd.read_csv(b / "metrics.csv")
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(ma[cols], mb[cols])
    _, c = _train(compose, tmp_path, ["trainer.epochs=2", "model.dropout=0.2", "trainer.seed=8"], "c")
    assert not pd.read_csv(c / "metrics.csv")[cols].equals(ma[cols])


@pytest.mark.slow
def test_experiment_with_variants_writes_comparison(compose, tmp_path):
    summary, folder = _train(compose, tmp_path, ["+exp=shallow_vs_deep", "trainer.epochs=1"])
    assert summary["kind"] == "experiment"
    params = {v["variant"]: v["param_count"] for v in summary["variants"]}
    assert params == {"shallow": 6003, "deep": 20803}
    results = pd.read_csv(folder / "results.csv")
    assert sorted(results["variant"]) == ["deep", "shallow"]
    assert (folder / "plots" / "learning_curves.png").exists()
    assert (folder / "plots" / "decision_boundaries.png").exists()
    for variant in ("shallow", "deep"):
        _check_run_folder(folder / "runs" / variant / "seed42", 1, True)


@pytest.mark.slow
def test_divergence_is_recorded_and_keeps_finished_epochs(compose, tmp_path):
    """A NaN loss stops that run, marks it diverged, keeps its finished epochs; other runs go on."""
    import keras

    from dlexp.train import keras_fit as training

    class PoisonAfterEpoch2(keras.callbacks.Callback):
        def on_epoch_end(self, epoch, logs=None):
            if epoch == 1:
                layer = self.model.get_layer("dense_1")
                layer.kernel.assign(np.full(layer.kernel.shape, np.nan, dtype="float32"))

    spec = experiment.expand(compose(FAST + ["trainer.epochs=5"]))[0].spec
    ds = runner.load_data(experiment.expand(compose(FAST)))
    rows = []
    result = training.fit_one(spec, next(iter(ds.values())), on_epoch=rows.append, progress=[PoisonAfterEpoch2()])
    assert result.status == "diverged" and result.diverged_at == 3
    assert [r["epoch"] for r in rows][:2] == [1, 2]
    assert all(math.isfinite(r["loss"]) for r in rows[:2])

    summary, folder = _train(compose, tmp_path, [
        "+exp=shallow_vs_deep", "trainer.epochs=2", "dataset=unstable", "trainer.stratify=false",
        "optimizer=sgd", "optimizer.momentum=0.0", "activation=linear",
        "+variants.shallow.optimizer.learning_rate=5.0", "+variants.deep.optimizer.learning_rate=0.001"])
    statuses = {r["variant"]: r["status"] for r in summary["runs"]}
    assert statuses == {"shallow": "diverged", "deep": "completed"}
    diverged = json.loads((folder / "runs/shallow/seed42/summary.json").read_text())
    assert diverged["diverged_at"] == 1 and (folder / "runs/shallow/seed42/metrics.csv").exists()


@pytest.mark.slow
def test_reproduce_plans_all_presets_together(run_dlexp, tmp_path):
    """`dlexp reproduce` end to end on a 1-epoch budget: Exercise 1's three presets are planned as
    one, so the deep net, the depth-3 and the width-100 sweep points (the same network) share a
    stack, in which each seed's run trains once and fills all three folders; runs draw no PNGs of
    their own (nor the decision grids only plots read), the exercise reads no layer stats so none
    are kept, and the report, claims and comparisons are written."""
    out = tmp_path / "rep"
    proc = run_dlexp("reproduce", "shallow_vs_deep", "--seeds", "2", "--epochs", "1", "--out", str(out),
                     "--progress", "none", timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    ex = out / "shallow_vs_deep"
    same_net = [ex / "shallow_vs_deep" / "runs" / "deep", ex / "shallow_vs_deep_depth" / "runs" / "depth3",
                ex / "shallow_vs_deep_width" / "runs" / "width100"]
    for variant_dir in same_net:
        for seed in (42, 43):
            summary = json.loads((variant_dir / f"seed{seed}" / "summary.json").read_text())
            assert (summary["status"], summary["trainer"], summary["stack_size"]) == ("completed", "stack", 2)
            trained = variant_dir / f"seed{seed}" / summary.get("same_run_as", ".")
            assert trained.resolve() == (same_net[0] / f"seed{seed}").resolve()
            assert (trained / "metrics.csv").read_text() == (variant_dir / f"seed{seed}" / "metrics.csv").read_text()
    runs = [p.parent for p in ex.glob("*/runs/*/seed*/summary.json")]
    # the three presets, and shallow vs deep again on the low-noise spiral (the claims' variation)
    assert len(runs) == 2 * (2 + 4 + 4) + 2 * 2
    assert {r.parent.name for r in ex.glob("shallow_vs_deep__low_noise/runs/*/seed*")} == {"shallow", "deep"}
    assert not any((r / "plots").exists() for r in runs)
    assert all(len(pd.read_csv(r / "layer_stats.csv")) == 0 for r in runs)
    assert not any((r / "decision_grid.npz").exists() for r in runs)
    assert (out / "claims.csv").exists() and (out / "report.html").exists()
    assert all((ex / p / "results.csv").exists() for p in ("shallow_vs_deep", "shallow_vs_deep_depth", "shallow_vs_deep_width"))


def _expand(compose, overrides):
    """The jobs of a config composed from ``overrides``."""
    return experiment.expand(experiment.plain_config(compose(overrides)))


def _jobs(compose, *extra):
    return _expand(compose, ["dataset=moons_circles", "dataset.n_samples=120", "trainer.checkpoint=false", *extra])


def test_an_error_in_background_post_training_surfaces_after_the_other_groups_train(compose, tmp_path, monkeypatch):
    """Post-training work runs on a background thread while other groups train: an error
    there must not be lost, nor stop the other groups."""
    finish = runner.RunWriter.finish
    calls = []

    def failing_first(self, dataset, result):
        calls.append(self.folder.name)
        if len(calls) == 1:
            raise OSError("disk full")
        return finish(self, dataset, result)

    monkeypatch.setattr(runner.RunWriter, "finish", failing_first)
    base = ["trainer.progress=none", "trainer.epochs=1", "trainer.checkpoint=false", "trainer.plots=false",
            "dataset=moons_circles", "dataset.n_samples=120"]
    tasks = []
    for name, hidden in (("a", "[8]"), ("b", "[8,8]")):  # two shapes: two stacks, one after the other
        tasks += [runner.Task(job, tmp_path / name, {}) for job in _expand(compose, base + [f"model.hidden={hidden}"])]
    datasets = runner.load_data([t.job for t in tasks])
    with ExitStack() as stack, pytest.raises(OSError, match="disk full"):
        runner.execute_tasks(tasks, datasets, runner.Progress("none", stack))
    assert sorted(calls) == ["a", "b"]  # the two stacks train on two lanes: either may finish first
    other = "b" if calls[0] == "a" else "a"
    assert json.loads((tmp_path / other / "summary.json").read_text())["status"] == "completed"


def _two_stacks(compose, tmp_path, extra=(), same_shape=False):
    base = ["trainer.progress=none", "trainer.checkpoint=false", "trainer.plots=false",
            "dataset=moons_circles", "dataset.n_samples=120", "seeds=[0,1]", *extra]
    tasks = []
    for name, hidden in (("a", "[8]"), ("b", "[8]" if same_shape else "[8,8]")):  # two shapes: two stacks (else one)
        tasks += [runner.Task(job, tmp_path / name, {}) for job in _expand(compose, base + [f"model.hidden={hidden}"])]
    return tasks, runner.load_data([t.job for t in tasks])


def test_a_finished_stack_frees_its_weights_without_waiting_for_the_garbage_collector(compose, tmp_path, monkeypatch):
    """An engine's tf.functions hold bound methods of it, a reference cycle: left to Python's
    collector, a finished stack's variables lived on beside the next stacks and TensorFlow's pool
    grew to hold them. Once a group's files are written the runner releases its results, which
    drops the engine's weights at once."""
    import gc
    import weakref

    from dlexp.train.stack import engine as stack_engine

    weights = []
    init = stack_engine.StackEngine.__init__

    def tracked(self, *args, **kwargs):
        init(self, *args, **kwargs)
        weights.extend(weakref.ref(v) for v in self.params)

    monkeypatch.setattr(stack_engine.StackEngine, "__init__", tracked)
    tasks, datasets = _two_stacks(compose, tmp_path, extra=["trainer.epochs=1"])
    gc.disable()  # a collection between here and the check would hide the cycle
    try:
        with ExitStack() as stack:
            runner.execute_tasks(tasks, datasets, runner.Progress("none", stack))
        alive = [ref() is not None for ref in weights]
    finally:
        gc.enable()
    assert weights and not any(alive)


def _as_planned(monkeypatch):
    """Train the planned stacks as they are: no stack cut to share the cores (runner.share_cores)."""
    monkeypatch.setattr(runner, "share_cores", lambda groups, lanes, cost: groups)


@pytest.mark.slow
def test_stacks_on_two_lanes_give_the_numbers_of_one_lane(compose, tmp_path, monkeypatch):
    """Two stacks training at once share TF's thread pools; each must still compute what it computes
    alone (stateless seeds, no cross-stack state). Checks that they did overlap. Not to the bit:
    beside another stack TF runs each op on one thread (tf_runtime.one_thread_per_op), which splits
    some reductions differently in the last bits; cross-stack state would differ far more."""
    _as_planned(monkeypatch)
    fit_group, spans = runner._fit_group, {}

    def timed(group, *args):
        start = time.perf_counter()
        try:
            return fit_group(group, *args)
        finally:
            spans.setdefault(lanes, []).append((start, time.perf_counter()))

    monkeypatch.setattr(runner, "_fit_group", timed)
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    out = {}
    for lanes in (1, 2):
        tasks, datasets = _two_stacks(compose, tmp_path / f"lanes{lanes}", ["trainer.epochs=3"])
        with ExitStack() as stack:
            summaries = runner.execute_tasks(tasks, datasets, runner.Progress("none", stack), lanes=lanes)
        assert [s["status"] for s in summaries] == ["completed"] * 4
        out[lanes] = [(s["test_accuracy"], pd.read_csv(t.folder / "metrics.csv")[cols]) for s, t in zip(summaries, tasks)]
    (a0, a1), (b0, b1) = spans[2]
    assert max(a0, b0) < min(a1, b1), "the two stacks did not train at the same time"
    (a0, a1), (b0, b1) = sorted(spans[1])
    assert a1 <= b0  # one lane: one after the other
    for (acc1, m1), (acc2, m2) in zip(out[1], out[2]):
        assert acc1 == pytest.approx(acc2, abs=1e-6)
        pd.testing.assert_frame_equal(m1, m2, check_exact=False, rtol=1e-5, atol=1e-6)


@pytest.mark.slow
def test_side_by_side_stacks_get_one_thread_per_op_and_shared_cores(compose, tmp_path, monkeypatch):
    """Several stacks at once run each TF op on one thread (tf_runtime.one_thread_per_op) and fit_stack
    hears that they share the cores; one lane keeps TF's default. One stack on two lanes is cut in
    two (runner.share_cores), so it shares the cores too."""
    from dlexp.train.stack import fit as stack
    from dlexp.nn import tf_runtime

    calls, shared, fit_stack = [], [], stack.fit_stack
    monkeypatch.setattr(tf_runtime, "one_thread_per_op", lambda: calls.append(1) or True)
    monkeypatch.setattr(stack, "fit_stack", lambda *a, **k: shared.append(k["shared_cores"]) or fit_stack(*a, **k))
    # Two lanes: b ([8, 8]) is more than half the work, so it is cut in two beside a.
    for lanes, same_shape, expected in ((1, False, ([], [False, False])), (2, False, ([1], [True, True, True])),
                                        (2, True, ([1], [True, True]))):  # same shape: one stack of four, cut
        tasks, datasets = _two_stacks(compose, tmp_path / f"lanes{lanes}{same_shape}", ["trainer.epochs=1"],
                                      same_shape=same_shape)
        with ExitStack() as stack_:
            runner.execute_tasks(tasks, datasets, runner.Progress("none", stack_), lanes=lanes)
        assert (calls, shared) == expected
        calls.clear()
        shared.clear()


def _failing_a_once_b_trains(tmp_path, fit_group):
    """runner._fit_group, but stack a (under tmp_path/a) raises once stack b has trained an epoch."""

    def fit(group, dataset, writers, *rest):
        if tmp_path / "a" not in writers[0].folder.parents:
            return fit_group(group, dataset, writers, *rest)
        deadline = time.time() + 120
        while not any(len(m.read_text().splitlines()) > 1 for m in (tmp_path / "b").glob("**/metrics.csv")):
            assert time.time() < deadline, "stack b never trained an epoch"
            time.sleep(0.02)
        raise DlexpError("model.hidden: boom")

    return fit


def test_a_failing_lane_stops_the_stack_on_the_other_lane(compose, tmp_path, monkeypatch):
    """When one group raises, the group training on the other lane stops after its current epoch
    with an 'interrupted' (resumable) summary, and the error reaches the caller."""
    _as_planned(monkeypatch)
    monkeypatch.setattr(runner, "_fit_group", _failing_a_once_b_trains(tmp_path, runner._fit_group))
    tasks, datasets = _two_stacks(compose, tmp_path, ["trainer.epochs=400", "trainer.early_stopping.enabled=false"])
    done = []
    with ExitStack() as stack, pytest.raises(DlexpError, match="boom"):
        runner.execute_tasks(tasks, datasets, runner.Progress("none", stack), lanes=2, on_done=done.append)
    for t in tasks[2:]:  # stack b
        summary = json.loads((t.folder / "summary.json").read_text())
        assert summary["status"] == "interrupted" and summary["resume"].startswith("dlexp train resume=")
        assert 1 <= summary["epochs_run"] < 400
    assert done == []  # neither a failed nor an interrupted run is complete


def test_the_error_reaches_the_caller_even_when_the_lane_it_stopped_ends_first(compose, tmp_path, monkeypatch):
    """The failing lane sets the stop and then writes its own summaries; the other lane may meet
    the stop and end (an interrupt, which only the stop caused) before that. The caller still gets
    the error, not that interrupt: a slow summary on the failing lane forces that order here."""
    _as_planned(monkeypatch)
    finish = runner.RunWriter.finish

    def slow_on_a(self, *args):
        if tmp_path / "a" in self.folder.parents:
            deadline = time.time() + 120  # until stack b has stopped and written its summaries
            while not all((t.folder / "summary.json").exists() and "interrupted" in (t.folder / "summary.json").read_text()
                          for t in tasks[2:]):
                assert time.time() < deadline, "stack b never stopped"
                time.sleep(0.02)
            time.sleep(0.3)  # and its lane has ended
        return finish(self, *args)

    monkeypatch.setattr(runner, "_fit_group", _failing_a_once_b_trains(tmp_path, runner._fit_group))
    monkeypatch.setattr(runner.RunWriter, "finish", slow_on_a)
    tasks, datasets = _two_stacks(compose, tmp_path, ["trainer.epochs=400", "trainer.early_stopping.enabled=false"])
    try:
        with ExitStack() as stack:
            runner.execute_tasks(tasks, datasets, runner.Progress("none", stack), lanes=2)
    except KeyboardInterrupt:
        pytest.fail("the other lane's interrupt reached the caller instead of the error")
    except DlexpError as err:
        assert "boom" in str(err)
    else:
        pytest.fail("no error reached the caller")


def test_on_done_reports_each_complete_task_once_on_the_background_thread(compose, tmp_path, monkeypatch):
    """reproduce draws an exercise's figures from on_done: it must fire once per task, after the
    task's folder is complete, on the one background thread, and also for tasks skipped as finished."""
    tasks, datasets = _two_stacks(compose, tmp_path, ["trainer.epochs=1"])
    for again in (False, True):
        calls = []

        def on_done(i):
            assert (tasks[i].folder / "summary.json").exists()
            calls.append((i, threading.current_thread().name))

        before = [(t.folder / "summary.json").stat().st_mtime_ns for t in tasks] if again else None
        with ExitStack() as stack:
            runner.execute_tasks(tasks, datasets, runner.Progress("none", stack), skip_finished=True, on_done=on_done)
        assert sorted(i for i, _ in calls) == [0, 1, 2, 3]
        assert {name.split("_")[0] for _, name in calls} == {"dlexp-finish"}
        if again:  # nothing retrained
            assert [(t.folder / "summary.json").stat().st_mtime_ns for t in tasks] == before


def test_a_group_with_probes_starts_before_a_costlier_one(compose):
    """Probes and t-SNE run after training on the background thread: starting their group first
    lets that work overlap the other stacks instead of trailing them."""
    base = ["dataset=moons_circles", "dataset.n_samples=120"]
    big, probed = (_expand(compose, base + extra) for extra in
                   (["model.hidden=[256,256,256]"], ["model.hidden=[8]", "trainer.probes=true"]))
    datasets = runner.load_data(big + probed)
    dataset = datasets[runner.data_key(big[0].spec)]
    assert runner._estimated_cost(big, dataset) > runner._estimated_cost(probed, dataset)
    groups = sorted([big, probed], key=lambda g: runner._start_key(g, dataset), reverse=True)
    assert groups == [probed, big]


def test_a_stack_longer_than_a_lanes_share_is_cut_in_halves_of_its_runs(compose):
    """share_cores: a stack alone on two lanes becomes two; stacks of equal work stay whole; the
    cut keeps every job once, a run with its copies, and never sends a half through Keras' fit."""
    cost = lambda g: float(len(g))  # work of a group: here its number of runs
    four = _jobs(compose, "seeds=[0,1,2,3]")
    halves = runner.share_cores([four], 2, cost)
    assert [[j.spec.seed for j in g] for g in halves] == [[0, 1], [2, 3]]
    assert runner.share_cores([four], 4, cost) == [[j] for j in four]  # a quarter each
    assert runner.share_cores([four], 1, cost) == [four]
    a, b = _jobs(compose, "seeds=[0,1]"), _jobs(compose, "seeds=[0,1]", "model.hidden=[8,8]")
    assert runner.share_cores([a, b], 2, cost) == [a, b]  # equal shares: nothing to gain
    copies = a + [replace(a[0], spec=replace(a[0].spec, variant="again"))]  # the same run under another name
    assert runner.identical_runs(copies) == [0, 1, 0]
    assert runner.share_cores([copies], 2, cost) == [[copies[0], copies[2]], [copies[1]]]
    backed_up = _jobs(compose, "seeds=[0,1]", "trainer.checkpoint=true")  # one run alone would go through Keras
    assert runner.share_cores([backed_up], 2, cost) == [backed_up]


@pytest.mark.slow
@pytest.mark.parametrize("tsne", [True, False])
def test_probes_write_their_table_and_tsne_only_when_asked(compose, tmp_path, tsne):
    """With probes on, every run gets probes.csv (one row per representation); plots/tsne.png is
    drawn unless trainer.tsne=false (reproduce's setting for all but the first seed), even
    with the other per-run plots off."""
    summary, folder = _train(compose, tmp_path, [
        "trainer.backend=auto", "dataset=moons_circles", "dataset.n_samples=120", "model.hidden=[8,8]",
        "trainer.epochs=1", "trainer.probes=true", "trainer.plots=false", "trainer.checkpoint=false",
        f"trainer.tsne={str(tsne).lower()}"])
    assert summary["status"] == "completed" and not summary.get("warnings")
    table = pd.read_csv(folder / "probes.csv")
    assert table["representation"].tolist() == ["Input", "Layer 1", "Layer 2"]
    assert table["probe_accuracy"].between(0, 1).all()
    assert (folder / "plots" / "tsne.png").exists() == tsne


def test_identical_runs_in_two_experiments_train_once_and_fill_both_folders(compose, tmp_path, monkeypatch):
    """Two experiments asking for the same runs (specs equal but for name and variant, as Exercise
    1's deep net and its depth sweep's 3 layers): the stack trains each run once, and both folders
    get its complete files; the copy's summary names the folder that trained it."""
    from dlexp.train.stack import fit as stack

    _as_planned(monkeypatch)  # one stack, not cut for the second core
    fit_stack, sizes = stack.fit_stack, []
    monkeypatch.setattr(stack, "fit_stack", lambda specs, *a, **k: sizes.append(len(specs)) or fit_stack(specs, *a, **k))
    base = ["trainer.progress=none", "trainer.checkpoint=false", "trainer.plots=false", "trainer.epochs=2",
            "dataset=moons_circles", "dataset.n_samples=120", "seeds=[0,1]", "model.hidden=[8]"]
    tasks = []
    for name in ("first", "second"):
        tasks += [runner.Task(job, tmp_path / name, {}) for job in _expand(compose, base + [f"name={name}"])]
    assert runner.identical_runs([t.job for t in tasks]) == [0, 1, 0, 1]  # seeds differ, names do not count
    datasets = runner.load_data([t.job for t in tasks])
    with ExitStack() as stack_:
        summaries = runner.execute_tasks(tasks, datasets, runner.Progress("none", stack_))
    assert sizes == [2]  # one stack of the two distinct runs, not four members
    for t, twin, s in zip(tasks[2:], tasks[:2], summaries[2:]):
        assert s["status"] == "completed" and s["stack_size"] == 2
        assert (t.folder / s["same_run_as"]).resolve() == twin.folder.resolve()
        for name in ("metrics.csv", "layer_stats.csv"):
            assert (t.folder / name).read_text() == (twin.folder / name).read_text()
        twin_summary = json.loads((twin.folder / "summary.json").read_text())
        assert "same_run_as" not in twin_summary and twin_summary["name"] == "first" and s["name"] == "second"
        assert (s["test_accuracy"], s["test_loss"]) == (twin_summary["test_accuracy"], twin_summary["test_loss"])
