"""Interruption, kill -9, resume and locking, with real processes."""

import json
import signal
import subprocess
import time

import pandas as pd
import pytest

from conftest import dlexp_cmd

SLOW_RUN = ["trainer.epochs=40", "model.hidden=[256,256,256]", "model.dropout=0.2", "trainer.progress=plain",
            "trainer.seed=3"]


def _start(tmp_path, *args):
    return subprocess.Popen(dlexp_cmd() + ["train", *args], cwd=tmp_path, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)


def _wait_for_rows(tmp_path, name, rows, timeout=180):
    deadline = time.time() + timeout
    while time.time() < deadline:
        for m in (tmp_path / "outputs" / name).glob("*/metrics.csv"):
            if len(m.read_text().splitlines()) > rows:
                return m.parent
        time.sleep(0.05)
    raise AssertionError("the run never reached the expected epoch")


def _complete_rows(path):
    lines = path.read_text().splitlines(keepends=True)
    header = lines[0].count(",")
    assert all(line.endswith("\n") and line.count(",") == header for line in lines), "torn row"
    return pd.read_csv(path)


@pytest.mark.slow
def test_ctrl_c_marks_interrupted_and_resume_matches_an_uninterrupted_run(tmp_path):
    proc = _start(tmp_path, *SLOW_RUN, "name=part")
    folder = _wait_for_rows(tmp_path, "part", 3)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert proc.returncode == 130, err[-2000:]
    assert "Traceback" not in err
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "interrupted"
    done = _complete_rows(folder / "metrics.csv")
    assert 3 <= len(done) < 40
    assert (folder / ".backup").exists()

    resumed = subprocess.run(dlexp_cmd() + ["train", f"resume={folder}"], cwd=tmp_path, capture_output=True, text=True,
                             timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    assert json.loads((folder / "summary.json").read_text())["status"] == "completed"
    after = _complete_rows(folder / "metrics.csv")
    assert after["epoch"].tolist() == list(range(1, 41))

    full = subprocess.run(dlexp_cmd() + ["train", *SLOW_RUN, "name=full"], cwd=tmp_path, capture_output=True,
                          text=True, timeout=600)
    assert full.returncode == 0, full.stderr[-2000:]
    (full_folder,) = (tmp_path / "outputs" / "full").iterdir()
    reference = pd.read_csv(full_folder / "metrics.csv")
    cols = ["loss", "accuracy", "val_loss", "val_accuracy"]
    pd.testing.assert_frame_equal(after[cols], reference[cols], rtol=1e-5)
    assert json.loads((folder / "summary.json").read_text())["test_accuracy"] == pytest.approx(
        json.loads((full_folder / "summary.json").read_text())["test_accuracy"], abs=1e-6)


@pytest.mark.slow
def test_kill_9_leaves_complete_rows_and_a_whole_summary(tmp_path):
    proc = _start(tmp_path, *SLOW_RUN, "name=killed")
    folder = _wait_for_rows(tmp_path, "killed", 2)
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=60)
    rows = _complete_rows(folder / "metrics.csv")
    assert len(rows) >= 2 and rows["loss"].notna().all()
    summary = json.loads((folder / "summary.json").read_text())  # never half-written
    assert summary["status"] == "running"
    assert not list(folder.glob(".*.tmp"))


@pytest.mark.slow
def test_two_reproductions_into_one_folder_do_not_both_write(tmp_path):
    from filelock import FileLock

    out = tmp_path / "rep"
    out.mkdir()
    with FileLock(str(out / ".lock")):
        proc = subprocess.run(dlexp_cmd() + ["reproduce", "modern_activations", "--out", str(out)], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert proc.returncode == 2
    assert "another dlexp reproduce is writing there" in proc.stderr
    assert not (out / "modern_activations").exists()


@pytest.mark.slow
def test_an_interrupt_swallowed_by_library_code_still_stops_training(monkeypatch):
    """Ctrl-C sets a flag as well as raising; both trainers re-raise it at the next epoch start,
    so an interrupt that some library's catch-all swallowed cannot let the run finish."""
    import signal as _signal

    from dlexp.config import schema as C
    from dlexp.data import datasets as data
    from dlexp.train import interrupts
    from dlexp.train.stack import fit as stack
    from dlexp.train import keras_fit as training

    monkeypatch.setattr(interrupts, "_requested", False)
    with pytest.raises(KeyboardInterrupt):
        interrupts._handler(_signal.SIGINT, None)
    try:  # what a catch-all in library code would do
        interrupts._handler(_signal.SIGINT, None)
    except BaseException:
        pass
    spec = C.to_spec({"dataset": {"name": "moons_circles", "n_samples": 100}, "model": {"hidden": [8]},
                      "trainer": {"epochs": 3, "batch_size": 16, "progress": "none", "diagnostics": False}})
    ds = data.load(spec.dataset, spec.trainer.test_size, spec.trainer.split_seed, spec.trainer.stratify)
    with pytest.raises(KeyboardInterrupt):
        training.fit_one(spec, ds)
    with pytest.raises(KeyboardInterrupt):
        stack.fit_stack([spec], ds)
    monkeypatch.setattr(interrupts, "_requested", False)
    assert training.fit_one(spec, ds).epochs_run == 3


def test_the_spec_hash_that_skips_finished_runs_ignores_only_display_and_outputs():
    import copy
    from dataclasses import replace

    from dlexp.config import schema as C
    from dlexp.run import writer

    spec = C.to_spec({"dataset": {"name": "moons_circles", "n_samples": 100}, "model": {"hidden": [8]},
                      "trainer": {"epochs": 2, "progress": "none"}})
    h = writer.spec_hash(spec)
    # Saved runs are found finished by this value: a change here (a new config field, another
    # serialisation) makes every earlier run train again on resume. Update it only on purpose.
    assert h == "2cc1a4a835a6"
    t = spec.trainer
    same = [replace(spec, trainer=replace(t, progress="plain")), replace(spec, trainer=replace(t, threads=1)),
            replace(spec, trainer=replace(t, backend="keras")), replace(spec, trainer=replace(t, plots=not t.plots)),
            replace(spec, logger=replace(spec.logger, tensorboard=not spec.logger.tensorboard))]
    assert [writer.spec_hash(s) for s in same] == [h] * len(same)
    # A run without gradient norms at some epochs computed something else.
    assert writer.spec_hash(replace(spec, trainer=replace(t, grad_norm_every=0))) != h
    other = [spec.with_seed(spec.seed + 1), replace(spec, trainer=replace(t, epochs=3)),
             replace(spec, optimizer=replace(spec.optimizer, learning_rate=0.5))]
    assert len({h, *(writer.spec_hash(s) for s in other)}) == 4
    as_dict = writer.spec_to_dict(spec)
    before = copy.deepcopy(as_dict)
    assert writer.spec_hash(spec, as_dict) == h and as_dict == before  # the caller's dict is left as it was
