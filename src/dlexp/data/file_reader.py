"""Reading and checking a data file (dataset=file, dataset=mnist): .npz or .csv into arrays.

Every problem with the file is one line: ``dataset.path: got 'P'; allowed: WHAT IS ALLOWED
(WHAT IS WRONG)``, naming the array and index (.npz) or the row and column (.csv) at fault.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Optional

import numpy as np

from dlexp.errors import ConfigError

FILE_SUFFIXES = (".npz", ".csv")
LABELS = "integer class labels 0, 1, ..., K-1"
MAX_CLASSES = 10_000  # a label above this is more likely a regression target than a class


@dataclass(frozen=True)
class FileOptions:
    """How a data file is read: dataset=file's fields; dataset=mnist's fixed ones (see files.file_options)."""

    path: Optional[str]
    label_column: str = "label"
    scale: str = "none"
    limit: Optional[int] = None


def bad_file(path, allowed: str, wrong: str) -> ConfigError:
    """The one line every bad data file gives."""
    wrong = " ".join(str(wrong).split())
    if len(wrong) > 300:
        wrong = wrong[:297] + "..."
    return ConfigError("dataset.path", path, f"{allowed} ({wrong})")


def locate(path) -> tuple[Path, str]:
    """The file named by dataset.path and its suffix (.npz or .csv)."""
    if path is None or not str(path).strip():
        raise bad_file(path, "a .npz or .csv file, e.g. dataset.path=/data/mine.csv", "dataset=file reads your own file: set dataset.path")
    p = Path(str(path)).expanduser()
    try:
        kind = "folder" if p.is_dir() else "file" if p.is_file() else "other" if p.exists() else None
    except OSError as err:  # e.g. a name longer than the file system allows
        raise bad_file(path, "an existing .npz or .csv file", err.strerror or type(err).__name__) from None
    if kind == "folder":
        raise bad_file(path, "an existing .npz or .csv file", "a folder, not a file")
    if kind != "file":
        raise bad_file(path, "an existing .npz or .csv file", "no such file" if kind is None else "not a regular file")
    suffix = p.suffix.lower()
    if suffix not in FILE_SUFFIXES:
        raise bad_file(path, "a .npz or .csv file", f"unknown extension {p.suffix!r}" if p.suffix else "no extension")
    return p, suffix


@dataclass(frozen=True)
class Where:
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
        raise bad_file(path, "a readable .npz file", f"{type(err).__name__}: {err}") from None
    if npy or not archive:
        wrong = "a single .npy array" if npy else "not a zip archive"
        raise bad_file(path, "a valid .npz file", f"{wrong}; save with np.savez(path, x=x, y=y)")
    try:
        f = np.load(p, allow_pickle=False)
    except Exception as err:  # zip and format errors all mean "not a valid .npz"
        raise bad_file(path, "a valid .npz file", f"{type(err).__name__}: {err}") from None
    if not isinstance(f, np.lib.npyio.NpzFile):
        raise bad_file(path, "a valid .npz file", "not an archive; save with np.savez(path, x=x, y=y)")
    with f:
        names = list(f.files)
        tests = [k for k in ("x_test", "y_test") if k in names]
        if {"x_train", "y_train"} <= set(names):
            if len(tests) == 1:
                raise bad_file(path, "an .npz with x_test and y_test together, or neither", f"found {tests[0]} alone")
            keys = ["x_train", "y_train"] + tests
        elif {"x", "y"} <= set(names):
            if tests:
                raise bad_file(path, "an .npz with keys x_train, y_train[, x_test, y_test] or x, y",
                           f"found: {', '.join(names)}; a test set of its own goes with x_train, y_train")
            keys = ["x", "y"]
        else:
            raise bad_file(path, "an .npz with keys x_train, y_train or x, y", f"found: {', '.join(names) or 'none'}")
        arrays = {}
        for key in keys:
            try:
                arrays[key] = np.asarray(f[key])
            except ValueError as err:
                if "allow_pickle" in str(err):
                    raise bad_file(path, "an .npz of numeric arrays", f"{key} holds Python objects, dtype object") from None
                raise bad_file(path, "a valid .npz file", f"array {key}: {type(err).__name__}: {err}") from None
            except Exception as err:
                raise bad_file(path, "a valid .npz file", f"array {key}: {type(err).__name__}: {err}") from None
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


def _read_csv(p: Path, path, label_column: str) -> tuple[dict[str, np.ndarray], Where]:
    """x (every column but the label column, as float32) and y of a .csv with a header row."""
    import pandas as pd
    from pandas.api.types import is_numeric_dtype

    try:
        with warnings.catch_warnings():  # e.g. DtypeWarning (mixed types): the column checks below name it
            warnings.simplefilter("ignore")
            df = pd.read_csv(p, skipinitialspace=True)
    except Exception as err:  # parser, encoding, empty-file and OS errors
        raise bad_file(path, "a readable .csv file with a header row", f"{type(err).__name__}: {err}") from None
    columns = [str(c) for c in df.columns]
    if label_column not in columns:
        shown = ", ".join(repr(c) for c in columns[:8]) + (", ..." if len(columns) > 8 else "")
        wrong = f"no column {label_column!r}; columns: {shown}"
        if columns and all(_is_number(c) for c in columns):
            wrong += "; the first row looks like data, not a header"
        raise bad_file(path, f"a .csv whose header row names the label column {label_column!r}, "
                   "or dataset.label_column=<the label column's name>", wrong)
    df.columns = columns
    if len(df) == 0:
        raise bad_file(path, "at least one sample", "no data rows after the header")
    labels = df.pop(label_column)
    if df.shape[1] == 0:
        raise bad_file(path, "a .csv with numeric feature columns besides the label column", f"only the column {label_column!r}")
    for name in df.columns:
        if not is_numeric_dtype(df[name]):
            i = _first_text(df[name])
            raise bad_file(path, "a .csv with numeric feature columns",
                       f"column {name!r} holds text, e.g. {df[name].iloc[i]!r} in data row {i + 1}")
    if not is_numeric_dtype(labels):
        i = _first_text(labels)
        raise bad_file(path, LABELS, f"column {label_column!r} holds text, e.g. {labels.iloc[i]!r} in data row {i + 1}; "
                   "number the classes 0..K-1")
    where = Where(columns=tuple(df.columns), label=label_column)
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: inf, reported by _features
        x = df.to_numpy(dtype="float32")
    del df
    return {"x": x, "y": labels.to_numpy()}, where


def _x_kind(x: np.ndarray, key: str, path) -> None:
    if x.dtype.kind not in "biuf":
        what = {"U": "strings", "S": "bytes", "O": "Python objects"}.get(x.dtype.kind, f"values of dtype {x.dtype}")
        raise bad_file(path, "numeric features, integers or floats", f"{key} holds {what}")
    if x.ndim < 2:
        hint = "; for a single feature save x.reshape(-1, 1)" if x.ndim == 1 else ""
        raise bad_file(path, f"{key} of shape (samples, features) or (samples, height, width[, channels])",
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


def _features(x: np.ndarray, key: str, path, where: Where) -> np.ndarray:
    """(samples, features) float32; images and other >2-D samples flattened, as MNIST always was."""
    shape = x.shape
    with np.errstate(over="ignore", invalid="ignore"):  # beyond float32's range: inf, reported below
        flat = x.reshape(len(x), -1).astype("float32")  # (n, 28, 28) -> (n, 784)
    if flat.shape[1] == 0:
        raise bad_file(path, "at least one feature per sample", f"{key} has shape {shape}")
    bad = _first_non_finite(flat)
    if bad is not None:
        i, j = bad
        value = "empty or NaN" if where.columns is not None and np.isnan(flat[i, j]) else flat[i, j]
        raise bad_file(path, "finite feature values: no NaN or inf, within float32's range",
                   f"{where.x(key, shape, i, j)} is {value}")
    return flat


def _labels(y: np.ndarray, key: str, path, where: Where) -> np.ndarray:
    """int64 labels 0..K-1, one per sample (a (n, 1) column is accepted)."""
    if y.ndim == 2 and y.shape[1] == 1:
        y = y[:, 0]
    if y.ndim != 1:
        hint = "; one-hot labels? save y.argmax(axis=1)" if y.ndim == 2 else ""
        raise bad_file(path, f"{key} with one class label per sample, shape (samples,)", f"{key} has shape {y.shape}{hint}")
    if y.dtype.kind == "b":
        return y.astype("int64")
    if y.dtype.kind not in "iuf":
        what = {"U": "strings", "S": "bytes", "O": "Python objects"}.get(y.dtype.kind, f"values of dtype {y.dtype}")
        example = f", e.g. {y[:1].tolist()[0]!r}" if len(y) else ""
        raise bad_file(path, LABELS, f"{key} holds {what}{example}; number the classes 0..K-1")
    if len(y) == 0:
        return y.astype("int64")
    if y.dtype.kind == "f":
        finite = np.isfinite(y)
        if not finite.all():
            i = int(np.argmin(finite))
            raise bad_file(path, LABELS, f"{where.y(key, i)} is {'missing' if np.isnan(y[i]) else y[i]}")
        whole = y == np.round(y)
        if not whole.all():
            i = int(np.argmin(whole))
            raise bad_file(path, LABELS, f"{where.y(key, i)} is {y[i]}, not a whole number")
    if y.min() < 0:
        i = int(np.argmax(y < 0))
        raise bad_file(path, LABELS, f"{where.y(key, i)} is {y[i]}; labels start at 0")
    if y.max() >= MAX_CLASSES:
        i = int(np.argmax(y >= MAX_CLASSES))
        raise bad_file(path, f"{LABELS} with K at most {MAX_CLASSES:,}", f"{where.y(key, i)} is {y[i]}; a regression target?")
    return y.astype("int64")


def checked(raw: dict[str, np.ndarray], path, where: Where, limit: Optional[int]) -> dict[str, np.ndarray]:
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
            raise bad_file(path, f"one label per sample in {yk}", f"{xk} has {len(x)} samples, {yk} has {len(y)} labels")
        if len(x) == 0:
            raise bad_file(path, "at least one sample", "no data rows after the header" if where.columns is not None else f"{xk} is empty")
        out[xk], out[yk] = _features(x, xk, path, where), y
    if "x_test" in out and out["x_test"].shape[1] != out["x_train"].shape[1]:
        raise bad_file(path, "x_test with as many features per sample as x_train",
                   f"x_train has shape {raw['x_train'].shape}, x_test {raw['x_test'].shape}")
    y = out["y_train" if "y_train" in out else "y"]
    used = y[:limit] if limit else y
    classes = np.unique(used)
    if len(classes) < 2:
        where_ = f"of the first {limit} samples kept by dataset.limit " if limit and limit < len(y) else ""
        raise bad_file(path, "labels of at least 2 classes in the training data", f"every label {where_}is {classes[0]}")
    return out


def read_file(opts: FileOptions) -> dict[str, np.ndarray]:
    """The data file's arrays, checked (see checked); neither limited nor scaled yet."""
    p, suffix = locate(opts.path)
    if suffix == ".npz":
        return checked(_read_npz(p, opts.path), opts.path, Where(), opts.limit)
    raw, where = _read_csv(p, opts.path, opts.label_column)
    return checked(raw, opts.path, where, opts.limit)

