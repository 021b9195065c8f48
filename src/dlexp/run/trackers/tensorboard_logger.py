"""TensorBoard: event files in each run folder, written without the ``tensorboard`` package."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from dlexp.report.stats import finite_or_none
from dlexp.run.trackers.common import EPOCH_SCALARS, epochs_done, layer_scalars_by_epoch
from dlexp.run.trackers.histograms import histogram_buckets


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
