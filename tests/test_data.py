"""Data sets reproduce the notebook's numbers; splits follow its (and Keras') semantics; files are checked."""

import numpy as np
import pytest

from dlexp.data import datasets as data
from dlexp.data.files import MnistData
from dlexp.data.generators import digits, moons_circles, spiral, unstable
from dlexp.errors import ConfigError


def notebook_spiral(n_samples=1000, n_classes=3, noise=0.2):
    """The notebook's generator, verbatim in behaviour (global seed 42)."""
    np.random.seed(42)
    n = n_samples // n_classes
    xs, ys = [], []
    for k in range(n_classes):
        theta = np.linspace(0, 4 * np.pi, n) + (k * 2 * np.pi / n_classes)
        radius = np.linspace(0, 1, n)
        x1 = radius * np.cos(theta) + np.random.randn(n) * noise
        x2 = radius * np.sin(theta) + np.random.randn(n) * noise
        xs.append(np.column_stack([x1, x2]))
        ys.append(np.full(n, k))
    return np.vstack(xs), np.hstack(ys)


def test_spiral_is_the_notebooks():
    x, y = spiral.generate(spiral.Config())
    x_nb, y_nb = notebook_spiral()
    np.testing.assert_array_equal(x, x_nb)
    np.testing.assert_array_equal(y, y_nb)


def test_unstable_is_the_notebooks():
    np.random.seed(42)
    x_nb = np.random.randn(1000, 10) * 10
    y_nb = np.random.randint(0, 2, 1000)
    x, y = unstable.generate(unstable.Config())
    np.testing.assert_array_equal(x, x_nb)
    np.testing.assert_array_equal(y, y_nb)


def test_moons_circles_is_standardized_with_four_balanced_classes():
    x, y = moons_circles.generate(moons_circles.Config())
    assert x.shape == (1000, 2)
    np.testing.assert_allclose(x.mean(axis=0), 0, atol=1e-9)
    assert np.bincount(y).tolist() == [250, 250, 250, 250]


def test_test_split_is_stratified_with_its_own_seed():
    ds = data.load(spiral.Config(), 0.2, 42, True)
    assert sorted(np.bincount(ds.y_test).tolist()) == [66, 67, 67]
    again = data.load(spiral.Config(), 0.2, 42, True)
    np.testing.assert_array_equal(ds.x_test, again.x_test)
    other = data.load(spiral.Config(), 0.2, 7, True)
    assert not np.array_equal(ds.x_test, other.x_test)


def test_validation_cut_is_keras_semantics():
    assert data.validation_cut(800, 0.2) == 640  # validation = the last 20% of the training data
    assert data.validation_cut(799, 0.2) == 639


def test_digits_works_offline():
    ds = data.load(digits.Config(), 0.2, 42, True)
    assert ds.input_dim == 64 and ds.n_classes == 10 and ds.x_train.max() <= 1.0


def test_mnist_from_a_local_npz(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x_train=rng.integers(0, 255, (60, 28, 28)), y_train=np.arange(60) % 10,
             x_test=rng.integers(0, 255, (20, 28, 28)), y_test=np.arange(20) % 10)
    ds = data.load(MnistData(path=str(path)), 0.2, 42, True)
    assert ds.x_train.shape == (60, 784) and ds.x_test.shape == (20, 784)
    assert 0.0 <= ds.x_train.min() and ds.x_train.max() <= 1.0
    assert data.sample_count(MnistData(path=str(path))) == 80


def test_mnist_missing_or_malformed_files_are_config_errors(tmp_path):
    with pytest.raises(ConfigError, match=r"^dataset.path: got '.*nope.npz'; allowed: an existing .npz"):
        data.load(MnistData(path=str(tmp_path / "nope.npz")), 0.2, 42, True)
    bad = tmp_path / "bad.npz"
    bad.write_text("not a zip")
    with pytest.raises(ConfigError, match=r"^dataset.path: .*allowed: a valid .npz"):
        data.load(MnistData(path=str(bad)), 0.2, 42, True)
    wrong = tmp_path / "wrong.npz"
    np.savez(wrong, images=np.zeros((3, 2)))
    with pytest.raises(ConfigError, match=r"keys x_train, y_train or x, y \(found: images\)"):
        data.load(MnistData(path=str(wrong)), 0.2, 42, True)


def test_every_generator_shape_is_what_it_generates():
    """The preflight sizes runs with shape(): it must match the arrays (features and classes too)."""
    from dlexp.data.generators import GENERATORS

    for name, module in GENERATORS.items():
        cfg = module.Config()
        x, y = module.generate(cfg)
        assert module.shape(cfg) == (len(x), x.shape[1], int(y.max()) + 1), name
