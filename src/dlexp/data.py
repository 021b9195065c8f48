"""Data sets as plain arrays, split the way the notebook splits them. Pure: no files written.

Every generator reproduces the notebook's numbers exactly for its default
arguments (same RandomState streams, same order of draws), so the data a
dlexp run trains on is the data the notebook trained on.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from dlexp import config as C
from dlexp.errors import ConfigError, DataError


@dataclass(frozen=True)
class Dataset:
    """Train/test arrays. Validation is carved later, Keras-style, from the end of the train part."""

    name: str
    x_train: np.ndarray
    y_train: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray
    n_classes: int

    @property
    def input_dim(self) -> int:
        return int(self.x_train.shape[1])

    @property
    def binary(self) -> bool:
        """Two classes use one sigmoid unit and binary cross-entropy, as Exercise 7 does."""
        return self.n_classes == 2

    @property
    def n_samples(self) -> int:
        return len(self.x_train) + len(self.x_test)


def spiral(cfg: C.SpiralData) -> tuple[np.ndarray, np.ndarray]:
    """Exercise 1's arms: radius 0..1, angle 0..4pi plus the class offset, Gaussian noise."""
    rng = np.random.RandomState(cfg.seed)
    n_per_class = cfg.n_samples // cfg.n_classes
    xs, ys = [], []
    for k in range(cfg.n_classes):
        theta = np.linspace(0, 4 * np.pi, n_per_class) + k * 2 * np.pi / cfg.n_classes
        radius = np.linspace(0, 1, n_per_class)
        x1 = radius * np.cos(theta) + rng.randn(n_per_class) * cfg.noise
        x2 = radius * np.sin(theta) + rng.randn(n_per_class) * cfg.noise
        xs.append(np.column_stack([x1, x2]))
        ys.append(np.full(n_per_class, k))
    return np.vstack(xs), np.hstack(ys)


def moons_circles(cfg: C.MoonsCirclesData) -> tuple[np.ndarray, np.ndarray]:
    """Exercise 4: moons (classes 0, 1) plus moved circles (classes 2, 3), standardized.

    Like the notebook, the scaler is fit on all 1,000 points before the split.
    """
    from sklearn.datasets import make_circles, make_moons
    from sklearn.preprocessing import StandardScaler

    x1, y1 = make_moons(n_samples=cfg.n_samples, noise=cfg.moons_noise, random_state=cfg.seed)
    x2, y2 = make_circles(n_samples=cfg.n_samples, noise=cfg.circles_noise, factor=cfg.factor, random_state=cfg.seed)
    x2 = x2 * cfg.circles_scale + cfg.circles_offset
    x = np.vstack([x1, x2])
    y = np.hstack([y1, y2 + 2])
    if cfg.standardize:
        x = StandardScaler().fit_transform(x)
    return x, y


def unstable(cfg: C.UnstableData) -> tuple[np.ndarray, np.ndarray]:
    """Exercise 7: large Gaussian inputs with labels that carry no signal."""
    rng = np.random.RandomState(cfg.seed)
    x = rng.randn(cfg.n_samples, cfg.n_features) * cfg.scale
    y = rng.randint(0, 2, cfg.n_samples)
    return x, y


def classification(cfg: C.ClassificationData) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import make_classification

    return make_classification(
        n_samples=cfg.n_samples, n_features=cfg.n_features, n_informative=cfg.n_informative,
        n_redundant=cfg.n_redundant, n_classes=cfg.n_classes, class_sep=cfg.class_sep,
        random_state=cfg.seed,
    )


def digits(cfg: C.DigitsData) -> tuple[np.ndarray, np.ndarray]:
    from sklearn.datasets import load_digits

    bunch = load_digits()
    x = bunch.data / 16.0 if cfg.scale else bunch.data
    return x, bunch.target


def _flatten_images(x: np.ndarray) -> np.ndarray:
    x = x.reshape(len(x), -1).astype("float32")  # (n, 28, 28) -> (n, 784)
    return x / 255.0 if x.max() > 1.0 else x


def read_mnist_npz(path: str) -> dict[str, np.ndarray]:
    """Read an MNIST-style .npz: x_train/y_train (and optionally x_test/y_test), or x/y."""
    p = Path(path).expanduser()
    if not p.is_file():
        raise ConfigError("dataset.path", path, "an existing .npz file (keys x_train, y_train[, x_test, y_test] or x, y)")
    try:
        with np.load(p, allow_pickle=False) as f:
            arrays = {k: f[k] for k in f.files}
    except Exception as err:  # zipfile/pickle/format errors all mean "not a valid .npz"
        raise ConfigError("dataset.path", path, f"a valid .npz file ({type(err).__name__}: {err})") from None
    if not ({"x_train", "y_train"} <= arrays.keys() or {"x", "y"} <= arrays.keys()):
        raise ConfigError("dataset.path", path, f"an .npz with keys x_train, y_train or x, y (found: {', '.join(arrays) or 'none'})")
    return arrays


