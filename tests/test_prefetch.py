"""Stacks prepared ahead of the lanes (``prefetch.StackPrefetch``, ``stack.prepare``).

The queue is tested with plain callables (no TF); the engines with tiny stacks: one built and
traced on another thread, under the executor the fit uses, must train to exactly what fit_stack
trains when it builds the engine itself, without tracing again.
"""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack

import numpy as np
import pytest

from dlexp.run import runner
from dlexp.train.stack import fit as stack
from dlexp.run.prefetch import StackPrefetch

from test_stack import load, make_spec
from test_train_smoke import _two_stacks


class Recorder:
    """A prepare() that records what it was asked for and can be held or made to fail."""

    def __init__(self, fail=()) -> None:
        self.started, self.asked, self.fail = [], [], set(fail)
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, group):
        self.started.append(group)
        self.gate.wait(5)
        self.asked.append(group)
        if group in self.fail:
            raise RuntimeError(f"cannot prepare {group}")
        return f"prepared {group}"


def _until(condition, timeout=5.0):
    deadline = time.monotonic() + timeout
    while not condition():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.001)


def test_prefetch_prepares_in_order_at_most_depth_ahead():
    prepare = Recorder()
    prepare.gate.clear()
    ahead = StackPrefetch(["a", "b", "c", "d"], prepare, depth=1)
    assert ahead.take(0) is None and ahead.take(1) is None  # nothing queued yet: the lanes prepare these
    for _ in range(3):
        ahead.top_up()
    assert ahead.queued() == [2]  # depth 1: one ahead, however often asked
    prepare.gate.set()
    assert ahead.take(2) == "prepared c"  # under way or done: the lane waits for it
    _until(lambda: "d" in prepare.started)  # taking it queued the next (taken before it starts, it would be the lane's)
    assert ahead.take(3) == "prepared d"
    ahead.top_up()  # nothing left
    ahead.close()
    assert prepare.asked == ["c", "d"]


def test_prefetch_leaves_a_queued_group_to_the_lane_and_reports_failures_as_none():
    prepare = Recorder(fail={"b"})
    ahead = StackPrefetch(["a", "b", "c"], prepare, depth=2)
    ahead.top_up()
    assert ahead.take(0) == "prepared a"
    assert ahead.take(1) is None  # failed: the lane prepares it again and meets the error there
    prepare.gate.clear()
    ahead.top_up()  # queues c behind nothing: it starts and waits on the gate
    _until(lambda: "c" in prepare.started)  # under way before the lane asks (not yet started, it would be the lane's)
    holder = StackPrefetch(["x", "y"], prepare, depth=2)
    holder.top_up()  # x runs (held), y waits in the queue
    assert holder.take(1) is None  # queued, not started: cancelled, the lane does it itself
    prepare.gate.set()
    assert holder.take(0) == "prepared x"
    assert ahead.take(2) == "prepared c"  # under way: the lane waits for it
    assert "y" not in prepare.asked
    holder.close()
    ahead.close()


def test_prefetch_close_drops_what_is_queued_and_waits_for_what_is_under_way():
    prepare = Recorder()
    prepare.gate.clear()
    ahead = StackPrefetch(["a", "b", "c"], prepare, depth=3)
    ahead.top_up()  # a under way (held at the gate), b and c queued
    _until(lambda: prepare.started == ["a"])
    threading.Timer(0.2, prepare.gate.set).start()
    ahead.close()  # returns once a is done: nothing prepares behind a caller that stopped
    assert prepare.asked == ["a"] and ahead.queued() == []
    assert ahead.take(1) is None and ahead.take(2) is None
    later = StackPrefetch(["x", "y"], prepare, depth=1)
    later.top_up()
    later.close()
    later.top_up()  # closed: queues nothing
    later.close()
    assert "y" not in prepare.started


def _stack_specs():
    spec = make_spec(trainer={"epochs": 4, "batch_size": 24, "shuffle": True, "diagnostics": True,
                              "early_stopping": {"enabled": True, "patience": 1}},
                     model={"hidden": [16, 8], "dropout": 0.2})
    return [spec.with_seed(s) for s in (0, 1, 2)]


@pytest.mark.slow
def test_a_stack_prepared_on_another_thread_trains_as_fit_stack_alone():
    specs = _stack_specs()
    data = load(specs[0])
    alone = stack.fit_stack(specs, data, shared_cores=True)
    with ThreadPoolExecutor(1) as other:  # a thread of its own, as runner.StackPrefetch's
        prepared = other.submit(stack.prepare, specs, data, shared_cores=True, trace=True).result()
    engine = prepared.engine
    # Held here: the engine drops its training functions when training ends (end_training).
    functions = {name: getattr(engine, name)
                 for name in ("train_epoch", "diagnostics", "keep_best", "restore_best", "_freeze_rows", "thaw")}
    traced = {name: f.experimental_get_tracing_count() for name, f in functions.items()}
    assert traced == dict.fromkeys(traced, 1)
    rows = []
    ahead = stack.fit_stack(specs, data, [rows.append] * len(specs), shared_cores=True, prepared=prepared)
    for name, count in traced.items():  # the fit traced nothing again (a retrace would also be wrong
        # here: traced off the single-threaded executor, the epoch's loop fails on it)
        assert functions[name].experimental_get_tracing_count() == count, name
    assert rows
    def untimed(history):
        return [{k: v for k, v in row.items() if not k.endswith("_seconds")} for row in history]

    for a, b in zip(alone, ahead):
        assert untimed(a.history) == untimed(b.history)
        assert a.layer_stats == b.layer_stats
        assert (a.test_loss, a.test_accuracy, a.best_epoch) == (b.test_loss, b.test_accuracy, b.best_epoch)
        for wa, wb in zip(a.keras_model().get_weights(), b.keras_model().get_weights()):
            np.testing.assert_array_equal(wa, wb)


