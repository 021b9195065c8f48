"""dataset=file: the user's own .npz or .csv (issues 28 and 30).

Happy paths load into the right shapes, labels and classes; every bad file is one line,
``dataset.path: got '<path>'; allowed: ... (...)``, raised by the preflight (before TensorFlow,
before any run folder); dataset=mnist stays the same loader with its pixel scaling.
"""

import json
import re

import numpy as np
import pytest

from dlexp.cli import preflight as cli
from dlexp.data import datasets as data
from dlexp.data import files
from dlexp.data.files import FileData, MnistData
from dlexp.errors import ConfigError, DlexpError


def write_csv(path, header, rows):
    lines = [",".join(header)] if header else []
    lines += [",".join(str(v) for v in row) for row in rows]
    path.write_text("\n".join(lines) + "\n")
    return path


def good_rows(n=60, k=3):
    rng = np.random.default_rng(0)
    return [(round(float(rng.normal()), 3), round(float(rng.normal()), 3), i % k) for i in range(n)]


def preflight_error(tmp_path, monkeypatch, *overrides) -> str:
    """The preflight's one-line error for ``dataset=file`` with ``overrides``; nothing written."""
    monkeypatch.chdir(tmp_path)
    with pytest.raises(DlexpError) as info:
        cli.preflight(["dataset=file", *overrides])
    assert not (tmp_path / "outputs").exists()
    message = str(info.value)
    assert "\n" not in message
    return message


# ---------------------------------------------------------------- bad files: one line each


def _missing(tmp):
    return tmp / "nope.csv"


def _folder(tmp):
    (tmp / "folder.npz").mkdir()
    return tmp / "folder.npz"


def _unknown_extension(tmp):
    return write_csv(tmp / "data.txt", ["a", "label"], [(1, 0), (2, 1)])


def _not_a_zip(tmp):
    (tmp / "bad.npz").write_text("not a zip")
    return tmp / "bad.npz"