def load_mnist_arrays(cfg: C.MnistData) -> dict[str, np.ndarray]:
    if cfg.path:
        return read_mnist_npz(cfg.path)
    try:
        import keras  # only reached when no local file is given

        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    except Exception as err:
        raise DataError(
            f"dataset.path: got None; MNIST could not be downloaded ({type(err).__name__}); "
            "allowed: a local .npz path, e.g. dataset.path=/data/mnist.npz"
        ) from None
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}


GENERATORS: dict[str, Callable] = {
    "spiral": spiral,
    "moons_circles": moons_circles,
    "unstable": unstable,
    "classification": classification,
    "digits": digits,
}


def load(dataset_cfg, test_size: float, split_seed: int, stratify: bool) -> Dataset:
    """Build the data set named by ``dataset_cfg`` and split off the test set.

    The test split is stratified (when asked) with its own seed, as in the
    notebook; MNIST files that carry their own test set keep it.
    """
    name = dataset_cfg.name
    if name == "mnist":
        arrays = load_mnist_arrays(dataset_cfg)
        if "x_train" in arrays:
            x_train, y_train = _flatten_images(arrays["x_train"]), arrays["y_train"].astype("int64")
            if dataset_cfg.limit:
                x_train, y_train = x_train[: dataset_cfg.limit], y_train[: dataset_cfg.limit]
            if "x_test" in arrays and "y_test" in arrays:
                x_test, y_test = _flatten_images(arrays["x_test"]), arrays["y_test"].astype("int64")
                return _dataset(name, x_train, y_train, x_test, y_test)
            x, y = x_train, y_train
        else:
            x, y = _flatten_images(arrays["x"]), arrays["y"].astype("int64")
            if dataset_cfg.limit:
                x, y = x[: dataset_cfg.limit], y[: dataset_cfg.limit]
    else:
        x, y = GENERATORS[name](dataset_cfg)
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype="float32")
    y = np.asarray(y, dtype="int64")
    x_train, x_test, y_train, y_test = train_test_split(
        x, y, test_size=test_size, random_state=split_seed, stratify=y if stratify else None
    )
    return _dataset(name, x_train, y_train, x_test, y_test)


def _dataset(name, x_train, y_train, x_test, y_test) -> Dataset:
    if len(x_train) != len(y_train) or len(x_test) != len(y_test):
        raise DataError(f"dataset: images and labels differ in length ({len(x_train)} vs {len(y_train)})")
    n_classes = int(max(y_train.max(), y_test.max()) + 1)
    return Dataset(name, x_train.astype("float32"), y_train, x_test.astype("float32"), y_test, n_classes)


def epoch_order(seed: int, epoch: int, n: int, shuffle: bool = True) -> np.ndarray:
    """The order of the training rows in ``epoch`` (0-based): a function of (seed, epoch) only.

    Both trainers use it, so a stacked member sees exactly the batches its solo
    run would, and a resumed run continues with the batches it would have had.
    """
    if not shuffle:
        return np.arange(n)
    return np.random.default_rng([seed, epoch]).permutation(n)


def validation_cut(n_train: int, validation_split: float) -> int:
    """Index where Keras' ``validation_split`` starts the validation part (the last fraction)."""
    return int(n_train * (1.0 - validation_split))


DIGITS_SAMPLES = 1797


def sample_count(dataset_cfg) -> int:
    """How many samples a data set has, without generating it (MNIST reads its file header)."""
    name = dataset_cfg.name
    if name == "spiral":
        return dataset_cfg.n_samples // dataset_cfg.n_classes * dataset_cfg.n_classes
    if name == "moons_circles":
        return 2 * dataset_cfg.n_samples
    if name in ("unstable", "classification"):
        return dataset_cfg.n_samples
    if name == "digits":
        return DIGITS_SAMPLES
    if dataset_cfg.path is None:
        return 70000 if dataset_cfg.limit is None else dataset_cfg.limit + 10000
    arrays = read_mnist_npz(dataset_cfg.path)
    n = len(arrays.get("x_train", arrays.get("x")))
    if dataset_cfg.limit:
        n = min(n, dataset_cfg.limit)
    return n + len(arrays.get("x_test", []))


def check_sizes(specs) -> None:
    """Size checks for every run (batch larger than the data, empty splits) before any data is built."""
    counts: dict[str, int] = {}
    for spec in specs:
        key = repr(spec.dataset)
        if key not in counts:
            counts[key] = sample_count(spec.dataset)
        C.check_against_data(spec, counts[key])