def test_fit_stack_refuses_another_stacks_preparation():
    specs = _stack_specs()
    data = load(specs[0])
    prepared = stack.prepare(specs[:2], data)
    with pytest.raises(ValueError, match="another stack"):
        stack.fit_stack(specs, data, prepared=prepared)
    with pytest.raises(ValueError, match="another stack"):
        stack.fit_stack(specs[:2], load(make_spec(dataset={"name": "moons_circles", "n_samples": 90})),
                        prepared=prepared)
    with pytest.raises(ValueError, match="shared_cores=False, not True"):
        stack.fit_stack(specs[:2], data, shared_cores=True, prepared=prepared)


def _four_stacks(compose, folder, extra=()):
    tasks, datasets = [], {}
    for rows in (120, 140):  # two data sets x two shapes: four stacks
        more, data = _two_stacks(compose, folder / str(rows), ["trainer.epochs=3", f"dataset.n_samples={rows}", *extra])
        tasks += more
        datasets.update(data)
    return tasks, datasets


@pytest.mark.slow
def test_stacks_prepared_ahead_train_to_the_bits_of_stacks_prepared_on_their_lane(compose, tmp_path, monkeypatch):
    """Four stacks on two lanes, with and without preparing ahead: the later ones are prepared on
    the prefetch thread, and every number is the same to the last bit (same executor, config and
    graph either way)."""
    prepared_on, real_prepare = [], stack.prepare

    def recording(*args, **kwargs):
        prepared_on.append((threading.current_thread().name, kwargs.get("trace", False)))
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(stack, "prepare", recording)
    out = {}
    for depth in (0, 1):
        monkeypatch.setattr(runner, "PREFETCH_DEPTH", depth)
        tasks, datasets = _four_stacks(compose, tmp_path / f"depth{depth}")
        with ExitStack() as stack_:
            summaries = runner.execute_tasks(tasks, datasets, runner.Progress("none", stack_), lanes=2)
        assert [s["status"] for s in summaries] == ["completed"] * len(tasks)
        out[depth] = [(s["test_loss"], s["test_accuracy"], (t.folder / "metrics.csv").read_text().splitlines())
                      for s, t in zip(summaries, tasks)]
        ahead = [name for name, trace in prepared_on if trace]
        assert all(name.startswith("dlexp-prepare") for name in ahead) and bool(ahead) == bool(depth)
        prepared_on.clear()

    def without_times(lines):  # the csv's columns: epoch, metrics, lr, then the seconds
        return [line.rsplit(",", 2)[0] for line in lines]

    for (loss0, acc0, csv0), (loss1, acc1, csv1) in zip(out[0], out[1]):
        assert (loss0, acc0) == (loss1, acc1)
        assert without_times(csv0) == without_times(csv1)


@pytest.mark.slow
def test_a_stop_while_a_lane_waits_for_a_preparation_leaves_its_group_unstarted(compose, tmp_path, monkeypatch):
    """One lane's stack fails while the other lane waits for the next group's preparation:
    execute_tasks raises after the preparation is done (nothing traces behind it), the waiting
    lane starts nothing, and neither does the failed lane's thread, which is free at once to take
    the last group (no folder, no training). The order is forced by events, not by timing."""
    waiting, release = threading.Event(), threading.Event()
    real_prepare, real_fit_group = stack.prepare, runner._fit_group
    real_take, real_close = StackPrefetch.take, StackPrefetch.close

    def slow_prepare(*args, **kwargs):
        if threading.current_thread().name.startswith("dlexp-prepare"):
            assert release.wait(60)  # held until the caller closes the prefetch, after the stop
        return real_prepare(*args, **kwargs)

    def take(self, i):
        if i == 2:  # the lane that trained the second group now waits for the third's preparation
            waiting.set()
        return real_take(self, i)

    def close(self):
        release.set()
        real_close(self)

    fitted = []

    def fit_group(group, *args, **kwargs):
        fitted.append(group[0].spec.model.hidden)
        if len(fitted) == 1:  # the first lane's stack fails once the other lane waits
            assert waiting.wait(60)
            raise RuntimeError("boom")
        return real_fit_group(group, *args, **kwargs)

    monkeypatch.setattr(stack, "prepare", slow_prepare)
    monkeypatch.setattr(StackPrefetch, "take", take)
    monkeypatch.setattr(StackPrefetch, "close", close)
    monkeypatch.setattr(runner, "_fit_group", fit_group)
    monkeypatch.setattr(runner, "share_cores", lambda groups, lanes, cost: groups)  # the four stacks as planned
    tasks, datasets = _four_stacks(compose, tmp_path)
    with ExitStack() as stack_, pytest.raises(RuntimeError, match="boom"):
        runner.execute_tasks(tasks, datasets, runner.Progress("none", stack_), lanes=2)
    assert release.is_set()  # close() waited for the preparation
    assert not [t for t in threading.enumerate() if t.name.startswith("dlexp-prepare")]
    assert len(fitted) == 2  # the two first groups; the third (prepared) and fourth never started
    started = {p.parent for p in tmp_path.rglob("summary.json")}
    assert len(started) == 4  # two groups of two seeds: their folders, and no others