def _truncated_npz(tmp):
    np.savez(tmp / "cut.npz", x=np.ones((200, 5)), y=np.arange(200) % 2)
    raw = (tmp / "cut.npz").read_bytes()
    (tmp / "cut.npz").write_bytes(raw[: len(raw) // 2])
    return tmp / "cut.npz"


def _npy_as_npz(tmp):
    with open(tmp / "one.npz", "wb") as f:
        np.save(f, np.ones((10, 2)))
    return tmp / "one.npz"


def _ragged_csv(tmp):
    (tmp / "ragged.csv").write_text("a,b,label\n1,2,0\n3,4,1,5,6\n")
    return tmp / "ragged.csv"


def _empty_csv(tmp):
    (tmp / "empty.csv").write_text("")
    return tmp / "empty.csv"


def _header_only_csv(tmp):
    return write_csv(tmp / "header.csv", ["a", "b", "label"], [])


def _binary_csv(tmp):
    (tmp / "binary.csv").write_bytes(bytes(range(256)) * 8)
    return tmp / "binary.csv"


def _npz_without_arrays(tmp):
    np.savez(tmp / "wrong.npz", images=np.zeros((3, 2)))
    return tmp / "wrong.npz"


def _npz_test_without_labels(tmp):
    np.savez(tmp / "half.npz", x_train=np.ones((20, 2)), y_train=np.arange(20) % 2, x_test=np.ones((5, 2)))
    return tmp / "half.npz"


def _npz_xy_with_test(tmp):
    np.savez(tmp / "xyt.npz", x=np.ones((20, 2)), y=np.arange(20) % 2, x_test=np.ones((5, 2)), y_test=np.arange(5) % 2)
    return tmp / "xyt.npz"


def _csv_without_header(tmp):
    return write_csv(tmp / "nohead.csv", None, good_rows(20))


def _csv_without_label_column(tmp):
    return write_csv(tmp / "target.csv", ["a", "b", "target"], good_rows(20))


def _csv_only_labels(tmp):
    return write_csv(tmp / "labels.csv", ["label"], [(i % 2,) for i in range(20)])


def _lengths_differ(tmp):
    np.savez(tmp / "len.npz", x=np.ones((20, 2)), y=np.arange(19) % 2)
    return tmp / "len.npz"


def _string_features(tmp):
    np.savez(tmp / "str.npz", x=np.array([["a", "b"]] * 20), y=np.arange(20) % 2)
    return tmp / "str.npz"


def _object_features(tmp):
    np.savez(tmp / "obj.npz", x=np.array([[{"a": 1}, 2]] * 20, dtype=object), y=np.arange(20) % 2)
    return tmp / "obj.npz"


def _string_labels(tmp):
    np.savez(tmp / "strlab.npz", x=np.ones((20, 2)), y=np.array(["cat", "dog"] * 10))
    return tmp / "strlab.npz"


def _text_feature_column(tmp):
    rows = [(i, "alice" if i == 3 else i * 2, i % 2) for i in range(20)]
    return write_csv(tmp / "text.csv", ["a", "name", "label"], rows)


def _text_label_column(tmp):
    return write_csv(tmp / "cats.csv", ["a", "label"], [(i, "cat" if i % 2 else "dog") for i in range(20)])


def _nan_features(tmp):
    x = np.ones((20, 2, 3))
    x[4, 1, 2] = np.nan
    np.savez(tmp / "nan.npz", x=x, y=np.arange(20) % 2)
    return tmp / "nan.npz"


def _inf_features_csv(tmp):
    rows = [(1, "inf" if i == 2 else 2, i % 2) for i in range(20)]
    return write_csv(tmp / "inf.csv", ["a", "b", "label"], rows)


def _empty_cell_csv(tmp):
    rows = [(1, "" if i == 5 else 2, i % 2) for i in range(20)]
    return write_csv(tmp / "gap.csv", ["a", "b", "label"], rows)


def _beyond_float32(tmp):
    rows = [("1e39" if i == 0 else 1, 2, i % 2) for i in range(20)]
    return write_csv(tmp / "huge.csv", ["a", "b", "label"], rows)


def _fractional_labels(tmp):
    y = (np.arange(20) % 2).astype(float)
    y[7] = 0.5
    np.savez(tmp / "frac.npz", x=np.ones((20, 2)), y=y)
    return tmp / "frac.npz"


def _missing_label_csv(tmp):
    rows = [(i, 2, "" if i == 6 else i % 2) for i in range(20)]
    return write_csv(tmp / "nolab.csv", ["a", "b", "label"], rows)


def _negative_labels(tmp):
    np.savez(tmp / "neg.npz", x=np.ones((20, 2)), y=np.arange(20) % 2 - 1)
    return tmp / "neg.npz"


def _huge_label(tmp):
    return write_csv(tmp / "price.csv", ["a", "label"], [(i, 250000 + i) for i in range(20)])


def _one_class(tmp):
    return write_csv(tmp / "one.csv", ["a", "b", "label"], [(i, i, 3) for i in range(20)])


def _one_dimensional_x(tmp):
    np.savez(tmp / "flat.npz", x=np.arange(20.0), y=np.arange(20) % 2)
    return tmp / "flat.npz"


def _no_features(tmp):
    np.savez(tmp / "nofeat.npz", x=np.ones((20, 0)), y=np.arange(20) % 2)
    return tmp / "nofeat.npz"


def _one_hot_labels(tmp):
    np.savez(tmp / "onehot.npz", x=np.ones((20, 2)), y=np.eye(2)[np.arange(20) % 2])
    return tmp / "onehot.npz"


def _test_features_differ(tmp):
    np.savez(tmp / "shapes.npz", x_train=np.ones((20, 5)), y_train=np.arange(20) % 2,
             x_test=np.ones((5, 4)), y_test=np.arange(5) % 2)
    return tmp / "shapes.npz"


def _empty_arrays(tmp):
    np.savez(tmp / "none.npz", x=np.ones((0, 2)), y=np.zeros(0))
    return tmp / "none.npz"


BAD_FILES = {
    # name: (writer, allowed starts with, what is wrong contains)
    "missing file": (_missing, "an existing .npz or .csv file", "no such file"),
    "folder": (_folder, "an existing .npz or .csv file", "a folder, not a file"),
    "unknown extension": (_unknown_extension, "a .npz or .csv file", "unknown extension '.txt'"),
    "corrupt npz": (_not_a_zip, "a valid .npz file", "not a zip archive"),
    "truncated npz": (_truncated_npz, "a valid .npz file", ""),
    "npy named npz": (_npy_as_npz, "a valid .npz file", "a single .npy array"),
    "ragged csv": (_ragged_csv, "a readable .csv file with a header row", "ParserError"),
    "empty csv": (_empty_csv, "a readable .csv file with a header row", "EmptyDataError"),
    "binary csv": (_binary_csv, "a readable .csv file with a header row", "Error"),
    "header only": (_header_only_csv, "at least one sample", "no data rows after the header"),
    "npz without x, y": (_npz_without_arrays, "an .npz with keys x_train, y_train or x, y", "found: images"),
    "x_test alone": (_npz_test_without_labels, "an .npz with x_test and y_test together", "found x_test alone"),
    "x, y with a test set": (_npz_xy_with_test, "an .npz with keys x_train, y_train[, x_test, y_test] or x, y",
                             "found: x, y, x_test, y_test"),
    "csv without header": (_csv_without_header, "a .csv whose header row names the label column 'label'",
                           "the first row looks like data, not a header"),
    "csv without label column": (_csv_without_label_column, "a .csv whose header row names the label column 'label'",
                                 "columns: 'a', 'b', 'target'"),
    "csv of labels only": (_csv_only_labels, "a .csv with numeric feature columns besides the label column",
                           "only the column 'label'"),
    "lengths differ": (_lengths_differ, "one label per sample in y", "x has 20 samples, y has 19 labels"),
    "string features": (_string_features, "numeric features, integers or floats", "x holds strings"),
    "object features": (_object_features, "an .npz of numeric arrays", "x holds Python objects"),
    "string labels": (_string_labels, "integer class labels 0, 1, ..., K-1", "y holds strings, e.g. 'cat'"),
    "text feature column": (_text_feature_column, "a .csv with numeric feature columns",
                            "column 'name' holds text, e.g. 'alice' in data row 4"),
    "text label column": (_text_label_column, "integer class labels 0, 1, ..., K-1", "column 'label' holds text"),
    "nan feature": (_nan_features, "finite feature values", "x[4, 1, 2] is nan"),
    "inf feature": (_inf_features_csv, "finite feature values", "column 'b' in data row 3 is inf"),
    "empty cell": (_empty_cell_csv, "finite feature values", "column 'b' in data row 6 is empty or NaN"),
    "beyond float32": (_beyond_float32, "finite feature values", "column 'a' in data row 1 is inf"),
    "fractional labels": (_fractional_labels, "integer class labels 0, 1, ..., K-1", "y[7] is 0.5, not a whole number"),
    "missing label": (_missing_label_csv, "integer class labels 0, 1, ..., K-1", "column 'label' in data row 7 is missing"),
    "negative labels": (_negative_labels, "integer class labels 0, 1, ..., K-1", "y[0] is -1; labels start at 0"),
    "label too large": (_huge_label, "integer class labels 0, 1, ..., K-1 with K at most 10,000", "is 250000"),
    "single class": (_one_class, "labels of at least 2 classes in the training data", "every label is 3"),
    "1-D x": (_one_dimensional_x, "x of shape (samples, features)", "x has shape (20,); for a single feature"),
    "no features": (_no_features, "at least one feature per sample", "x has shape (20, 0)"),
    "one-hot labels": (_one_hot_labels, "y with one class label per sample", "one-hot labels?"),
    "x_test features differ": (_test_features_differ, "x_test with as many features per sample as x_train",
                               "x_train has shape (20, 5), x_test (5, 4)"),
    "no samples": (_empty_arrays, "at least one sample", "x is empty"),
}


@pytest.mark.parametrize("case", list(BAD_FILES))
def test_every_bad_file_is_one_line_from_the_preflight(tmp_path, monkeypatch, case):
    writer, allowed, wrong = BAD_FILES[case]
    (tmp_path / "in").mkdir()
    path = writer(tmp_path / "in")
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}")
    prefix = f"dataset.path: got '{path}'; allowed: {allowed}"
    assert message.startswith(prefix), message
    assert re.fullmatch(r"dataset\.path: got '[^']+'; allowed: .+ \(.+\)", message), message
    assert wrong in message[len(prefix):], message


def test_a_path_is_required(tmp_path, monkeypatch):
    message = preflight_error(tmp_path, monkeypatch)
    assert message.startswith("dataset.path: got None; allowed: a .npz or .csv file"), message


def test_a_wrong_label_column_names_the_setting(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "d.csv", ["a", "b", "label"], good_rows(20))
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}", "dataset.label_column=y")
    assert "header row names the label column 'y', or dataset.label_column=" in message, message


