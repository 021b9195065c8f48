"""Data sets as plain arrays, split the way the notebook splits them. Pure: no files written.

Every generator reproduces the notebook's numbers exactly for its default
arguments (same RandomState streams, same order of draws), so the data a
dlexp run trains on is the data the notebook trained on.
"""

from __future__ import annotations

import functools
import math
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Dict, Optional

import numpy as np

from dlexp.config import schema as C
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


# ---------------------------------------------------------------- data files: dataset=file (and dataset=mnist)
#
# dataset=file reads the user's own file; dataset=mnist is the same loader with scale=images (and,
# without a path, Keras' download). The file is read and checked twice: once by the preflight
# (check_sizes: before TensorFlow is imported and before any run folder exists; the arrays are dropped
# again, only the counts are kept) and once by the run that trains on it. Every problem with the file
# is one line: ``dataset.path: got 'P'; allowed: WHAT IS ALLOWED (WHAT IS WRONG)``.

FILE_SETS = ("file", "mnist")
FILE_SUFFIXES = (".npz", ".csv")
LABELS = "integer class labels 0, 1, ..., K-1"
MAX_CLASSES = 10_000  # a label above this is more likely a regression target than a class
MNIST_SAMPLES = 70000


@dataclass(frozen=True)
class FileOptions:
    """How a data file is read: dataset=file's fields; dataset=mnist's fixed ones (see file_options)."""

    path: Optional[str]
    label_column: str = "label"
    scale: str = "none"
    limit: Optional[int] = None


def file_options(cfg) -> FileOptions:
    if cfg.name == "mnist":  # the MNIST preset: the same loader, pixels scaled to [0, 1]
        return FileOptions(cfg.path, "label", "images", cfg.limit)
    return FileOptions(cfg.path, cfg.label_column, cfg.scale, cfg.limit)


def _bad(path, allowed: str, wrong: str) -> ConfigError:
    """The one line every bad data file gives."""
    wrong = " ".join(str(wrong).split())
    if len(wrong) > 300:
        wrong = wrong[:297] + "..."
    return ConfigError("dataset.path", path, f"{allowed} ({wrong})")


def locate(path) -> tuple[Path, str]:
    """The file named by dataset.path and its suffix (.npz or .csv)."""
    if path is None or not str(path).strip():
        raise _bad(path, "a .npz or .csv file, e.g. dataset.path=/data/mine.csv", "dataset=file reads your own file: set dataset.path")
    p = Path(str(path)).expanduser()
    if p.is_dir():
        raise _bad(path, "an existing .npz or .csv file", "a folder, not a file")
    if not p.is_file():
        raise _bad(path, "an existing .npz or .csv file", "no such file" if not p.exists() else "not a regular file")
    suffix = p.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise _bad(path, "a .npz or .csv file", f"unknown extension {p.suffix!r}" if p.suffix else "no extension")
    return p, suffix


@dataclass(frozen=True)
class _Where:
    """Names a position in the file for a message: x_train[3, 5, 7] (.npz) or a .csv row and column."""

    columns: Optional[tuple] = None  # .csv: the feature columns
    label: Optional[str] = None  # .csv: the label column

    def x(self, key: str, shape: tuple, i: int, j: int) -> str:
        if self.columns is not None:
            return f"column {self.columns[j]!r} in data row {i + 1}"
        index = (i, *(int(k) for k in np.unravel_index(j, shape[1:])))
        return f"{key}[{', '.join(map(str, index))}]"

    def y(self, key: str, i: int) -> str:
        if self.label is not None:
            return f"column {self.label!r} in data row {i + 1}"
        return f"{key}[{i}]"


