"""The installed `dlexp` command, end to end in subprocesses."""

import json
import os
import subprocess
import sys

import pytest


def _one_line_error(proc):
    lines = [ln for ln in proc.stderr.splitlines() if ln.strip() and not _tf_noise(ln)]
    assert proc.returncode == 2, proc.stderr
    assert len(lines) == 1, proc.stderr
    assert "Traceback" not in proc.stderr
    return lines[0]


def _tf_noise(line):
    return any(s in line for s in ("cuda", "absl::", "cuInit", "TF_ENABLE_ONEDNN"))


@pytest.mark.slow
def test_help_and_list_work(run_dlexp):
    # How fast they answer is measured in benchmarks/bench_train.py, never asserted here.
    for args in (["--help"], ["list"]):
        proc = run_dlexp(*args)
        assert proc.returncode == 0, proc.stderr
    assert "shallow_vs_deep" in run_dlexp("list").stdout
    assert "dlexp train" in run_dlexp("train", "--help").stdout


@pytest.mark.parametrize("args,starts", [
    (["train", "trainer.epochs=-1"], "dlexp: error: trainer.epochs: got -1; allowed: an integer >= 1"),
    (["train", "activation=relux"], "dlexp: error: activation: got 'relux'; allowed: elu, gelu"),
    (["train", "+exp=nope"], "dlexp: error: exp: got 'nope'; allowed: activation_comparison"),
    (["train", "trainer.batch_size=5000"], "dlexp: error: trainer.batch_size: got 5000"),
    (["train", "dataset=mnist", "dataset.path=/no/such.npz"], "dlexp: error: dataset.path: got '/no/such.npz'"),
    (["train", "activation.name=no_such_module:fn"], "dlexp: error: activation.name: got 'no_such_module:fn'"),
    (["train", "-m", "trainer.epochs=2,-3"], "dlexp: error: trainer.epochs: got -3"),
    (["reproduce", "nope"], "dlexp: error: exercise: got 'nope'; allowed: one of: shallow_vs_deep"),
    # composed in reproduce's start-up child process (startup.py): the same one line
    (["reproduce", "shallow_vs_deep", "--set", "trainer.epochs=-1"], "dlexp: error: trainer.epochs: got -1"),
    (["reproduce", "real_dataset", "--mnist", "/no/such.npz"], "dlexp: error: --mnist: got '/no/such.npz'"),
    (["frobnicate"], "dlexp: error: command: got 'frobnicate'"),
])
@pytest.mark.slow
def test_bad_input_one_line_no_traceback_no_folder(run_dlexp, tmp_path, args, starts):
    line = _one_line_error(run_dlexp(*args))
    assert line.startswith(starts), line
    assert not (tmp_path / "outputs").exists()