def test_the_batch_size_still_names_the_trainer(tmp_path, monkeypatch):
    """6 samples are enough for the splits (2 test, 1 validation, 3 training): only a batch
    larger than the training part fails, with the trainer's message, as before."""
    path = write_csv(tmp_path / "six.csv", ["a", "label"], [(i, i % 2) for i in range(6)])
    monkeypatch.chdir(tmp_path)
    assert cli.preflight(["dataset=file", f"dataset.path={path}", "trainer.batch_size=3"]) == 1
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}", "trainer.batch_size=4")
    assert message == "trainer.batch_size: got 4; allowed: at most the 3 training samples", message


SPLITS = "enough samples for test, validation and training parts with trainer.test_size="


@pytest.mark.parametrize("labels, overrides, allowed, wrong", [
    # train_test_split: ceil(test_size * n) test samples; Keras: int(n_train * (1 - validation_split)) training
    ([0, 1], ["trainer.stratify=false"], SPLITS + "0.2 and trainer.validation_split=0.2",
     "2 samples give 1 test, 1 validation and 0 training samples"),
    ([0, 1, 0], ["trainer.stratify=false", "trainer.test_size=0.5"], SPLITS + "0.5",
     "3 samples give 2 test, 1 validation and 0 training samples"),
    # stratified: every class twice, and one of each class in the test part
    ([0, 1, 0, 1, 0, 1, 6], [], "at least 2 samples of every class when trainer.stratify=true", "class 6 has 1 sample"),
    ([i % 4 for i in range(12)], [], "a sample of each class in the test and the training part with trainer.test_size=0.2",
     "12 samples of 4 classes give 3 test and 9 training samples"),
])
def test_too_few_samples_for_the_splits(tmp_path, monkeypatch, labels, overrides, allowed, wrong):
    path = write_csv(tmp_path / "few.csv", ["a", "label"], [(i, c) for i, c in enumerate(labels)])
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}", "trainer.batch_size=1", *overrides)
    assert message.startswith(f"dataset.path: got '{path}'; allowed: {allowed}"), message
    assert message.endswith(f"({wrong})"), message


