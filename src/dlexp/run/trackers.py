"""Run trackers besides the run folder (TensorBoard, MLflow), behind one small interface.

The runner calls, per run: ``start`` -> ``epoch``/``layers`` each epoch ->
``finish``. The solo Keras path may also hand over weight/activation
histograms (``keras_callbacks``). Trackers must never fail a run: the runner
turns their errors into summary warnings.

Nothing here imports TensorFlow or MLflow at module level: ``check_available``
runs in the CLI's preflight, before TF is imported, and MLflow is imported only
when a run asks for it.
"""

from __future__ import annotations

import importlib.util
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Optional, Protocol

import numpy as np

from dlexp.config.schema import RunSpec
from dlexp.errors import ConfigError
from dlexp.report.stats import finite_or_none

MLFLOW_INSTALL = 'pip install "dlexp[mlflow]"'
EPOCH_SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
LAYER_SCALARS = ("dead_fraction", "grad_norm")
HISTOGRAM_PROBE_ROWS = 512  # activations are measured on this many fixed training rows
HISTOGRAM_BUCKETS = 30
# Histograms every N epochs (plus initialization and the last epoch); N = 1 because one graph call
# per epoch is cheap next to the epoch itself.
HISTOGRAM_EVERY = 1


class RunLogger(Protocol):
    def start(self, spec: RunSpec, folder: Path, config: dict) -> None: ...
    def epoch(self, row: dict) -> None: ...
    def layers(self, rows: list[dict]) -> None: ...
    def histograms(self, epoch: int, arrays: dict[str, np.ndarray]) -> None: ...
    def finish(self, summary: dict, folder: Path) -> None: ...


class NullLogger:
    """Tracks nothing (logger=none)."""

    def start(self, spec, folder, config) -> None:
        pass

    def epoch(self, row) -> None:
        pass

    def layers(self, rows) -> None:
        pass

    def histograms(self, epoch, arrays) -> None:
        pass

    def finish(self, summary, folder) -> None:
        pass


class MultiLogger:
    """Several trackers as one: each is called even when another fails; the first error is re-raised."""

    def __init__(self, loggers: list) -> None:
        self.loggers = loggers

    def _each(self, method: str, *args) -> None:
        first: Optional[Exception] = None
        for logger in self.loggers:
            try:
                getattr(logger, method)(*args)
            except Exception as err:  # noqa: BLE001 - collected, re-raised below
                first = first or err
        if first is not None:
            raise first

    def start(self, spec, folder, config) -> None:
        self._each("start", spec, folder, config)

    def epoch(self, row) -> None:
        self._each("epoch", row)

    def layers(self, rows) -> None:
        self._each("layers", rows)

    def histograms(self, epoch, arrays) -> None:
        self._each("histograms", epoch, arrays)

    def finish(self, summary, folder) -> None:
        self._each("finish", summary, folder)


