"""The data sets read from a file: ``dataset=file`` (the user's .npz or .csv) and ``dataset=mnist``
(the same loader with ``scale=images`` and, without a path, Keras' download).

The file is read and checked twice: once by the preflight (``summarize``, before TensorFlow is
imported and before any run folder exists; the arrays are dropped again, only the counts are
kept) and once by the run that trains on it (``load``). Reading and checking is file_reader's.
"""

from __future__ import annotations

import math
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Dict, Optional

import numpy as np

from dlexp.checks import check
from dlexp.data import file_reader
from dlexp.data.file_reader import FileOptions, Where
from dlexp.errors import DataError

FILE_SETS = ("file", "mnist")
FILE_SCALES = ("none", "standard", "max", "images")
MNIST_SAMPLES = 70000


@dataclass(frozen=True)
class MnistData:
    """MNIST-style images: a local file read like ``dataset=file`` with ``scale=images``, or Keras' loader."""

    name: str = "mnist"
    path: Optional[str] = None
    limit: Optional[int] = None  # keep only the first N training images (speed)

    def __post_init__(self) -> None:
        if self.limit is not None:
            check(self.limit >= 10, "limit", self.limit, "null or an integer >= 10")


@dataclass(frozen=True)
class FileData:
    """The user's own data file: .npz (x, y or x_train, y_train[, x_test, y_test]) or .csv
    (a header row, numeric feature columns, an integer label column). ``dataset=mnist`` is the same
    loader with ``scale=images``. The file itself is checked before training (data.check_sizes):
    ``path`` is required there, not here, so ``dataset=file`` composes without one."""

    name: str = "file"
    path: Optional[str] = None
    label_column: str = "label"  # .csv: the column holding the class labels; every other column is a feature
    # none: as in the file; standard: (x - mean) / std per feature; max: x / max|x| per feature (both
    # measured on the training part); images: / 255 when the largest value is above 1 (as dataset=mnist)
    scale: str = "none"
    limit: Optional[int] = None  # keep only the first N training samples (speed)

    def __post_init__(self) -> None:
        check(self.scale in FILE_SCALES, "scale", self.scale, "one of: " + ", ".join(FILE_SCALES))
        check(bool(self.label_column), "label_column", self.label_column, "a column name of the .csv file")
        if self.limit is not None:
            check(self.limit >= 10, "limit", self.limit, "null or an integer >= 10")


def file_options(cfg) -> FileOptions:
    if cfg.name == "mnist":  # the MNIST preset: the same loader, pixels scaled to [0, 1]
        return FileOptions(cfg.path, "label", "images", cfg.limit)
    return FileOptions(cfg.path, cfg.label_column, cfg.scale, cfg.limit)


def _download_mnist() -> dict[str, np.ndarray]:
    try:
        import keras  # only reached when no local file is given

        (xtr, ytr), (xte, yte) = keras.datasets.mnist.load_data()
    except Exception as err:
        raise DataError(
            f"dataset.path: got None; MNIST could not be downloaded ({type(err).__name__}); "
            "allowed: a local .npz path, e.g. dataset.path=/data/mnist.npz"
        ) from None
    return {"x_train": xtr, "y_train": ytr, "x_test": xte, "y_test": yte}


def reads_file(cfg) -> bool:
    """Whether the data set is a local file (dataset=mnist without a path is Keras' download)."""
    return cfg.name == "file" or (cfg.name == "mnist" and bool(cfg.path))


def file_arrays(cfg) -> dict[str, np.ndarray]:
    """dataset=file's (or dataset=mnist's) arrays, checked: a local file, or MNIST from Keras."""
    opts = file_options(cfg)
    if not reads_file(cfg):
        return file_reader.checked(_download_mnist(), None, Where(), opts.limit)
    return file_reader.read_file(opts)


def _images(x: np.ndarray) -> np.ndarray:
    """8-bit pixels to [0, 1]; data already in [0, 1] stays as it is (MNIST's rule, per array)."""
    return x / 255.0 if x.max() > 1.0 else x