def test_too_few_training_samples_beside_a_test_set_of_its_own(tmp_path, monkeypatch):
    path = tmp_path / "own.npz"
    np.savez(path, x_train=np.ones((2, 3)), y_train=np.array([0, 1]), x_test=np.ones((5, 3)), y_test=np.arange(5) % 2)
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}", "trainer.validation_split=0.6",
                              "trainer.batch_size=1")
    assert message.startswith(f"dataset.path: got '{path}'; allowed: {SPLITS}"), message
    assert message.endswith("(7 samples give 5 test, 2 validation and 0 training samples)"), message


def test_a_limit_that_leaves_one_class_says_so(tmp_path, monkeypatch):
    path = write_csv(tmp_path / "sorted.csv", ["a", "label"], [(i, int(i >= 30)) for i in range(60)])
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}", "dataset.limit=20")
    assert message.endswith("(every label of the first 20 samples kept by dataset.limit is 0)"), message


@pytest.mark.parametrize("overrides, field", [
    (["dataset.scale=zscore"], "dataset.scale: got 'zscore'; allowed: one of: none, standard, max, images"),
    (["dataset.limit=3"], "dataset.limit: got 3"),
    (["+dataset.columns=[a]"], "dataset.columns"),
])
def test_bad_settings_name_their_field(tmp_path, monkeypatch, overrides, field):
    path = write_csv(tmp_path / "d.csv", ["a", "b", "label"], good_rows(20))
    message = preflight_error(tmp_path, monkeypatch, f"dataset.path={path}", *overrides)
    assert message.startswith(field), message


