"""Keras callbacks that collect per-epoch records in memory and hand them on.

Each callback has one job. None of them writes files: they call a sink
function that the driver supplies (``artifacts`` writes), so the same
callbacks serve tests, the CLI and reproductions.
"""

from __future__ import annotations

import math
import time
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from dlexp.train import interrupts
from dlexp.train.optimizers import CHANGED_RTOL
from dlexp.config.schema import diagnostics_due, gradients_due
from dlexp.train.diagnostics import ActivationSummary, LayerState, layer_row

Row = dict
Sink = Callable[[Row], None]

METRIC_KEYS = ("loss", "accuracy", "val_loss", "val_accuracy")


class ClipCount:
    """How many optimizer steps since the last ``take`` had their gradient changed by clipping.

    A plain ``tf.Variable`` in a plain object: Keras does not track it, so it is not part of the
    optimizer's saved state. ``clipping=False``: nothing can be clipped, the share is 0.
    """

    def __init__(self, clipping: bool = True) -> None:
        self.clipping = clipping
        self.measured = False  # set by counting_clips when the optimizer can count
        self.steps = tf.Variable(0.0, trainable=False, dtype=tf.float32)

    def take_share(self, steps: int) -> float:
        """The share of ``steps`` steps that were clipped, and the count reset; NaN if not measured."""
        if not self.clipping:
            return 0.0
        if not self.measured or steps <= 0:
            return math.nan
        share = float(self.steps.numpy()) / steps
        self.steps.assign(0.0)
        return share


def counting_clips(opt: keras.optimizers.Optimizer, clips: ClipCount) -> keras.optimizers.Optimizer:
    """``opt`` as an optimizer that also counts, in ``clips``, the steps where clipping changed the gradient.

    Keras clips inside ``apply`` through ``_clip_gradients``, a private method: the probe checks it
    is there and the fallback is ``opt`` itself, whose share then reads NaN (not measured).
    """
    base = type(opt)
    if not callable(getattr(base, "_clip_gradients", None)):
        return opt

    def _clip_gradients(self, grads):
        clipped = base._clip_gradients(self, grads)
        # Changed by more than rounding: clipnorm computes g * c / max(|g|, c), which rounds g even
        # when |g| < c.
        changed = [tf.reduce_any(tf.abs(c - g) > CHANGED_RTOL * tf.abs(g))
                   for c, g in zip(clipped, grads) if g is not None]
        if changed:
            clips.steps.assign_add(tf.cast(tf.reduce_any(tf.stack(changed)), tf.float32))
        return clipped

    counting = type(f"ClipCounting{base.__name__}", (base,), {"_clip_gradients": _clip_gradients})
    clips.measured = True
    return counting.from_config(opt.get_config())


class EpochRecorder(keras.callbacks.Callback):
    """Records one row per epoch (losses, accuracies, wall seconds, the share of clipped steps) and
    passes it to ``sink``.

    Args:
        sink: called with each row as soon as the epoch ends (so files can be flushed per epoch).
        clips: the optimizer's clip count (``counting_clips``); None: the share is not recorded.

    Example:
        >>> rows = []
        >>> model.fit(x, y, callbacks=[EpochRecorder(rows.append)])  # doctest: +SKIP
    """

    def __init__(self, sink: Sink, clips: Optional[ClipCount] = None) -> None:
        super().__init__()
        self.sink = sink
        self.clips = clips
        self.rows: list[Row] = []

    def on_train_begin(self, logs=None) -> None:
        self.rows = []
        self._t0 = time.perf_counter()

    def on_epoch_begin(self, epoch, logs=None) -> None:
        interrupts.check()  # a Ctrl-C that library code swallowed still stops the run here
        self._epoch_start = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None) -> None:
        logs = logs or {}
        now = time.perf_counter()
        row = {"epoch": epoch + 1}
        for key in METRIC_KEYS:
            row[key] = float(logs[key]) if key in logs else math.nan
        row["lr"] = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
        row["clipped_share"] = self.clips.take_share(self.params.get("steps") or 0) if self.clips else math.nan
        row["epoch_seconds"] = now - self._epoch_start
        row["wall_seconds"] = now - self._t0
        self.rows.append(row)
        self.sink(row)


