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
import pandas as pd
import pytest

from dlexp import runner, stack
from dlexp.prefetch import StackPrefetch

from test_stack import load, make_spec
from test_train_smoke import _two_stacks


class Recorder:
    """A prepare() that records what it was asked for and can be held or made to fail."""

    def __init__(self, fail=()) -> None:
        self.asked, self.fail = [], set(fail)
        self.gate = threading.Event()
        self.gate.set()

    def __call__(self, group):
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
    ahead = StackPrefetch(["a", "b", "c", "d"], prepare, depth=1)
    assert ahead.take(0) is None and ahead.take(1) is None  # nothing queued yet: the lanes prepare these
    ahead.top_up()
    ahead.top_up()  # one queued and not taken: depth 1 is full
    assert ahead.take(2) == "prepared c"  # taking a prepared one queues the next
    _until(lambda: "d" in prepare.asked)  # (taken before it starts, it would be left to the lane)
    assert ahead.take(3) == "prepared d"
    ahead.top_up()  # nothing left
    assert prepare.asked == ["c", "d"]
    ahead.close()


def test_prefetch_leaves_a_queued_group_to_the_lane_and_reports_failures_as_none():
    prepare = Recorder(fail={"b"})
    ahead = StackPrefetch(["a", "b", "c"], prepare, depth=2)
    ahead.top_up()
    assert ahead.take(0) == "prepared a"
    assert ahead.take(1) is None  # failed: the lane prepares it again and meets the error there
    prepare.gate.clear()
    ahead.top_up()  # queues c behind nothing: it starts and waits on the gate
    holder = StackPrefetch(["x", "y"], prepare, depth=2)
    holder.top_up()  # x runs (held), y waits in the queue
    assert holder.take(1) is None  # queued, not started: cancelled, the lane does it itself
    prepare.gate.set()
    assert holder.take(0) == "prepared x"
    assert ahead.take(2) == "prepared c"  # under way: the lane waits for it
    assert "y" not in prepare.asked
    holder.close()
    ahead.close()


def test_prefetch_close_drops_what_is_queued():
    prepare = Recorder()
    prepare.gate.clear()
    ahead = StackPrefetch(["a", "b", "c"], prepare, depth=3)
    ahead.top_up()
    ahead.close()
    prepare.gate.set()
    ahead.top_up()  # closed: queues nothing
    assert ahead.take(1) is None and ahead.take(2) is None
    assert prepare.asked in ([], ["a"])  # at most the one under way finished


def _stack_specs():
    spec = make_spec(trainer={"epochs": 4, "batch_size": 24, "shuffle": True, "diagnostics": True,
                              "early_stopping": {"enabled": True, "patience": 1}},
                     model={"hidden": [16, 8], "dropout": 0.2})
    return [spec.with_seed(s) for s in (0, 1, 2)]


def test_a_stack_prepared_on_another_thread_trains_as_fit_stack_alone():
    specs = _stack_specs()
    data = load(specs[0])
    alone = stack.fit_stack(specs, data, shared_cores=True)
    with ThreadPoolExecutor(1) as other:  # a thread of its own, as runner.StackPrefetch's
        prepared = other.submit(stack.prepare, specs, data, shared_cores=True, trace=True).result()
    engine = prepared.engine
    traced = {name: getattr(engine, name).experimental_get_tracing_count()
              for name in ("train_epoch", "diagnostics", "keep_best", "restore_best", "freeze", "thaw")}
    assert traced == dict.fromkeys(traced, 1)
    rows = []
    ahead = stack.fit_stack(specs, data, [rows.append] * len(specs), shared_cores=True, prepared=prepared)
    for name, count in traced.items():  # the fit traced nothing again (a retrace would also be wrong
        # here: traced off the single-threaded executor, the epoch's loop fails on it)
        assert getattr(engine, name).experimental_get_tracing_count() == count, name
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


def test_the_lanes_train_stacks_prepared_ahead_with_the_numbers_of_one_lane(compose, tmp_path, monkeypatch):
    """Four stacks on two lanes: the later ones are prepared on the prefetch thread, and every run
    ends as on one lane (where nothing is prepared ahead: the lane is the only thread)."""
    prepared_on, real_prepare = [], stack.prepare

    def recording(*args, **kwargs):
        prepared_on.append((threading.current_thread().name, kwargs.get("trace")))
        return real_prepare(*args, **kwargs)

    monkeypatch.setattr(stack, "prepare", recording)
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    out = {}
    for lanes in (1, 2):
        tasks, datasets = [], {}
        for rows in (120, 140):  # two data sets x two shapes: four stacks
            more, data = _two_stacks(compose, tmp_path / f"lanes{lanes}" / str(rows),
                                     ["trainer.epochs=3", f"dataset.n_samples={rows}"])
            tasks += more
            datasets.update(data)
        with ExitStack() as stack_:
            summaries = runner.execute_tasks(tasks, datasets, runner.Progress("none", stack_), lanes=lanes)
        assert [s["status"] for s in summaries] == ["completed"] * len(tasks)
        out[lanes] = [(s["test_accuracy"], pd.read_csv(t.folder / "metrics.csv")[cols]) for s, t in zip(summaries, tasks)]
    ahead = [name for name, trace in prepared_on if trace]
    assert ahead and all(name.startswith("dlexp-prepare") for name in ahead)
    for (acc1, m1), (acc2, m2) in zip(out[1], out[2]):  # see test_stacks_on_two_lanes_give_the_numbers_of_one_lane
        assert acc1 == pytest.approx(acc2, abs=1e-6)
        pd.testing.assert_frame_equal(m1, m2, check_exact=False, rtol=1e-5, atol=1e-6)
