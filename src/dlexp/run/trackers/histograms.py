"""Weight and activation histograms: the solo Keras path's callback that measures them, and
TensorBoard's bucket format."""

from __future__ import annotations

import math
import sys
from dataclasses import dataclass
from typing import Any, Optional

import numpy as np

from dlexp.config.schema import RunSpec
from dlexp.run.trackers.common import RunLogger

HISTOGRAM_PROBE_ROWS = 512  # activations are measured on this many fixed training rows
HISTOGRAM_BUCKETS = 30
# Histograms every N epochs (plus initialization and the last epoch); N = 1 because one graph call
# per epoch is cheap next to the epoch itself.
HISTOGRAM_EVERY = 1


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


def wants_histograms(spec: RunSpec) -> bool:
    return spec.logger.tensorboard and spec.logger.histograms


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