@pytest.mark.parametrize("name, content", [
    ("nolabel.csv", "a,b\n1,2\n3,4\n"),
    ("nan.npz", None),
])
def test_dlexp_train_on_a_bad_file_exits_2_with_one_line_and_no_folder(run_dlexp, tmp_path, name, content):
    path = tmp_path / name
    if content is None:
        np.savez(path, x=np.array([[1.0, np.nan]] * 20), y=np.arange(20) % 2)
    else:
        path.write_text(content)
    proc = run_dlexp("train", "dataset=file", f"dataset.path={path}", "trainer.epochs=1")
    assert proc.returncode == 2, proc.stderr
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1, proc.stderr
    assert lines[0].startswith(f"dlexp: error: dataset.path: got '{path}'; allowed: "), lines[0]
    assert "Traceback" not in proc.stderr + proc.stdout
    assert not (tmp_path / "outputs").exists()


# ---------------------------------------------------------------- happy paths


def test_npz_x_y_is_split_flattened_and_counted(tmp_path):
    rng = np.random.default_rng(1)
    path = tmp_path / "img.npz"
    np.savez(path, x=rng.integers(0, 255, (50, 4, 4), dtype=np.uint8), y=(np.arange(50) % 5).astype(np.uint8))
    ds = data.load(FileData(path=str(path)), 0.2, 42, True)
    assert ds.name == "file"
    assert ds.x_train.shape == (40, 16) and ds.x_test.shape == (10, 16) and ds.input_dim == 16
    assert ds.x_train.dtype == np.float32 and ds.y_train.dtype == np.int64
    assert ds.n_classes == 5 and not ds.binary
    assert sorted(np.bincount(ds.y_test)) == [2] * 5  # stratified
    assert ds.x_train.max() > 1  # scale: none keeps the values
    assert data.sample_count(FileData(path=str(path))) == 50


def test_npz_with_its_own_test_set_keeps_it_and_limits_only_training(tmp_path):
    path = tmp_path / "own.npz"
    x_train = np.arange(40 * 3, dtype=float).reshape(40, 3)
    np.savez(path, x_train=x_train, y_train=np.arange(40) % 2, x_test=np.ones((7, 3)), y_test=np.arange(7) % 2)
    ds = data.load(FileData(path=str(path), limit=30), 0.2, 42, True)
    assert ds.x_train.shape == (30, 3) and ds.x_test.shape == (7, 3)
    np.testing.assert_array_equal(ds.x_train, x_train[:30])
    assert ds.binary and ds.n_classes == 2
    assert data.sample_count(FileData(path=str(path), limit=30)) == 37


def test_csv_features_labels_and_label_column(tmp_path):
    rows = [(i, 2 * i, float(i % 3), -i) for i in range(30)]
    path = write_csv(tmp_path / "d.csv", ["a", "b", "cls", "c"], rows)
    ds = data.load(FileData(path=str(path), label_column="cls"), 0.2, 42, False)
    assert ds.x_train.shape == (24, 3) and ds.x_test.shape == (6, 3)
    assert ds.n_classes == 3 and ds.y_train.dtype == np.int64
    x = np.vstack([ds.x_train, ds.x_test])
    y = np.concatenate([ds.y_train, ds.y_test])
    order = np.argsort(x[:, 0])
    np.testing.assert_array_equal(x[order], np.array([(a, b, c) for a, b, _, c in rows], dtype=np.float32))
    np.testing.assert_array_equal(y[order], np.arange(30) % 3)


def test_csv_default_label_column_and_spaces_after_commas(tmp_path):
    (tmp_path / "s.csv").write_text("x1, x2, label\n" + "".join(f"{i}, {i + 1}, {i % 2}\n" for i in range(10)))
    ds = data.load(FileData(path=str(tmp_path / "s.csv")), 0.2, 42, True)
    assert ds.input_dim == 2 and ds.n_samples == 10 and ds.binary


