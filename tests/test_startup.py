"""startup.beside_tf_import: the child's result, its errors, and the fallback without fork."""

import multiprocessing
import os
import sys

import numpy as np
import pytest

from dlexp.train import interrupts
from dlexp.run import startup
from dlexp.errors import ConfigError, DlexpError

needs_fork = pytest.mark.skipif(not sys.platform.startswith("linux"), reason="fork-based start-up is Linux-only")


@pytest.fixture
def forking(monkeypatch):
    """Take the fork path even though pytest has threads and may have TF loaded (the child here
    runs only the small functions below, never TF)."""
    monkeypatch.setattr(startup, "can_fork", lambda: True)


def _arrays(n, seed):
    return {"x": np.random.default_rng(seed).normal(size=(n, 3)), "pid": os.getpid()}


@needs_fork
def test_result_comes_from_a_child_process(forking):
    out = startup.beside_tf_import(_arrays, 500, 1, modules=())
    np.testing.assert_array_equal(out["x"], _arrays(500, 1)["x"])
    assert out["pid"] != os.getpid()  # computed in the child, not here


def _bad_config():
    raise ConfigError("trainer.epochs", -1, "an integer >= 1")


@needs_fork
def test_a_user_error_keeps_its_message(forking):
    with pytest.raises(DlexpError, match=r"^trainer.epochs: got -1; allowed: an integer >= 1$"):
        startup.beside_tf_import(_bad_config, modules=())


def _bug():
    raise ValueError("a bug in the child")


def _dies():
    os._exit(3)


@needs_fork
def test_a_crash_or_a_dead_child_is_not_a_user_error(forking):
    with pytest.raises(RuntimeError, match="ValueError: a bug in the child"):  # with the child's traceback
        startup.beside_tf_import(_bug, modules=())
    with pytest.raises(RuntimeError, match="exited with code 3"):
        startup.beside_tf_import(_dies, modules=())


@needs_fork
def test_the_import_runs_beside_the_child_and_is_done_when_the_result_is(forking, monkeypatch):
    monkeypatch.delitem(sys.modules, "json.tool", raising=False)
    startup.beside_tf_import(_arrays, 3, 0, modules=("json.tool",))
    assert "json.tool" in sys.modules and not startup.importing()


@needs_fork
def test_the_import_runs_without_cyclic_gc_and_its_objects_end_frozen(forking, monkeypatch):
    import gc

    seen = []
    monkeypatch.setattr(startup.importlib, "import_module", lambda name: seen.append((name, gc.isenabled())))
    frozen_before = gc.get_freeze_count()
    try:
        startup.beside_tf_import(_arrays, 3, 0, modules=("a", "b"))
        assert seen == [("a", False), ("b", False)]
        assert gc.isenabled() and gc.get_freeze_count() > frozen_before
    finally:
        gc.unfreeze()  # this test session's heap is not start-up's: let the GC see it again
        gc.enable()


def test_without_fork_it_runs_here(monkeypatch):
    monkeypatch.setattr(startup, "can_fork", lambda: False)
    assert startup.beside_tf_import(_arrays, 2, 0)["pid"] == os.getpid()
    with pytest.raises(ConfigError):  # the original exception, not a copy
        startup.beside_tf_import(_bad_config)


def test_no_fork_once_tensorflow_is_loaded(monkeypatch):
    monkeypatch.setitem(sys.modules, "tensorflow", object())
    assert not startup.can_fork()


def _sleeps():
    import time

    time.sleep(60)


@needs_fork
def test_an_interrupt_while_waiting_terminates_the_child(forking, monkeypatch):
    import multiprocessing.process
    import signal
    import threading

    terminated = []
    terminate = multiprocessing.process.BaseProcess.terminate
    monkeypatch.setattr(multiprocessing.process.BaseProcess, "terminate",
                        lambda self: (terminated.append(self.name), terminate(self)))
    # What the CLI installs (interrupts.install): a Ctrl-C raises KeyboardInterrupt. Set here, not
    # inherited: once, in a clean-clone CI run after ~280 other tests in the same process, this test
    # saw no KeyboardInterrupt at all (pytest: "DID NOT RAISE"), most likely because the SIGINT
    # handler installed by then did not raise, so the child's sleep ran out and its result came
    # back. It did not reproduce (the same files in the same order passed locally); the print below
    # shows the inherited handler if this test ever fails again.
    print("SIGINT handler before this test:", signal.getsignal(signal.SIGINT))
    monkeypatch.setattr(interrupts, "_requested", interrupts._requested)  # the handler sets it: restored after
    previous = signal.signal(signal.SIGINT, interrupts._handler)
    try:
        threading.Timer(0.5, os.kill, (os.getpid(), signal.SIGINT)).start()
        with pytest.raises(KeyboardInterrupt):
            startup.beside_tf_import(_sleeps, modules=())
    finally:
        signal.signal(signal.SIGINT, previous)
    assert terminated == ["dlexp-startup"]  # not waited for (its 60 s sleep)
    assert not [p for p in multiprocessing.active_children() if p.name == "dlexp-startup"]


def test_reproduce_quiets_tf_logs_before_start_up_imports_it(monkeypatch, tmp_path):
    """TF reads TF_CPP_MIN_LOG_LEVEL once, at its import, which start-up now begins before
    anything trains: reproduce.main must set its default first."""
    from dlexp.notebook import reproduce

    seen = []

    def stop(*_args, **_kwargs):
        seen.append(os.environ.get("TF_CPP_MIN_LOG_LEVEL"))
        raise DlexpError("stop here")

    monkeypatch.delenv("TF_CPP_MIN_LOG_LEVEL", raising=False)
    monkeypatch.setattr(startup, "beside_tf_import", stop)
    with pytest.raises(DlexpError, match="stop here"):
        reproduce.main(["shallow_vs_deep", "--out", str(tmp_path / "r")])
    assert seen == ["2"]
    assert not (tmp_path / "r").exists()


@needs_fork
def test_the_child_goes_on_to_a_second_result_after_sending_the_first(forking):
    first, later = startup.beside_tf_import(_arrays, 4, 1, modules=(), then=(_arrays, (6, 2)))
    second = later.get()
    np.testing.assert_array_equal(second["x"], _arrays(6, 2)["x"])
    assert first["pid"] == second["pid"] != os.getpid()  # the same child, not this process
    with pytest.raises(RuntimeError, match="already taken"):  # never computed again, here
        later.get()


@needs_fork
def test_the_second_results_errors_surface_at_get_and_a_failed_first_stops_the_child(forking):
    _, later = startup.beside_tf_import(_arrays, 2, 0, modules=(), then=(_bad_config, ()))
    with pytest.raises(DlexpError, match="trainer.epochs"):
        later.get()
    _, crashing = startup.beside_tf_import(_arrays, 2, 0, modules=(), then=(_bug, ()))
    with pytest.raises(RuntimeError, match="a bug in the child"):
        crashing.get()
    with pytest.raises(DlexpError):  # the first fails: the second is never computed, the child ends
        startup.beside_tf_import(_bad_config, modules=(), then=(_arrays, (2, 0)))
    assert not [p for p in multiprocessing.active_children() if p.name == "dlexp-startup"]


def test_without_fork_the_second_result_is_computed_when_asked_for(monkeypatch):
    monkeypatch.setattr(startup, "can_fork", lambda: False)
    calls = []
    first, later = startup.beside_tf_import(_arrays, 3, 0, modules=(), then=(lambda: calls.append(1) or "done", ()))
    assert first["pid"] == os.getpid() and calls == []
    assert later.get() == "done" and calls == [1]