def _read_npz(p: Path, path) -> dict[str, np.ndarray]:
    """The arrays of an .npz: x_train, y_train[, x_test, y_test] (a test set of its own) or x, y."""
    import zipfile

    try:
        with open(p, "rb") as f:
            npy = f.read(6) == b"\x93NUMPY"
        archive = zipfile.is_zipfile(p)
    except OSError as err:
        raise _bad(path, "a readable .npz file", f"{type(err).__name__}: {err}") from None
    if npy or not archive:
        wrong = "a single .npy array" if npy else "not a zip archive"
        raise _bad(path, "a valid .npz file", f"{wrong}; save with np.savez(path, x=x, y=y)")
    try:
        f = np.load(p, allow_pickle=False)
    except Exception as err:  # zip and format errors all mean "not a valid .npz"
        raise _bad(path, "a valid .npz file", f"{type(err).__name__}: {err}") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise _bad(path, "a valid .npz file", "not an archive; save with np.savez(path, x=x, y=y)")
    with f:
        names = list(f.files)
        tests = [k for k in ("x_test", "y_test") if k in names]
        if {"x_train", "y_train"} <= set(names):
            if len(tests) == 1:
                raise _bad(path, "an .npz with x_test and y_test together, or neither", f"found {tests[0]} alone")
            keys = ["x_train", "y_train"] + tests
        elif {"x", "y"} <= set(names):
            if tests:
                raise _bad(path, "an .npz with keys x_train, y_train[, x_test, y_test] or x, y",
                           f"found: {', '.join(names)}; a test set of its own goes with x_train, y_train")
            keys = ["x", "y"]
        else:
            raise _bad(path, "an .npz with keys x_train, y_train or x, y", f"found: {', '.join(names) or 'none'}")
        arrays = {}
        for key in keys:
            try:
                arrays[key] = np.asarray(f[key])
            except ValueError as err:
                if "allow_pickle" in str(err):
                    raise _bad(path, "an .npz of numeric arrays", f"{key} holds Python objects, dtype object") from None
                raise _bad(path, "a valid .npz file", f"array {key}: {type(err).__name__}: {err}") from None
            except Exception as err:
                raise _bad(path, "a valid .npz file", f"array {key}: {type(err).__name__}: {err}") from None
    return arrays