@pytest.mark.slow
def test_train_shallow_vs_deep_end_to_end(run_dlexp, tmp_path):
    proc = run_dlexp("train", "+exp=shallow_vs_deep", "trainer.epochs=1")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = list((tmp_path / "outputs" / "shallow_vs_deep").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["kind"] == "experiment" and summary["status"] == "completed"
    assert {v["variant"]: v["param_count"] for v in summary["variants"]} == {"shallow": 6003, "deep": 20803}
    assert (folder / "runs" / "deep" / "seed42" / "metrics.csv").exists()
    assert "shallow" in proc.stdout and "20,803" in proc.stdout


@pytest.mark.slow
def test_reproducing_only_no_training_exercises_never_imports_tensorflow(tmp_path):
    """`dlexp reproduce modern_activations` is numpy and matplotlib only (~4 s; ~12 s when it imported TF)."""
    code = ("import sys; from dlexp.cli.main import main; rc = main(sys.argv[1:]); "
            "print(rc, 'tensorflow' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, "reproduce", "modern_activations", "--out", str(tmp_path / "r")],
                         capture_output=True, text=True, check=True)
    assert out.stdout.split()[-2:] == ["0", "False"], out.stderr[-2000:]
    assert (tmp_path / "r" / "report.md").exists()


@pytest.mark.slow
def test_concurrent_runs_get_distinct_folders(run_dlexp, tmp_path):
    from conftest import dlexp_cmd

    cmd = dlexp_cmd() + ["train", "trainer.epochs=1", "model.hidden=[8]", "trainer.diagnostics=false"]
    procs = [subprocess.Popen(cmd, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.PIPE) for _ in range(3)]
    for p in procs:
        assert p.wait(timeout=300) == 0, p.stderr.read().decode()[-2000:]
    folders = list((tmp_path / "outputs" / "default").iterdir())
    assert len(folders) == 3
    assert all((f / "summary.json").exists() for f in folders)


@pytest.mark.parametrize("loaded,importing,fast", [((), False, False), (("tensorflow",), False, True),
                                                   (("tensorflow", "mlflow"), False, False), ((), True, True)])
def test_console_main_skips_the_slow_teardown_only_when_nothing_needs_it(monkeypatch, loaded, importing, fast):
    """With TensorFlow loaded, or start-up's import of it still running (an error came first), the
    exit skips the interpreter's teardown (os._exit) but keeps main()'s exit code; with a module
    whose atexit hooks matter (MLflow's queue), it exits normally."""
    from dlexp.cli import main as cli
    from dlexp.run import startup

    monkeypatch.setattr(startup, "importing", lambda: importing)

    class FastExit(Exception):
        pass

    def fake_exit(code):
        raise FastExit(code)

    monkeypatch.setattr(cli, "main", lambda: 3)
    monkeypatch.setattr(os, "_exit", fake_exit)
    for name in ("tensorflow", *cli._NEEDS_ATEXIT):
        monkeypatch.delitem(sys.modules, name, raising=False)
    for name in loaded:
        monkeypatch.setitem(sys.modules, name, object())
    with pytest.raises(FastExit if fast else SystemExit) as exc:
        cli.console_main()
    assert exc.value.args[0] == 3


@pytest.mark.slow
def test_one_thread_per_op_only_before_tf_runs_and_never_over_the_users_choice():
    """The intra-op pool is made by TF's first op: before it the setting takes, after it the call
    says no (and changes nothing); a TF_NUM_INTRAOP_THREADS in the environment is left alone."""
    code = ("from dlexp.nn import tf_runtime; import tensorflow as tf; a = tf_runtime.one_thread_per_op(); "
            "tf.constant(1.0); print(a, tf.config.threading.get_intra_op_parallelism_threads())")
    late = ("from dlexp.nn import tf_runtime; import tensorflow as tf; tf.constant(1.0); "
            "print(tf_runtime.one_thread_per_op(), tf.config.threading.get_intra_op_parallelism_threads())")
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    for src, extra, expected in ((code, {}, "True 1"), (late, {}, "False 0"),
                                 (code, {"TF_NUM_INTRAOP_THREADS": "2"}, "False 0")):
        out = subprocess.run([sys.executable, "-c", src], capture_output=True, text=True, env={**env, **extra},
                             timeout=300)
        assert out.returncode == 0, out.stderr[-2000:]
        assert out.stdout.split() == expected.split(), (src, extra)


def test_graph_remapper_is_off_once_dlexp_builds_models():
    """oneDNN's fused Dense + ReLU turns NaN into 0 (see tf_runtime); dlexp keeps the ops apart."""
    import tensorflow as tf

    from dlexp.nn import models  # noqa: F401

    assert tf.config.optimizer.get_experimental_options().get("remapping") is False


def test_the_command_turns_onednn_on_and_blas_single_threaded_unless_the_user_chose(monkeypatch):
    """cli._process_settings (the dlexp command's own process): oneDNN on and one OpenBLAS thread,
    unless the user's environment says otherwise."""
    from dlexp.cli import main as cli

    monkeypatch.delenv("OPENBLAS_NUM_THREADS", raising=False)
    monkeypatch.delenv("TF_ENABLE_ONEDNN_OPTS", raising=False)
    cli._process_settings()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "1" and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "1"
    monkeypatch.setenv("OPENBLAS_NUM_THREADS", "2")
    monkeypatch.setenv("TF_ENABLE_ONEDNN_OPTS", "0")
    cli._process_settings()
    assert os.environ["OPENBLAS_NUM_THREADS"] == "2" and os.environ["TF_ENABLE_ONEDNN_OPTS"] == "0"
