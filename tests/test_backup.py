"""The Keras path's per-epoch backup works on every supported Keras (3.3 has no double checkpoint)."""

from dlexp.config import experiment
from dlexp.data import datasets as data
from dlexp.train import keras_fit


def test_a_keras_run_with_a_backup_trains_and_cleans_up(tmp_path, compose):
    cfg = compose(["dataset=moons_circles", "dataset.n_samples=120", "model.hidden=[4]", "trainer.epochs=2",
                   "trainer.batch_size=16", "trainer.diagnostics=false", "trainer.progress=none"])
    spec = experiment.expand(cfg)[0].spec
    t = spec.trainer
    ds = data.load(spec.dataset, t.test_size, t.split_seed, t.stratify)
    result = keras_fit.fit_one(spec, ds, backup_dir=tmp_path / "backup")
    assert [row["epoch"] for row in result.history] == [1, 2]
    assert not any((tmp_path / "backup").glob("*.weights.h5"))  # deleted once the run ended


def _interrupted_run(tmp_path, compose, epochs_done: int):
    """A run stopped (like Ctrl-C) after ``epochs_done`` epochs, its backup left in place."""
    import pytest

    cfg = compose(["dataset=moons_circles", "dataset.n_samples=120", "model.hidden=[4]", "trainer.epochs=5",
                   "trainer.batch_size=16", "trainer.diagnostics=false", "trainer.progress=none"])
    spec = experiment.expand(cfg)[0].spec
    t = spec.trainer
    ds = data.load(spec.dataset, t.test_size, t.split_seed, t.stratify)

    def stop_after(row):
        if row["epoch"] == epochs_done:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        keras_fit.fit_one(spec, ds, on_epoch=stop_after, backup_dir=tmp_path / "backup")
    return spec, ds


def test_a_corrupt_latest_backup_resumes_from_the_previous_one_with_its_epoch(tmp_path, compose):
    """Keras falls back to the previous backup when the latest cannot be loaded (a disk that filled
    up, a kill while writing); the epoch the run says it resumes from must be that backup's."""
    import inspect

    import keras
    import pytest

    if "double_checkpoint" not in inspect.signature(keras.callbacks.BackupAndRestore).parameters:
        pytest.skip("this Keras keeps no previous backup")
    spec, ds = _interrupted_run(tmp_path, compose, 3)
    backup = tmp_path / "backup"
    latest = backup / "latest.weights.h5"
    latest.write_bytes(latest.read_bytes()[: latest.stat().st_size // 2])  # cut off mid-write
    assert keras_fit.backup_epoch(backup) == 2  # the previous backup, the one that loads
    result = keras_fit.fit_one(spec, ds, backup_dir=backup)
    assert [row["epoch"] for row in result.history] == [3, 4, 5]

    reference = keras_fit.fit_one(spec, ds)  # the same run, never interrupted
    for resumed, full in zip(result.history, reference.history[2:]):
        assert resumed["loss"] == pytest.approx(full["loss"], rel=1e-5)


def test_an_unreadable_backup_with_nothing_before_it_starts_afresh(tmp_path, compose):
    spec, ds = _interrupted_run(tmp_path, compose, 1)
    backup = tmp_path / "backup"
    (backup / "training_metadata.json").write_text("{not json")
    assert keras_fit.backup_epoch(backup) == 0
    result = keras_fit.fit_one(spec, ds, backup_dir=backup)
    assert [row["epoch"] for row in result.history] == [1, 2, 3, 4, 5]


def test_a_backup_stopped_between_weights_and_metadata_uses_the_previous_one(tmp_path):
    """Keras writes the new weights, then their epoch: stopped in between, the latest metadata
    still names the previous epoch while the weights may be newer, so the previous pair is used."""
    import json

    import h5py
    import numpy as np

    for suffix, value in (("", 2.0), (".bkp", 1.0)):
        with h5py.File(tmp_path / f"latest.weights.h5{suffix}", "w") as f:
            f["w"] = np.full(3, value)
        (tmp_path / f"training_metadata.json{suffix}").write_text(json.dumps({"epoch": 4, "batch": 0}))
    assert keras_fit.backup_epoch(tmp_path) == 4
    with h5py.File(tmp_path / "latest.weights.h5", "r") as f:
        assert f["w"][0] == 1.0  # the previous weights, now the latest