def _first_text(column) -> int:
    """Row of the first value in a pandas column that is not a number."""
    import pandas as pd

    text = pd.to_numeric(column, errors="coerce").isna().to_numpy() & column.notna().to_numpy()
    return int(np.argmax(text))


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _read_csv(p: Path, path, label_column: str) -> tuple[dict[str, np.ndarray], _Where]:
    """x (every column but the label column, as float32) and y of a .csv with a header row."""
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    try:
        with warnings.catch_warnings():  # e.g. DtypeWarning (mixed types): the column checks below name it
            warnings.simplefilter("ignore")
            df = pd.read_csv(p, skipinitialspace=True)
    except Exception as err:  # parser, encoding, empty-file and OS errors
        raise _bad(path, "a readable .csv file with a header row", f"{type(err).__name__}: {err}") from None
    columns = [str(c) for c in df.columns]
    if label_column not in columns:
        shown = ", ".join(repr(c) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
        wrong = f"no column {label_column!r}; columns: {shown}"
        if columns and all(_is_number(c) for c in columns):
            wrong += "; the first row looks like data, not a header"
        raise _bad(path, f"a .csv whose header row names the label column {label_column!r}, "
                   "or dataset.label_column=<the label column's name>", wrong)
    df.columns = columns
    if len(df) == 0:
        raise _bad(path, "at least one sample", "no data rows after the header")
    labels = df.pop(label_column)
    if df.shape[1] == 0:
        raise _bad(path, "a .csv with numeric feature columns besides the label column", f"only the column {label_column!r}")
    for name in df.columns:
        if not is_numeric_dtype(df[name]):
            i = _first_text(df[name])
            raise _bad(path, "a .csv with numeric feature columns",
                       f"column {name!r} holds text, e.g. {df[name].iloc[i]!r} in data row {i + 1}")
    if not is_numeric_dtype(labels):
        i = _first_text(labels)
        raise _bad(path, LABELS, f"column {label_column!r} holds text, e.g. {labels.iloc[i]!r} in data row {i + 1}; "
                   "number the classes 0..K-1")
    where = _Where(columns=tuple(df.columns), label=label_column)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: inf, reported by _features
        x = df.to_numpy(dtype="float32")
    del df
    return {"x": x, "y": labels.to_numpy()}, where


def _x_kind(x: np.ndarray, key: str, path) -> None:
    if x.dtype.kind not in "biuf":
        what = {"U": "strings", "S": "bytes", "O": "Python objects"}.get(x.dtype.kind, f"values of dtype {x.dtype}")
        raise _bad(path, "numeric features, integers or floats", f"{key} holds {what}")
    if x.ndim < 2:
        hint = "; for a single feature save x.reshape(-1, 1)" if x.ndim == 1 else ""
        raise _bad(path, f"{key} of shape (samples, features) or (samples, height, width[, channels])",
                   f"{key} has shape {x.shape}{hint}")


def _first_non_finite(x: np.ndarray) -> Optional[tuple[int, int]]:
    """(row, column) of the first NaN or inf, in blocks: no temporary as large as x."""
    step = max(1, (1 << 22) // max(1, x.shape[1]))
    for start in range(0, len(x), step):
        ok = np.isfinite(x[start:start + step])
        if not ok.all():
            i, j = np.argwhere(~ok)[0]
            return start + int(i), int(j)
    return None


def _features(x: np.ndarray, key: str, path, where: _Where) -> np.ndarray:
    """(samples, features) float32; images and other >2-D samples flattened, as MNIST always was."""
    shape = x.shape
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: inf, reported below
        flat = x.reshape(len(x), -1).astype("float32")  # (n, 28, 28) -> (n, 784)
    if flat.shape[1] == 0:
        raise _bad(path, "at least one feature per sample", f"{key} has shape {shape}")
    bad = _first_non_finite(flat)
    if bad is not None:
        i, j = bad
        value = "empty or NaN" if where.columns is not None and np.isnan(flat[i, j]) else flat[i, j]
        raise _bad(path, "finite feature values: no NaN or inf, within float32's range",
                   f"{where.x(key, shape, i, j)} is {value}")
    return flat


def _labels(y: np.ndarray, key: str, path, where: _Where) -> np.ndarray:
    """int64 labels 0..K-1, one per sample (a (n, 1) column is accepted)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = "; one-hot labels? save y.argmax(axis=1)" if y.ndim == 2 else ""
        raise _bad(path, f"{key} with one class label per sample, shape (samples,)", f"{key} has shape {y.shape}{hint}")
    if y.dtype.kind == "b":
        return y.astype("int64")
    if y.dtype.kind not in "iuf":
        what = {"U": "strings", "S": "bytes", "O": "Python objects"}.get(y.dtype.kind, f"values of dtype {y.dtype}")
        example = f", e.g. {y[:1].tolist()[0]!r}" if len(y) else ""
        raise _bad(path, LABELS, f"{key} holds {what}{example}; number the classes 0..K-1")
    if len(y) == 0:
        return y.astype("int64")
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        if not finite.all():
            i = int(np.argmin(finite))
            raise _bad(path, LABELS, f"{where.y(key, i)} is {'missing' if np.isnan(y[i]) else y[i]}")
        whole = y == np.round(y)
        if not whole.all():
            i = int(np.argmin(whole))
            raise _bad(path, LABELS, f"{where.y(key, i)} is {y[i]}, not a whole number")
    if y.min() < 0:
        i = int(np.argmax(y < 0))
        raise _bad(path, LABELS, f"{where.y(key, i)} is {y[i]}; labels start at 0")
    if y.max() >= MAX_CLASSES:
        i = int(np.argmax(y >= MAX_CLASSES))
        raise _bad(path, f"{LABELS} with K at most {MAX_CLASSES:,}", f"{where.y(key, i)} is {y[i]}; a regression target?")
    return y.astype("int64")


def _checked(raw: dict[str, np.ndarray], path, where: _Where, limit: Optional[int]) -> dict[str, np.ndarray]:
    """The file's arrays checked: x float32 (samples, features), y int64, as many labels as samples,
    at least two classes among the (first ``limit``) training labels. The whole file is checked."""
    pairs = (("x_train", "y_train"), ("x_test", "y_test")) if "x_train" in raw else (("x", "y"),)
    out: dict[str, np.ndarray] = {}
    for xk, yk in pairs:
        if xk not in raw:
            continue
        x = np.asarray(raw[xk])
        _x_kind(x, xk, path)
        y = _labels(np.asarray(raw[yk]), yk, path, where)
        if len(x) != len(y):
            raise _bad(path, f"one label per sample in {yk}", f"{xk} has {len(x)} samples, {yk} has {len(y)} labels")
        if len(x) == 0:
            raise _bad(path, "at least one sample", "no data rows after the header" if where.columns is not None else f"{xk} is empty")
        out[xk], out[yk] = _features(x, xk, path, where), y
    if "x_test" in out and out["x_test"].shape[1] != out["x_train"].shape[1]:
        raise _bad(path, "x_test with as many features per sample as x_train",
                   f"x_train has shape {raw['x_train'].shape}, x_test {raw['x_test'].shape}")
    y = out["y_train" if "y_train" in out else "y"]
    used = y[:limit] if limit else y
    classes = np.unique(used)
    if len(classes) < 2:
        where_ = f"of the first {limit} samples kept by dataset.limit " if limit and limit < len(y) else ""
        raise _bad(path, "labels of at least 2 classes in the training data", f"every label {where_}is {classes[0]}")
    return out


def read_file(opts: FileOptions) -> dict[str, np.ndarray]:
    """The data file's arrays, checked (see _checked); neither limited nor scaled yet."""
    p, suffix = locate(opts.path)
    if suffix == ".npz":
        return _checked(_read_npz(p, opts.path), opts.path, _Where(), opts.limit)
    raw, where = _read_csv(p, opts.path, opts.label_column)
    return _checked(raw, opts.path, where, opts.limit)


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


def _reads_file(cfg) -> bool:
    return cfg.name == "file" or (cfg.name == "mnist" and bool(cfg.path))


def file_arrays(cfg) -> dict[str, np.ndarray]:
    """dataset=file's (or dataset=mnist's) arrays, checked: a local file, or MNIST from Keras."""
    opts = file_options(cfg)
    if not _reads_file(cfg):
        return _checked(_download_mnist(), None, _Where(), opts.limit)
    return read_file(opts)


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


def _load_file(cfg, test_size: float, split_seed: int, stratify: bool) -> Dataset:
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
        x_train, x_test, y_train, y_test = _split(x, y, test_size, split_seed, stratify)
    x_train, x_test = _scaled(opts.scale, x_train, x_test)
    return _dataset(cfg.name, x_train, y_train, x_test, y_test)


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


def check_file_splits(spec, info: FileSummary) -> None:
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
                raise _bad(info.path, "at least 2 samples of every class when trainer.stratify=true "
                           "splits the test set off class by class", f"class {label} has 1 sample{limited}")
            k = len(info.class_counts)
            if n_test < k or n_train < k:
                raise _bad(info.path, f"a sample of each class in the test and the training part with "
                           f"trainer.test_size={t.test_size} and trainer.stratify=true",
                           f"{info.n_train} samples{limited} of {k} classes give {n_test} test and {n_train} training samples")
    n_fit = validation_cut(n_train, t.validation_split)
    n_val = n_train - n_fit
    if min(n_test, n_val, n_fit) < 1:
        raise _bad(info.path, f"enough samples for test, validation and training parts with "
                   f"trainer.test_size={t.test_size} and trainer.validation_split={t.validation_split}",
                   f"{info.n_samples} samples{limited} give {n_test} test, {n_val} validation and {n_fit} training samples")
    if t.batch_size > n_fit:
        raise ConfigError("trainer.batch_size", t.batch_size, f"at most the {n_fit} training samples")


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
    notebook; data files that carry their own test set keep it.
    """
    name = dataset_cfg.name
    if name in FILE_SETS:
        return _load_file(dataset_cfg, test_size, split_seed, stratify)
    x, y = GENERATORS[name](dataset_cfg)
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


DIGITS_SAMPLES = 1797


def sample_count(dataset_cfg) -> int:
    """How many samples a data set has, without generating it (a data file is read and checked)."""
    name = dataset_cfg.name
    if name == "spiral":
        return dataset_cfg.n_samples // dataset_cfg.n_classes * dataset_cfg.n_classes
    if name == "moons_circles":
        return 2 * dataset_cfg.n_samples
    if name in ("unstable", "classification"):
        return dataset_cfg.n_samples
    if name == "digits":
        return DIGITS_SAMPLES
    if _reads_file(dataset_cfg):
        return summarize(dataset_cfg).n_samples
    return MNIST_SAMPLES if dataset_cfg.limit is None else dataset_cfg.limit + 10000  # Keras' MNIST


def check_sizes(specs) -> None:
    """The preflight's data checks, before any data is built: every data file read and checked once
    (missing, malformed, too small for the splits), then every run's sizes (batch larger than the
    data, empty splits). Nothing is kept after it returns but the error it raises."""
    infos: dict[str, Any] = {}
    for spec in specs:
        key = repr(spec.dataset)
        if key not in infos:
            infos[key] = summarize(spec.dataset) if _reads_file(spec.dataset) else sample_count(spec.dataset)
        info = infos[key]
        if isinstance(info, FileSummary):
            check_file_splits(spec, info)
            info = info.n_samples
        C.check_against_data(spec, info)