@pytest.mark.parametrize("scale", ["standard", "max", "images", "none"])
def test_scaling_options(tmp_path, scale):
    rng = np.random.default_rng(2)
    x = rng.normal(50, 10, (100, 3)) * np.array([1, 5, 0]) + np.array([0, 0, 7])  # last column constant
    path = tmp_path / "s.npz"
    np.savez(path, x=x, y=np.arange(100) % 2)
    ds = data.load(FileData(path=str(path), scale=scale), 0.2, 42, True)
    raw = data.load(FileData(path=str(path)), 0.2, 42, True)
    if scale == "standard":
        np.testing.assert_allclose(ds.x_train[:, :2].mean(axis=0), 0, atol=1e-5)
        np.testing.assert_allclose(ds.x_train[:, :2].std(axis=0), 1, atol=1e-4)
        np.testing.assert_allclose(ds.x_train[:, 2], 0)
        mean, std = raw.x_train.mean(axis=0), raw.x_train.std(axis=0)
        np.testing.assert_allclose(ds.x_test[:, :2], (raw.x_test[:, :2] - mean[:2]) / std[:2], rtol=1e-4, atol=1e-4)
    elif scale == "max":
        np.testing.assert_allclose(np.abs(ds.x_train).max(axis=0), 1, rtol=1e-6)
        np.testing.assert_allclose(ds.x_test, raw.x_test / np.abs(raw.x_train).max(axis=0), rtol=1e-6)
    elif scale == "images":
        np.testing.assert_allclose(ds.x_train, raw.x_train / 255.0, rtol=1e-6)
    else:
        np.testing.assert_array_equal(ds.x_train, raw.x_train)
    assert ds.x_train.dtype == np.float32 and ds.x_test.dtype == np.float32


def test_mnist_is_the_file_loader_with_image_scaling(tmp_path):
    rng = np.random.default_rng(0)
    path = tmp_path / "mnist.npz"
    np.savez(path, x=rng.integers(0, 255, (100, 28, 28), dtype=np.uint8), y=np.arange(100) % 10)
    mnist = data.load(MnistData(path=str(path), limit=50), 0.2, 42, True)
    same = data.load(FileData(path=str(path), limit=50, scale="images"), 0.2, 42, True)
    assert mnist.name == "mnist" and mnist.x_train.shape == (40, 784) and mnist.x_train.max() <= 1.0
    for k in ("x_train", "y_train", "x_test", "y_test"):
        np.testing.assert_array_equal(getattr(mnist, k), getattr(same, k))
    np.savez(path, x=np.zeros((20, 28, 28)), y=np.zeros(20))  # the same checks
    with pytest.raises(ConfigError, match=r"^dataset.path: .*allowed: labels of at least 2 classes"):
        data.sample_count(MnistData(path=str(path)))


def test_the_preflight_reads_a_file_once_for_all_runs(tmp_path, monkeypatch, compose):
    from dlexp.config import experiment

    path = write_csv(tmp_path / "d.csv", ["a", "b", "label"], good_rows(60))
    calls = []
    read = files.file_reader.read_file
    monkeypatch.setattr(files.file_reader, "read_file", lambda opts: calls.append(opts) or read(opts))
    specs = [j.spec for j in experiment.expand(compose(["+exp=real_dataset", "dataset=file", f"dataset.path={path}",
                                                        "trainer.batch_size=8"]))]
    assert len(specs) == 2
    data.check_sizes(specs)
    assert len(calls) == 1
    assert specs[0].dataset == FileData(path=str(path))


def test_dataset_file_composes_with_its_documented_defaults(compose):
    from dlexp.config import experiment

    (job,) = experiment.expand(compose(["dataset=file", "dataset.path=/data/mine.csv"]))
    assert job.spec.dataset == FileData(path="/data/mine.csv", label_column="label", scale="none", limit=None)


@pytest.mark.slow
def test_dlexp_train_on_a_csv_end_to_end(run_dlexp, tmp_path):
    write_csv(tmp_path / "tiny.csv", ["f1", "f2", "label"], good_rows(60))
    proc = run_dlexp("train", "dataset=file", "dataset.path=tiny.csv", "trainer.epochs=1", "trainer.batch_size=8",
                     "model.hidden=[8]", "dataset.scale=standard")
    assert proc.returncode == 0, proc.stderr[-3000:]
    (folder,) = list((tmp_path / "outputs" / "default").iterdir())
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["status"] == "completed"
    assert summary["param_count"] == 2 * 8 + 8 + 8 * 3 + 3