class LayerDiagnostics(keras.callbacks.Callback):
    """Per hidden layer, at initialization (epoch 0) and after every epoch: dead units
    (on activations over all of ``x``), the notebook's weight proxy, activation
    mean/std, and the L2 norm of the loss gradient w.r.t. the layer's kernel.

    Args:
        x, y: the training inputs the measures are taken on (dead = 0 for all of them).
        loss_fn: the model's loss, for gradients.
        sink: called with the list of rows of one epoch.
        grad_samples: the gradient is taken on the first ``grad_samples`` inputs
            (a fixed batch, so epochs are comparable).
        chunk: inputs per forward pass, to bound memory on large data sets.
        every: measure after every ``every``-th epoch and after the last one trained (0: the
            last one only); see ``config.diagnostics_due``.
        grad_every: the gradient norms only at some of those epochs, read as ``every`` (None: at
            all of them); elsewhere ``grad_norm`` is NaN (``config.gradients_due``).
    """

    def __init__(self, x: np.ndarray, y: np.ndarray, loss_fn, sink: Callable[[list[Row]], None],
                 grad_samples: int = 1024, chunk: int = 8192, measure_initial: bool = True, every: int = 1,
                 grad_every: Optional[int] = None) -> None:
        super().__init__()
        self.x, self.y = x, y
        self.loss_fn, self.sink = loss_fn, sink
        self.grad_samples, self.chunk = grad_samples, chunk
        self.measure_initial = measure_initial
        self.every, self.grad_every = every, grad_every
        self.rows: list[Row] = []

    def on_train_begin(self, logs=None) -> None:
        self.rows = []
        model = self.model
        self.names = [l.name for l in model.layers if l.name.startswith("act_")]
        self.denses = [model.get_layer("dense_" + n.split("_", 1)[1]) for n in self.names]
        acts_model = keras.Model(model.inputs, [model.get_layer(n).output for n in self.names])
        kernels = [d.kernel for d in self.denses]
        loss_fn = self.loss_fn

        @tf.function(reduce_retracing=True)
        def activations(x):
            out = acts_model(x, training=False)
            return out if isinstance(out, (list, tuple)) else [out]

        @tf.function(reduce_retracing=True)
        def gradients(x, y):
            with tf.GradientTape() as tape:
                loss = loss_fn(y, model(x, training=False))
            return tape.gradient(loss, kernels)

        self._activations, self._gradients = activations, gradients
        if self.measure_initial:
            self._measure(0)

    def on_epoch_end(self, epoch, logs=None) -> None:
        # stop_training: set by NonFiniteStop and EarlyStopping, which fit_one puts before this callback.
        epochs, stopping = self.params["epochs"], self.model.stop_training
        if diagnostics_due(self.every, epoch + 1, epochs, stopping):
            self._measure(epoch + 1, gradients_due(self.every, self.grad_every, epoch + 1, epochs, stopping))

    def _measure(self, epoch: int, gradients: bool = True) -> None:
        summaries: Optional[list[ActivationSummary]] = None
        for start in range(0, len(self.x), self.chunk):
            acts = [a.numpy() for a in self._activations(self.x[start:start + self.chunk])]
            if summaries is None:
                summaries = [ActivationSummary.of(a) for a in acts]
            else:
                for s, a in zip(summaries, acts):
                    s.add(a)
        n = min(self.grad_samples, len(self.x))
        grads = self._gradients(self.x[:n], self.y[:n]) if gradients else [None] * len(self.denses)
        rows = []
        for name, dense, s, g in zip(self.names, self.denses, summaries, grads):
            state = LayerState(s, keras.ops.convert_to_numpy(dense.kernel), None if g is None else g.numpy())
            rows.append(layer_row(epoch, int(name.split("_", 1)[1]), int(dense.units), state))
        self.rows.extend(rows)
        self.sink(rows)


def dropout_seed(run_seed: int, layer_index: int, epoch: int) -> int:
    """The seed a Dropout layer (at ``layer_index`` in model.layers) draws its masks from in ``epoch``.

    One formula for both trainers: the stack reproduces Keras' masks from it.
    """
    return (run_seed * 1_000_003 + layer_index * 7_919 + epoch * 104_729) % (2**31 - 1)


class EpochSeeds(keras.callbacks.Callback):
    """Re-seeds every dropout layer at the start of each epoch from (run seed, layer, epoch).

    Dropout masks then depend only on the epoch and step, not on how many
    steps ran before in this process, so a run resumed from a backup draws the
    same masks as an uninterrupted one (Keras does not save seed-generator state).
    """

    def __init__(self, seed: int) -> None:
        super().__init__()
        self.seed = seed

    def on_epoch_begin(self, epoch, logs=None) -> None:
        for i, layer in enumerate(self.model.layers):
            gen = getattr(layer, "seed_generator", None)
            if gen is not None:
                value = np.array([dropout_seed(self.seed, i, epoch), 0])
                gen.state.assign(value.astype(keras.backend.standardize_dtype(gen.state.dtype)))


class NonFiniteStop(keras.callbacks.Callback):
    """Stops training when the loss becomes NaN or Inf, and remembers that it did.

    Keras' TerminateOnNaN stops too, but says nothing the driver can read back;
    this one sets ``diverged_at`` (the epoch, 1-based) so the run is marked diverged.
    """

    def on_train_begin(self, logs=None) -> None:
        self.diverged_at: Optional[int] = None
        self._epoch = 0

    def on_epoch_begin(self, epoch, logs=None) -> None:
        self._epoch = epoch + 1

    def on_train_batch_end(self, batch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = self._epoch
            self.model.stop_training = True

    def on_epoch_end(self, epoch, logs=None) -> None:
        loss = (logs or {}).get("loss")
        if loss is not None and not math.isfinite(float(loss)):
            self.diverged_at = epoch + 1
            self.model.stop_training = True
