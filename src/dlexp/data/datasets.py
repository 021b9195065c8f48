"""Data sets as plain arrays, split the way the notebook splits them. Pure: no files written.

The data sets are the generators (one module each in ``generators/``) and the data files
(``files.py``); this module is their front door: the registry the config validates against
(``DATASETS``), ``load`` (arrays split into train and test), sizes and the preflight's checks.

Every generator reproduces the notebook's numbers exactly for its default
arguments (same RandomState streams, same order of draws), so the data a
dlexp run trains on is the data the notebook trained on.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from typing import Any

import numpy as np

from dlexp.data import files
from dlexp.data.file_reader import bad_file, locate  # noqa: F401 (locate: notebook/reproduce.py checks --mnist with it)
from dlexp.data.generators import GENERATORS
from dlexp.errors import ConfigError, DataError

# Every data set's config dataclass by name: what config/schema.py validates ``dataset`` into.
DATASETS: dict[str, type] = {**{name: module.Config for name, module in GENERATORS.items()},
                             "mnist": files.MnistData, "file": files.FileData}

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

    @functools.cached_property
    def decision_grid(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(xx, yy, points) of a 2-D data set's decision plots, made once per data set: a stack's
        members are then asked about the same points object and predicted in one pass."""
        return mesh_grid(np.vstack([self.x_train, self.x_test]))


def mesh_grid(x: np.ndarray, steps: int = 200, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mesh over the 2-D data's bounding box: (xx, yy, points) with points of shape (steps*steps, 2)."""
    lo = x.min(axis=0) - margin
    hi = x.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()].astype("float32")


def load(dataset_cfg, test_size: float, split_seed: int, stratify: bool) -> Dataset:
    """Build the data set named by ``dataset_cfg`` and split off the test set.

    The test split is stratified (when asked) with its own seed, as in the
    notebook; data files that carry their own test set keep it.
    """
    name = dataset_cfg.name
    if name in files.FILE_SETS:
        parts = files.load(dataset_cfg, lambda x, y: _split(x, y, test_size, split_seed, stratify))
        return _dataset(name, *parts)
    x, y = GENERATORS[name].generate(dataset_cfg)
    x_train, x_test, y_train, y_test = _split(x, y, test_size, split_seed, stratify)
    return _dataset(name, x_train, y_train, x_test, y_test)


def _split(x, y, test_size: float, split_seed: int, stratify: bool):
    from sklearn.model_selection import train_test_split

    x = np.asarray(x, dtype="float32")
    y = np.asarray(y, dtype="int64")
    return train_test_split(x, y, test_size=test_size, random_state=split_seed, stratify=y if stratify else None)


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


def shape(dataset_cfg) -> tuple[int, int, int]:
    """(samples, features, classes) of a data set, without generating it (a data file is read and checked)."""
    if dataset_cfg.name in files.FILE_SETS:
        return files.shape(dataset_cfg)
    return GENERATORS[dataset_cfg.name].shape(dataset_cfg)


def sample_count(dataset_cfg) -> int:
    return shape(dataset_cfg)[0]


def check_sizes(specs) -> None:
    """The preflight's data checks, before any data is built: every data file read and checked once
    (missing, malformed, too small for the splits), then every run's sizes (batch larger than the
    data, empty splits). Nothing is kept after it returns but the error it raises."""
    infos: dict[str, Any] = {}
    for spec in specs:
        key = repr(spec.dataset)
        if key not in infos:
            infos[key] = files.summarize(spec.dataset) if files.reads_file(spec.dataset) else shape(spec.dataset)
        info = infos[key]
        if isinstance(info, files.FileSummary):
            check_file_splits(spec, info)
            check_against_data(spec, info.n_samples)
        else:
            check_against_data(spec, info[0], classes=info[2])


def check_file_splits(spec, info: files.FileSummary) -> None:
    """Test, validation and training parts each get a sample (and stratification one of each class),
    and a batch fits into the training part: the trainer's settings against the file's sizes."""
    t = spec.trainer
    limited = f" after dataset.limit={info.limit}" if info.limit else ""
    if info.n_test:  # the file's own test set
        n_test, n_train = info.n_test, info.n_train
    else:  # train_test_split's arithmetic
        n_test = math.ceil(t.test_size * info.n_train)
        n_train = info.n_train - n_test
        if t.stratify and n_test >= 1 and n_train >= 1:
            label, least = min(info.class_counts.items(), key=lambda kv: kv[1])
            if least < 2:
                raise bad_file(info.path, "at least 2 samples of every class when trainer.stratify=true "
                               "splits the test set off class by class", f"class {label} has 1 sample{limited}")
            k = len(info.class_counts)
            if n_test < k or n_train < k:
                raise bad_file(info.path, f"a sample of each class in the test and the training part with "
                               f"trainer.test_size={t.test_size} and trainer.stratify=true",
                               f"{info.n_train} samples{limited} of {k} classes give {n_test} test and "
                               f"{n_train} training samples")
    n_fit = validation_cut(n_train, t.validation_split)
    n_val = n_train - n_fit
    if min(n_test, n_val, n_fit) < 1:
        raise bad_file(info.path, f"enough samples for test, validation and training parts with "
                       f"trainer.test_size={t.test_size} and trainer.validation_split={t.validation_split}",
                       f"{info.n_samples} samples{limited} give {n_test} test, {n_val} validation and "
                       f"{n_fit} training samples")
    if t.batch_size > n_fit:
        raise ConfigError("trainer.batch_size", t.batch_size, f"at most the {n_fit} training samples")


def check_against_data(spec, n_samples: int, classes: int = 0) -> None:
    """Checks that need the data set's size (batch larger than the data, empty splits; with
    ``classes``, a stratified test split that has room for every class)."""
    t = spec.trainer
    n_test = math.ceil(t.test_size * n_samples)  # train_test_split's arithmetic
    if t.stratify and classes and min(n_test, n_samples - n_test) < classes:
        raise ConfigError("trainer.test_size", t.test_size, f"a fraction giving the test and the training part a "
                                                            f"sample of each of the {classes} classes with "
                                                            f"trainer.stratify=true ({n_samples} samples: {n_test} "
                                                            f"test, {n_samples - n_test} training)")
    n_train_all = int(n_samples * (1 - t.test_size))
    if n_train_all < 2 or n_samples - n_train_all < 1:  # the test split itself leaves no room: blame it
        raise ConfigError("trainer.test_size", t.test_size, f"a fraction that leaves both test and training data "
                                                            f"({n_samples} samples: {n_samples - n_train_all} test, "
                                                            f"{n_train_all} training)")
    n_fit = int(n_train_all * (1 - t.validation_split))
    if n_fit < 1 or n_train_all - n_fit < 1:
        raise ConfigError("trainer.validation_split", t.validation_split,
                          f"a fraction that leaves both training and validation data ({n_train_all} samples after the test split)")
    if t.batch_size > n_fit:
        raise ConfigError("trainer.batch_size", t.batch_size, f"at most the {n_fit} training samples")