def _scaled(how: str, x_train: np.ndarray, x_test: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """standard / max scaling per feature, measured on the training part (the validation part that
    Keras later carves from its end included); the test part gets the same transform."""
    if how == "standard":
        shift = x_train.mean(axis=0, dtype="float64")
        div = x_train.std(axis=0, dtype="float64")
    elif how == "max":
        shift = np.zeros(x_train.shape[1])
        div = np.abs(x_train).max(axis=0).astype("float64")
    else:
        return x_train, x_test
    div[div == 0] = 1.0  # a constant feature stays as it is (standard: becomes 0)
    return ((x_train - shift) / div).astype("float32"), ((x_test - shift) / div).astype("float32")


def load(cfg, split: Callable) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """(x_train, y_train, x_test, y_test) of the file: its own test set, or ``split(x, y)``'s
    (train_test_split's order: x_train, x_test, y_train, y_test); limited and scaled."""
    opts = file_options(cfg)
    arrays = file_arrays(cfg)
    if opts.scale == "images":  # before the limit, as MNIST always did
        arrays = {k: _images(v) if k.startswith("x") else v for k, v in arrays.items()}
    x, y = (arrays["x_train"], arrays["y_train"]) if "x_train" in arrays else (arrays["x"], arrays["y"])
    if opts.limit:
        x, y = x[: opts.limit], y[: opts.limit]
    if "x_test" in arrays:  # a test set of its own is kept
        x_train, y_train, x_test, y_test = x, y, arrays["x_test"], arrays["y_test"]
    else:
        x_train, x_test, y_train, y_test = split(x, y)
    x_train, x_test = _scaled(opts.scale, x_train, x_test)
    return x_train, y_train, x_test, y_test


@dataclass(frozen=True)
class FileSummary:
    """What the preflight keeps of a data file: its sizes and the training labels' classes."""

    path: Optional[str]
    limit: Optional[int]
    n_train: int  # the samples split into test/validation/training (x, y), or trained on (x_train), after limit
    n_test: int  # the file's own test samples (x_test); 0: the test set is split off
    class_counts: Dict[int, int]  # label -> samples among the n_train

    @property
    def n_samples(self) -> int:
        return self.n_train + self.n_test


def summarize(cfg) -> FileSummary:
    """Read and check dataset=file's (or mnist's) file; keep only its sizes (the arrays are dropped)."""
    arrays = file_arrays(cfg)
    y = arrays["y_train"] if "y_train" in arrays else arrays["y"]
    if cfg.limit:
        y = y[: cfg.limit]
    labels, counts = np.unique(y, return_counts=True)
    return FileSummary(cfg.path, cfg.limit, len(y), len(arrays.get("y_test", ())),
                       dict(zip(labels.tolist(), counts.tolist())))


MNIST_FEATURES = 28 * 28


def shape(cfg) -> tuple[int, int, int]:
    """(samples, features, classes) of the data set (a data file is read and checked)."""
    if not reads_file(cfg):  # Keras' MNIST download
        return (MNIST_SAMPLES if cfg.limit is None else cfg.limit + 10000), MNIST_FEATURES, 10
    info = summarize(cfg)
    return info.n_samples, feature_count(Path(str(cfg.path)).expanduser()), max(info.class_counts) + 1


def feature_count(path: Path) -> int:
    """Features per sample of an .npz or .csv data file, from its header alone."""
    if path.suffix.lower() == ".csv":
        with open(path, encoding="utf-8", errors="replace") as f:
            return max(1, len(f.readline().split(",")) - 1)
    with zipfile.ZipFile(path) as archive:
        names = archive.namelist()
        member = next(n for n in ("x_train.npy", "x.npy") if n in names)
        with archive.open(member) as f:
            major, _ = np.lib.format.read_magic(f)
            read = np.lib.format.read_array_header_1_0 if major == 1 else np.lib.format.read_array_header_2_0
            rows_and_features = read(f)[0]
    return max(1, math.prod(rows_and_features[1:]))