def layer_scalars_by_epoch(rows: list[dict]) -> dict[int, dict[str, Any]]:
    """layer_stats rows -> {epoch: {"dead_fraction/layer_1": v, ...}}, the form both trackers log."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for r in rows:
        values = by_epoch.setdefault(int(r["epoch"]), {})
        for metric in LAYER_SCALARS:
            values[layer_tag(metric, r["layer"])] = r.get(metric)
    return by_epoch


def epochs_done(folder: Path) -> int:
    """Epochs already in the run folder's metrics.csv when tracking starts: > 0 only for a resumed run.

    The runner has already truncated (resume) or removed (fresh start) the file, so this tells a
    tracker whether to continue what it wrote before or to start afresh.
    """
    try:
        with open(Path(folder) / "metrics.csv", encoding="utf-8") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return 0


def layer_tag(metric: str, layer: Any) -> str:
    """"dead_fraction", 2 -> "dead_fraction/layer_2" (TensorBoard groups cards by the first part)."""
    return f"{metric}/layer_{layer}"


# ---------------------------------------------------------------- TensorBoard


class TensorBoardLogger:
    """Event files in ``<run>/tensorboard/``: scalars per epoch, histograms when the solo path sends them.

    Works from rows alone (``epoch``/``layers``), so the vectorized stack path is
    tracked too. Each call becomes one ``Event`` record (all of an epoch's values
    in one summary) appended with ``tf.io.TFRecordWriter``, the event file's own
    format: no eager op per value, so logging costs well under a millisecond per
    epoch. The values carry TensorBoard's plugin metadata ("scalars",
    "histograms"), as ``tf.summary.scalar``/``histogram`` would write them; those
    helpers live in the ``tensorboard`` package, which is needed only to *view*
    the files (``pip install "dlexp[tensorboard]"``). Records are flushed every
    epoch, so a live ``tensorboard --logdir`` follows the run.
    """

    SUBDIR = "tensorboard"

    def __init__(self) -> None:
        self.writer = None

    def start(self, spec, folder, config) -> None:
        import os
        import socket
        import time

        import tensorflow as tf
        from tensorflow.core.framework import summary_pb2
        from tensorflow.core.util import event_pb2

        self._tf, self._summary_pb2, self._event_pb2 = tf, summary_pb2, event_pb2
        self._meta = {}
        for plugin in ("scalars", "histograms"):
            meta = summary_pb2.SummaryMetadata()
            meta.plugin_data.plugin_name = plugin
            self._meta[plugin] = meta
        logdir = Path(folder) / self.SUBDIR
        logdir.mkdir(parents=True, exist_ok=True)
        if epochs_done(folder) == 0:  # a run started afresh in an old folder: drop the old curves
            for stale in logdir.glob("events.out.tfevents.*"):
                stale.unlink()
        # The name TensorBoard looks for; pid + a counter keep resumed runs and stacked members apart.
        TensorBoardLogger._count = getattr(TensorBoardLogger, "_count", 0) + 1
        name = f"events.out.tfevents.{int(time.time())}.{socket.gethostname()}.{os.getpid()}.{self._count}.v2"
        self.writer = tf.io.TFRecordWriter(str(logdir / name))
        self._write(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def _write(self, event) -> None:
        self.writer.write(event.SerializeToString())
        self.writer.flush()

    def _event(self, step: int, plugin: str, values: dict[str, Any]) -> None:
        import time

        summary = self._summary_pb2.Summary()
        for tag, value in values.items():
            item = summary.value.add(tag=tag)
            item.metadata.CopyFrom(self._meta[plugin])
            item.tensor.CopyFrom(self._tf.make_tensor_proto(value))
        if summary.value:
            self._write(self._event_pb2.Event(wall_time=time.time(), step=int(step), summary=summary))

    def _scalars(self, step: int, values: dict[str, Any]) -> None:
        # a diverged epoch's NaN would hide the curve's scale: non-finite values are left out
        finite = {tag: np.float32(v) for tag, v in ((t, finite_or_none(x)) for t, x in values.items()) if v is not None}
        self._event(step, "scalars", finite)

    def epoch(self, row) -> None:
        if self.writer is not None:
            self._scalars(row["epoch"], {k: row.get(k) for k in EPOCH_SCALARS})

    def layers(self, rows) -> None:
        if self.writer is None or not rows:
            return
        for step, values in layer_scalars_by_epoch(rows).items():
            self._scalars(step, values)

    def histograms(self, epoch, arrays) -> None:
        if self.writer is None:
            return
        buckets = {tag: histogram_buckets(values) for tag, values in arrays.items()}
        self._event(epoch, "histograms", {tag: b for tag, b in buckets.items() if b is not None})

    def finish(self, summary, folder) -> None:
        if self.writer is None:
            return
        steps = summary.get("epochs_run") or 0
        self._scalars(steps, {"test_loss": summary.get("test_loss"), "test_accuracy": summary.get("test_accuracy")})
        self.writer.close()
        self.writer = None


@dataclass(frozen=True)
class Histogram:
    """Counts already taken (e.g. inside a tf.function): ``counts`` in equal-width buckets over [low, high]."""

    low: float
    high: float
    counts: np.ndarray


def histogram_buckets(values: Any, bins: int = HISTOGRAM_BUCKETS) -> Optional[np.ndarray]:
    """TensorBoard's histogram tensor: rows of (left edge, right edge, count), float64; None if nothing finite.

    ``values`` is an array of raw values or a ``Histogram``.
    """
    if isinstance(values, Histogram):
        low, high, counts = float(values.low), float(values.high), np.asarray(values.counts, dtype=np.float64)
        if not (math.isfinite(low) and math.isfinite(high)) or counts.sum() == 0:
            return None
    else:
        v = np.asarray(values).ravel()
        if not np.isfinite(v).all():
            v = v[np.isfinite(v)]
        if v.size == 0:
            return None
        low, high = float(v.min()), float(v.max())
        counts = None if low == high else np.histogram(v, bins=bins, range=(low, high))[0].astype(np.float64)
    if low == high:  # a constant tensor (zeros init, a dead layer): one bucket around the value
        return np.array([[low - 0.5, high + 0.5, float(np.sum(counts) if counts is not None else v.size)]])
    edges = np.linspace(low, high, len(counts) + 1)
    return np.stack([edges[:-1], edges[1:], counts], axis=1)


# ---------------------------------------------------------------- MLflow


def flatten(value: Any, prefix: str = "") -> dict[str, Any]:
    """{"a": {"b": 1}, "c": [1, 2]} -> {"a.b": 1, "c": [1, 2]} (lists stay whole)."""
    if isinstance(value, dict):
        out: dict[str, Any] = {}
        for k, v in value.items():
            out.update(flatten(v, f"{prefix}{k}."))
        return out if out or not prefix else {prefix[:-1]: "{}"}
    return {prefix[:-1]: value}


def default_tracking_uri(output_root: str) -> str:
    return f"sqlite:///{Path(output_root).resolve() / 'mlflow.db'}"


def mlflow_run_name(folder: Path, root: Path) -> str:
    """A run's MLflow name: in a ``-m`` sweep, its path under the sweep folder, i.e. the job folder's name
    (``0_activation=elu``, plus ``/<variant>/seed_<n>`` in a preset's job), the name TensorBoard shows for it
    with ``--logdir <sweep>``; otherwise its path under the output root (``default/<stamp>``).

    A sweep job is the nearest folder with Hydra's ``.hydra/hydra.yaml`` saying ``mode: MULTIRUN``.
    """
    folder = Path(folder)
    for job in [folder, *folder.parents][:4]:  # job / variant / seed_n at most
        hydra_yaml = job / ".hydra" / "hydra.yaml"
        if hydra_yaml.is_file():
            try:
                multirun = "mode: MULTIRUN" in hydra_yaml.read_text(encoding="utf-8")
            except OSError:
                multirun = False
            if multirun:
                return folder.relative_to(job.parent).as_posix()
            break
    try:
        return folder.relative_to(root).as_posix()
    except ValueError:
        return folder.name


_CLIENTS: dict[str, Any] = {}


def _mlflow_client(uri: str):
    """One client per tracking URI and process (a SQLite store checks its schema when created)."""
    if uri not in _CLIENTS:
        import logging

        from mlflow.tracking import MlflowClient

        for name in ("mlflow", "alembic"):  # schema creation logs at INFO on every new store
            logging.getLogger(name).setLevel(logging.WARNING)
        _CLIENTS[uri] = MlflowClient(tracking_uri=uri)
    return _CLIENTS[uri]


MLFLOW_STATUS = {"completed": "FINISHED", "diverged": "FINISHED", "interrupted": "KILLED"}


class MlflowLogger:
    """One MLflow run per dlexp run, addressed by its run id (no global active run: safe in sweeps and workers).

    Params: the run config flattened to dotted keys. Metrics: per epoch with
    step = epoch (layer metrics as ``dead_fraction/layer_1`` ...). At finish:
    test metrics, the status tag, and the run folder's plots, CSVs,
    summary.json and config.yaml as artifacts.
    """

    def __init__(self) -> None:
        self.client = None
        self.run_id: Optional[str] = None

    def start(self, spec, folder, config) -> None:
        import time

        from filelock import FileLock
        from mlflow.entities import Param

        lc = spec.logger
        root = Path(spec.output_root).resolve()
        uri = lc.mlflow_uri or default_tracking_uri(spec.output_root)
        name = lc.mlflow_experiment or spec.name
        folder = Path(folder).resolve()
        local_store = lc.mlflow_uri is None
        if local_store:
            root.mkdir(parents=True, exist_ok=True)
        # Parallel jobs (joblib, Ray, submitit) share one store: creating the SQLite schema and the
        # experiment must happen once, so it is done under a lock next to the database.
        lock = FileLock(str(root / ".mlflow.lock")) if local_store else None
        if lock is not None:
            lock.acquire(timeout=120)
        try:
            self.client = client = _mlflow_client(uri)
            experiment = client.get_experiment_by_name(name)
            if experiment is None:
                location = (root / "mlartifacts" / name).as_uri() if local_store else None
                experiment_id = client.create_experiment(name, artifact_location=location)
            else:
                experiment_id = experiment.experiment_id
        finally:
            if lock is not None:
                lock.release()
        previous = self._previous_run(experiment_id, folder) if epochs_done(folder) else None
        if previous is not None:  # a resumed run continues its MLflow run: one metric history
            self.run_id = previous
            client.update_run(previous, status="RUNNING")
            client.set_tag(previous, "status", "running")
            return
        run_name = mlflow_run_name(folder, root)
        tags = {"variant": spec.variant, "seed": str(spec.seed), "status": "running",
                "dlexp.name": spec.name, "dlexp.folder": str(folder)}
        run = client.create_run(experiment_id, start_time=int(time.time() * 1000), tags=tags, run_name=run_name)
        self.run_id = run.info.run_id
        params = [Param(k, str(v)[:6000]) for k, v in sorted(flatten(config).items())]
        for i in range(0, len(params), 100):  # MLflow takes at most 100 params per batch
            client.log_batch(self.run_id, params=params[i:i + 100])

    def _previous_run(self, experiment_id: str, folder: Path) -> Optional[str]:
        if "'" in str(folder):
            return None  # cannot be quoted in a filter string; start a new run instead
        runs = self.client.search_runs([experiment_id], filter_string=f"tags.`dlexp.folder` = '{folder}'",
                                       order_by=["attributes.start_time DESC"], max_results=1)
        return runs[0].info.run_id if runs else None

    def _metrics(self, step: int, values: dict[str, Any]) -> None:
        import time

        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        finite = {k: finite_or_none(v) for k, v in values.items()}
        metrics = [Metric(k, v, now, int(step)) for k, v in finite.items() if v is not None]
        if metrics:  # one batch per epoch: one SQLite transaction instead of one per metric
            self.client.log_batch(self.run_id, metrics=metrics)

    def epoch(self, row) -> None:
        if self.run_id is not None:
            self._metrics(row["epoch"], {k: row.get(k) for k in EPOCH_SCALARS})

    def layers(self, rows) -> None:
        if self.run_id is None:
            return
        for step, values in layer_scalars_by_epoch(rows).items():
            self._metrics(step, values)

    def histograms(self, epoch, arrays) -> None:
        pass  # TensorBoard's job

    def finish(self, summary, folder) -> None:
        if self.run_id is None:
            return
        client, run_id, folder = self.client, self.run_id, Path(folder)
        status = summary.get("status", "failed")
        try:
            self._metrics(summary.get("epochs_run") or 0, {k: summary.get(k) for k in ("test_loss", "test_accuracy")})
            client.set_tag(run_id, "status", status)
            for path in sorted(folder.glob("*.csv")) + [folder / "summary.json", folder / "config.yaml",
                                                         folder / "error.txt"]:
                if path.is_file():
                    client.log_artifact(run_id, str(path))
            if (folder / "plots").is_dir() and any((folder / "plots").iterdir()):
                client.log_artifacts(run_id, str(folder / "plots"), artifact_path="plots")
        finally:
            client.set_terminated(run_id, status=MLFLOW_STATUS.get(status, "FAILED"))
            self.run_id = None


# ---------------------------------------------------------------- choosing and checking


def check_available(spec: RunSpec) -> None:
    """Raise a one-line ConfigError when a tracker's package is missing (called in preflight, before TF)."""
    if spec.logger.mlflow and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("logger.mlflow", True, f"false, or install MLflow first: {MLFLOW_INSTALL}")


def wants_histograms(spec: RunSpec) -> bool:
    return spec.logger.tensorboard and spec.logger.histograms


def for_spec(spec: RunSpec) -> RunLogger:
    """The trackers a run's logger config asks for (none -> NullLogger)."""
    check_available(spec)
    chosen: list = []
    if spec.logger.tensorboard:
        chosen.append(TensorBoardLogger())
    if spec.logger.mlflow:
        chosen.append(MlflowLogger())
    if not chosen:
        return NullLogger()
    return chosen[0] if len(chosen) == 1 else MultiLogger(chosen)


def probe_rows(x: np.ndarray, limit: int = HISTOGRAM_PROBE_ROWS) -> np.ndarray:
    """A fixed, evenly spaced sample of at most ``limit`` rows (the same rows every epoch)."""
    if len(x) <= limit:
        return x
    return x[np.linspace(0, len(x) - 1, limit).round().astype(int)]


def keras_callbacks(spec: RunSpec, logger: RunLogger, x_probe: np.ndarray) -> list:
    """Extra Keras callbacks for the solo path: weight and activation histograms when asked for."""
    if not wants_histograms(spec) or len(x_probe) == 0:
        return []
    return [_histogram_feed(logger, probe_rows(x_probe), HISTOGRAM_EVERY)]


def _histogram_feed(logger: RunLogger, x_probe: np.ndarray, every: int):
    """A Keras callback that sends weight and activation histograms to ``logger.histograms``.

    Per hidden layer ``i``: ``weights/dense_i/kernel``, ``weights/dense_i/bias`` and
    ``activations/act_i`` (the layer's activation output on ``x_probe``, inference
    mode), at initialization (step 0), every ``every`` epochs and after the last
    epoch. Built here so that importing this module does not import Keras.
    """
    import keras
    import tensorflow as tf

    class HistogramFeed(keras.callbacks.Callback):
        def on_train_begin(self, logs=None) -> None:
            model = self.model
            names = [layer.name for layer in model.layers if layer.name.startswith("act_")]
            denses = [model.get_layer("dense_" + n.split("_", 1)[1]) for n in names]
            acts_model = keras.Model(model.inputs, [model.get_layer(n).output for n in names])
            self.tags = ([f"weights/{d.name}/kernel" for d in denses]
                         + [f"weights/{d.name}/bias" for d in denses if d.bias is not None]
                         + [f"activations/{n}" for n in names])
            weights = [d.kernel for d in denses] + [d.bias for d in denses if d.bias is not None]

            n_tensors, bins = len(self.tags), HISTOGRAM_BUCKETS

            # One graph call per epoch: the probe's activations, every tensor's range, then one bincount
            # over all tensors' bucket indices, which is cheaper than counting in NumPy.
            @tf.function(reduce_retracing=True)
            def measure(x):
                acts = acts_model(x, training=False)
                acts = list(acts) if isinstance(acts, (list, tuple)) else [acts]
                lows, highs, indices, masks = [], [], [], []
                for i, t in enumerate(weights + acts):
                    v = tf.reshape(tf.cast(t, tf.float32), [-1])
                    finite = tf.math.is_finite(v)
                    low = tf.reduce_min(tf.where(finite, v, np.inf))  # +inf when nothing is finite
                    high = tf.reduce_max(tf.where(finite, v, -np.inf))
                    scale = bins / tf.where(high > low, high - low, tf.ones_like(high))
                    bucket = tf.clip_by_value(tf.cast(tf.math.floor((v - low) * scale), tf.int32), 0, bins - 1)
                    lows.append(low), highs.append(high), indices.append(bucket + i * bins), masks.append(finite)
                n = tf.math.bincount(tf.concat(indices, 0), weights=tf.cast(tf.concat(masks, 0), tf.float32),
                                     minlength=n_tensors * bins, maxlength=n_tensors * bins)
                return tf.stack(lows), tf.stack(highs), tf.reshape(n, [n_tensors, bins])

            self._measure = measure
            self._x = tf.constant(x_probe)
            self._last, self._broken, self._epoch_seen = -1, False, None

        def on_epoch_end(self, epoch, logs=None) -> None:
            if (epoch + 1) % every == 0 or epoch + 1 == self.params.get("epochs"):
                self._send(epoch + 1)

        def on_train_end(self, logs=None) -> None:
            # early stopping or divergence ends before the planned last epoch: keep the final state
            if self._epoch_seen is not None and self._epoch_seen > self._last:
                self._send(self._epoch_seen)

        def on_epoch_begin(self, epoch, logs=None) -> None:
            if self._epoch_seen is None:
                # the state before the first epoch trained here: initialization (step 0), or the
                # restored state of a resumed run (step = epochs already done)
                self._send(epoch)
            self._epoch_seen = epoch + 1

        def _send(self, step: int) -> None:
            self._last = step
            if self._broken:
                return
            try:
                lows, highs, ns = (t.numpy() for t in self._measure(self._x))
                logger.histograms(step, {tag: Histogram(float(lo), float(hi), n)
                                         for tag, lo, hi, n in zip(self.tags, lows, highs, ns)})
            except Exception as err:  # a tracker must never fail the run: say so once, then stop sending
                self._broken = True
                print(f"[dlexp] histograms disabled: {type(err).__name__}: {err}", file=sys.stderr)

    return HistogramFeed()
