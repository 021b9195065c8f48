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
