"""What a new user of the installed command ran into: each test reproduces one friction."""

import os
import subprocess
import sys
import textwrap

import pytest

from dlexp.cli import main as cli
from dlexp.cli import preflight as train_cmd
from dlexp.run import native_log


def test_mistyped_key_names_the_closest_valid_key(capsys):
    assert cli.main(["train", "trainer.epoch=3"]) == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("dlexp: error: trainer.epoch: unknown key (did you mean trainer.epochs?)"), err
    assert "+trainer.epoch" not in err  # Hydra's suggestion adds a key nobody reads
    assert len(err.splitlines()) == 1


def test_debug_shows_the_traceback_and_keeps_exit_2(capsys):
    assert cli.main(["--debug", "train", "trainer.epochs=-1"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" in err and err.strip().endswith("allowed: an integer >= 1")


def _user_configs(tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "exp").mkdir()
    (tmp_path / "model" / "deep.yaml").write_text("kind: mlp\nhidden: [7, 7]\ndropout: 0.0\n")
    (tmp_path / "exp" / "mine.yaml").write_text("# @package _global_\ndescription: my own preset\nname: mine\n")
    return tmp_path


def test_config_dir_file_replaces_the_packaged_one(tmp_path, capsys):
    folder = _user_configs(tmp_path)
    assert cli.main(["train", "-cd", str(folder), "--cfg", "job"]) == 0
    out = capsys.readouterr().out
    assert "- 7\n  - 7\n" in out and "- 100" not in out
    assert native_log.VERBOSE_ENV not in os.environ and "DLEXP_CONFIG_DIR" not in os.environ


def test_config_dir_new_preset_composes_and_preflights(tmp_path):
    folder = _user_configs(tmp_path)
    with train_cmd.user_config_dir(["-cd", str(folder)]):
        assert train_cmd.preflight(["-cd", str(folder), "+exp=mine", "model=deep"]) == 1


def test_list_shows_user_presets_and_every_exercise(tmp_path, capsys):
    folder = _user_configs(tmp_path)
    assert cli.main(["list", "-cd", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "mine" in out and "my own preset (yours)" in out
    assert "modern_activations" in out  # analysis-only exercise, sent here by reproduce --help
    assert "shallow_vs_deep" in out


def test_help_texts_mention_resume_and_verbose(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    assert "resume=DIR" in out and "--verbose" in out


def test_native_tf_lines_are_filtered_and_others_kept(capfd, monkeypatch):
    monkeypatch.delenv(native_log.VERBOSE_ENV, raising=False)
    with native_log.native_stderr_filtered():
        os.write(2, b"I0000 00:00:1796529475.519655    7001 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, b"WARNING: All log messages before absl::InitializeLog() is called are written to STDERR\n")
        os.write(2, b"E0000 00:00:1796529484.858162    7001 cuda_platform.cc:52] failed call to cuInit\n")
        os.write(2, b"a real problem\n")
        print("python says hi", file=sys.stderr)
    err = capfd.readouterr().err
    assert "a real problem" in err and "python says hi" in err
    assert "oneDNN" not in err and "absl" not in err and "cuInit" not in err


def test_verbose_keeps_native_lines(capfd, monkeypatch):
    monkeypatch.setenv(native_log.VERBOSE_ENV, "1")
    with native_log.native_stderr_filtered():
        os.write(2, b"I0000 00:00:1796529475.519655    7001 port.cc:153] oneDNN custom operations are on.\n")
    assert "oneDNN" in capfd.readouterr().err


def _dlexp():
    exe = os.path.join(os.path.dirname(sys.executable), "dlexp")
    if not os.path.exists(exe):
        pytest.skip("the dlexp console script is not installed in this environment")
    return exe


def test_list_into_a_closed_pipe_prints_no_traceback(tmp_path):
    proc = subprocess.run(f"'{_dlexp()}' list | head -1", shell=True, cwd=tmp_path, capture_output=True, text=True,
                          timeout=120)
    assert proc.stdout.strip() == "Presets (dlexp train +exp=NAME):"
    assert proc.stderr == "", proc.stderr


@pytest.mark.slow
def test_console_script_finds_own_activation_in_cwd_without_tf_noise(tmp_path):
    pkg = tmp_path / "my_pkg"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "acts.py").write_text(textwrap.dedent("""
        import tensorflow as tf

        def half_relu(x):
            return 0.5 * tf.nn.relu(x)
    """))
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "TF_CPP_MIN_LOG_LEVEL")}
    proc = subprocess.run([_dlexp(), "train", "activation.name=my_pkg.acts:half_relu", "trainer.epochs=1",
                           "dataset.n_samples=300", "trainer.plots=false"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=300, env=env)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert "completed" in proc.stdout
    noise = [ln for ln in proc.stderr.splitlines() if native_log.is_native_line(ln) or "cuda" in ln.lower()]
    assert noise == [], noise


@pytest.mark.slow
def test_one_seed_reproduction_measures_single_run_presets(tmp_path):
    """With --seeds 1 a one-variant preset is a single run whose folder is the preset's folder: the
    comparison must not overwrite its summary.json, or its claims find no finished run."""
    out = tmp_path / "rep"
    proc = subprocess.run([_dlexp(), "reproduce", "representations", "--seeds", "1", "--epochs", "1", "--out", str(out)],
                          cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    import pandas as pd

    claims = pd.read_csv(out / "claims.csv")
    assert (claims["n_seeds"] == 1).all(), claims[["claim_id", "n_seeds", "note"]]
    assert "no finished runs" not in " ".join(claims["note"].fillna(""))
    proc = subprocess.run([_dlexp(), "report", str(out)], cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0, proc.stderr[-2000:]
    assert (pd.read_csv(out / "claims.csv")["n_seeds"] == 1).all()


def test_quiet_tf_import_leaves_the_thread_pools_unmade():
    """Filtering TF's start-up lines must not create its devices early: the runner sizes the
    thread pools afterwards (one_thread_per_op), which TF allows only before its first op."""
    code = ("from dlexp.run import native_log; native_log.import_tensorflow();"
            "from dlexp.nn import tf_runtime; print(tf_runtime.one_thread_per_op())")
    env = {k: v for k, v in os.environ.items() if k != "TF_NUM_INTRAOP_THREADS"}
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120, env=env)
    assert out.stdout.strip() == "True", out.stderr[-2000:]


def test_tf_logging_works_after_the_quiet_import():
    """TF's logger is made during the filtered import; it must not keep the temporary stream."""
    code = ("from dlexp.run import native_log; native_log.import_tensorflow();"
            "import tensorflow as tf; tf.get_logger().warning('still heard')")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert "still heard" in out.stderr and "Logging error" not in out.stderr, out.stderr[-2000:]


def test_glob_sweeps_expand_in_preflight():
    assert train_cmd.preflight(["-m", "activation=glob(re*)", "optimizer=glob(*)"]) == 3  # relu x adam/rmsprop/sgd


@pytest.mark.slow
def test_a_preset_with_a_failed_run_exits_1(tmp_path):
    (tmp_path / "acts.py").write_text(textwrap.dedent("""
        def broken(x):
            if x.shape[0] is None:  # fails on the model's symbolic input, after preflight's check
                raise RuntimeError("broken on purpose")
            return x
    """))
    args = [_dlexp(), "train", "+variants={ok: {}, bad: {activation: {name: 'acts:broken'}}}", "trainer.epochs=1",
            "dataset.n_samples=200", "trainer.plots=false", "logger=none"]
    proc = subprocess.run(args, cwd=tmp_path, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 1, proc.stderr[-2000:]
    assert "completed" in proc.stdout and "failed" in proc.stdout


FATAL = (b"F0000 00:00:1796529475.519655    7001 op_kernel.cc:42] Check failed: status.ok() kernel not registered\n"
         b"terminate called after throwing an instance of 'std::bad_alloc'\n")


def test_fatal_native_lines_pass_the_filter(capfd, monkeypatch):
    monkeypatch.delenv(native_log.VERBOSE_ENV, raising=False)
    with native_log.native_stderr_filtered():
        os.write(2, b"I0000 00:00:1796529475.519655    7001 port.cc:153] oneDNN custom operations are on.\n")
        os.write(2, FATAL)
    err = capfd.readouterr().err
    assert "Check failed: status.ok()" in err and "terminate called" in err and "oneDNN" not in err


def test_a_native_crash_during_the_filtered_import_still_shows_its_message():
    """TF aborting inside the filter (a failed check, std::terminate) kills the process before the
    filter could hand back what it held: its last lines must reach the terminal all the same."""
    code = ("import os; from dlexp.run import native_log\n"
            "with native_log.native_stderr_filtered():\n"
            "    os.write(2, b'I0000 00:00:1796529475.519655    7001 port.cc:153] oneDNN custom operations are on.\\n')\n"
            f"    os.write(2, {FATAL!r})\n"
            "    os.abort()\n")
    env = {k: v for k, v in os.environ.items() if k != native_log.VERBOSE_ENV}
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert proc.returncode != 0
    assert "Check failed: status.ok()" in proc.stderr and "terminate called" in proc.stderr, proc.stderr
    assert "oneDNN" not in proc.stderr


@pytest.mark.parametrize("line,native", [
    ("I0000 00:00:1796542152.036915   17729 port.cc:153] oneDNN custom operations are on.", True),
    ("2026-12-06 07:44:00.933065: E external/local_xla/xla/stream_executor/cuda/cuda_fft.cc:479] Unable to "
     "register cuFFT factory", True),  # TF 2.16's own format: it leaked into `reproduce`'s one-line errors
    ("2026-12-06 07:44:00.933065: F tensorflow/core/framework/tensor.cc:1] Check failed: x", False),
    ("F0000 00:00:1796542152.036915   17729 op.cc:1] fatal", False),
    ("dlexp: error: --epochs: got 100000", False),
])
def test_native_log_lines_of_every_supported_tensorflow_are_recognized(line, native):
    from dlexp.run import native_log

    assert native_log.is_native_line(line) == native
