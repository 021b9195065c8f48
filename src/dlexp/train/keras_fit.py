"""Compile and fit one network the plain Keras way: optimizer, clipping, callbacks, early stopping.

``fit_one`` returns a ``FitResult`` with everything measured; it writes no
files (the sinks it is given may).
"""

from __future__ import annotations

import inspect
import json
import math
import os
import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from dlexp.train import callbacks as cb
from dlexp.train import optimizers
from dlexp.nn import models
from dlexp.config.schema import RunSpec
from dlexp.data.datasets import Dataset, epoch_order, validation_cut

# clipping.kind -> the Keras optimizer argument that implements it
CLIP_ARGUMENTS: dict[str, Optional[str]] = {
    "none": None,
    "value": "clipvalue",
    "norm": "clipnorm",
    "global_norm": "global_clipnorm",
}

# Every stack traces its own functions once, by design; TF's "excessive retracing" warnings
# (and Keras' predict-function ones) would only alarm users. Errors still show.
tf.get_logger().setLevel("ERROR")


def make_optimizer(spec: RunSpec, clips: Optional[cb.ClipCount] = None) -> keras.optimizers.Optimizer:
    """The run's Keras optimizer (``train/optimizers.py``) with its clipping argument; with ``clips``,
    one that also counts the steps in which clipping changed the gradient."""
    clip_arg = CLIP_ARGUMENTS[spec.clipping.kind]
    clip = {clip_arg: spec.clipping.value} if clip_arg else {}
    opt = optimizers.rule(spec.optimizer.name).keras(spec.optimizer, **clip)
    return cb.counting_clips(opt, clips) if clip and clips is not None else opt


def loss_for(data: Dataset) -> keras.losses.Loss:
    return keras.losses.BinaryCrossentropy() if data.binary else keras.losses.SparseCategoricalCrossentropy()


@dataclass
class FitResult:
    """What one run measured. ``model`` is kept for plots and probes, then dropped."""

    status: str  # completed | diverged | interrupted | failed
    history: list[dict]
    layer_stats: list[dict]
    test_loss: float
    test_accuracy: float
    param_count: int
    epochs_run: int
    best_epoch: Optional[int]
    fit_seconds: float
    model: Optional[keras.Model] = None
    diverged_at: Optional[int] = None
    error: Optional[str] = None
    # Stacked runs: the Keras model is built on first use (most runs never need one), and
    # class predictions come from the stack itself.
    model_factory: Optional[Callable[[], keras.Model]] = None
    class_predictor: Optional[Callable[[np.ndarray], np.ndarray]] = None
    representation_fn: Optional[Callable[[np.ndarray], dict]] = None
    on_release: Optional[Callable[[], None]] = None  # frees what the callables above use (a stack's weights)

    def release(self) -> None:
        """Drop the trained network and whatever answers for it: only the measured numbers stay
        (``keras_model()`` is None from here on). The runner calls it once the run's files are
        written, so that a finished stack's memory is free before the next stacks need it."""
        if self.on_release is not None:
            self.on_release()
        self.model = self.model_factory = self.class_predictor = self.representation_fn = self.on_release = None

    def keras_model(self) -> Optional[keras.Model]:
        """The trained network (None if the run produced none)."""
        if self.model is None and self.model_factory is not None:
            self.model = self.model_factory()
        return self.model

    def classes(self, points: np.ndarray) -> np.ndarray:
        """Predicted class per row of ``points`` (inference mode)."""
        if self.class_predictor is not None:
            return self.class_predictor(points)
        return predict_classes(self.keras_model(), points)

    def representations(self, x: np.ndarray) -> dict[str, np.ndarray]:
        """``hidden_representations`` of the trained network on ``x``."""
        if self.representation_fn is not None:
            return self.representation_fn(x)
        return hidden_representations(self.keras_model(), x)


# Keras keeps the previous backup too where it can (3.4 and later), so a backup cut off by a full disk
# or a kill falls back to the one before; Keras 3.3 has no such option.
_DOUBLE = ({"double_checkpoint": True}
           if "double_checkpoint" in inspect.signature(keras.callbacks.BackupAndRestore).parameters else {})


# BackupAndRestore's files: the latest state and, with double_checkpoint, the one before (".bkp").
_BACKUP_FILES = ("latest.weights.h5", "training_metadata.json")


def backup_epoch(backup_dir: Optional[Path]) -> int:
    """Epochs finished according to a BackupAndRestore folder (0 when there is none).

    The answer is the backup BackupAndRestore will load: a latest backup that cannot be read (cut
    off by a full disk or a kill mid-write) is replaced here by the previous one, so the run's
    batches, rows and epoch counter continue from the epoch whose weights are loaded; with no
    readable backup the folder is emptied and the run starts afresh."""
    if backup_dir is None:
        return 0
    folder = Path(backup_dir)
    latest = [folder / name for name in _BACKUP_FILES]
    previous = [folder / f"{name}.bkp" for name in _BACKUP_FILES]
    now, before = _readable_backup(*latest), _readable_backup(*previous)
    # Keras copies the latest to .bkp before writing a new one: equal epochs mean it was stopped
    # between the new weights and their metadata, so the latest weights may be an epoch ahead.
    if now is not None and (before is None or now > before):
        return now
    if before is not None:
        for src, dst in zip(previous, latest):
            tmp = dst.with_name(dst.name + ".tmp")
            shutil.copyfile(src, tmp)
            os.replace(tmp, dst)
        return before
    for path in latest + previous:
        path.unlink(missing_ok=True)
    return 0


def _readable_backup(weights: Path, meta: Path) -> Optional[int]:
    """The epoch of a backup whose metadata parses and whose weights file reads to the end, else None."""
    import h5py

    try:
        epoch = int(json.loads(meta.read_text())["epoch"])
        with h5py.File(weights, "r") as f:
            f.visititems(_read_dataset)
    except (OSError, ValueError, KeyError, TypeError, RuntimeError):
        return None
    return epoch


def _read_dataset(_name: str, item) -> None:
    """Reads an HDF5 dataset through (a cut-off file fails here); returns None, so visititems goes on."""
    import h5py

    if isinstance(item, h5py.Dataset):
        item[()]


def epoch_batches(x: np.ndarray, y: np.ndarray, batch_size: int, seed: int, shuffle: bool,
                  start_epoch: int, epochs: int, reshuffle: bool = True) -> tf.data.Dataset:
    """Batches for epochs ``start_epoch..epochs-1``, each in ``data.epoch_order`` (Keras-sized last batch).
    Each epoch's order is made when the epoch starts, so a long run holds one order, not all of them."""
    xt, yt = tf.constant(x), tf.constant(y)
    n = len(x)

    def order_of(epoch) -> np.ndarray:
        return epoch_order(seed, int(epoch) if reshuffle else 0, n, shuffle).astype("int32")

    def one_epoch(epoch):
        order = tf.numpy_function(order_of, [epoch], tf.int32, stateful=False)
        order.set_shape([n])
        return tf.data.Dataset.from_tensor_slices(order).batch(batch_size)

    return (tf.data.Dataset.range(start_epoch, epochs).flat_map(one_epoch)
            .map(lambda idx: (tf.gather(xt, idx), tf.gather(yt, idx))).prefetch(2))


def fit_one(
    spec: RunSpec,
    data: Dataset,
    on_epoch: Callable[[dict], None] = lambda row: None,
    on_layer_rows: Callable[[list[dict]], None] = lambda rows: None,
    progress: Optional[list[keras.callbacks.Callback]] = None,
    backup_dir: Optional[Path] = None,
) -> FitResult:
    """Train ``spec`` on ``data`` as one ``model.fit``; seeds set here, once.

    With ``backup_dir``, weights and optimizer state are saved after every
    epoch, and a run that finds a backup there continues from its last
    finished epoch (same batches as an uninterrupted run: see ``epoch_batches``).
    """
    keras.backend.clear_session()  # joblib reuses worker processes
    keras.utils.set_random_seed(spec.seed)
    t = spec.trainer
    model = models.build(spec, data.input_dim, data.n_classes)
    loss = loss_for(data)
    clips = cb.ClipCount(clipping=spec.clipping.kind != "none")
    model.compile(optimizer=make_optimizer(spec, clips), loss=loss, metrics=["accuracy"])

    cut = validation_cut(len(data.x_train), t.validation_split)
    start_epoch = backup_epoch(backup_dir)
    recorder = cb.EpochRecorder(on_epoch, clips)
    nonfinite = cb.NonFiniteStop()
    callbacks: list[keras.callbacks.Callback] = []
    if backup_dir is not None:
        # First, so weights, optimizer and epoch are restored before the others start.
        callbacks.append(keras.callbacks.BackupAndRestore(str(backup_dir), delete_checkpoint=True, **_DOUBLE))
    callbacks += [cb.EpochSeeds(spec.seed), recorder, nonfinite]
    stopper = None
    if t.early_stopping.enabled:
        stopper = keras.callbacks.EarlyStopping(
            monitor=t.early_stopping.monitor, patience=t.early_stopping.patience,
            restore_best_weights=t.early_stopping.restore_best,
        )
        callbacks.append(stopper)
    diag = None
    if t.diagnostics:  # after the stoppers: it measures after the last epoch, which they decide
        diag = cb.LayerDiagnostics(data.x_train[:cut], data.y_train[:cut], loss, on_layer_rows,
                                   measure_initial=start_epoch == 0, every=t.diagnostics_every,
                                   grad_every=t.grad_norm_every)
        callbacks.append(diag)
    callbacks += progress or []

    start = time.perf_counter()
    x_fit, y_fit = data.x_train[:cut], data.y_train[:cut]
    batches = epoch_batches(x_fit, y_fit, t.batch_size, spec.seed, t.shuffle, start_epoch, t.epochs, t.reshuffle)
    # validation_data = the last fraction of the training data: Keras' validation_split, made explicit.
    model.fit(batches, epochs=t.epochs, shuffle=False, steps_per_epoch=-(-cut // t.batch_size), verbose=0, callbacks=callbacks,
              validation_data=(data.x_train[cut:], data.y_train[cut:]), validation_batch_size=max(t.batch_size, 1024))
    fit_seconds = time.perf_counter() - start

    test_loss, test_accuracy = evaluate(model, loss, data.x_test, data.y_test)
    status = "diverged" if nonfinite.diverged_at is not None else "completed"
    best_epoch = None
    if stopper is not None and recorder.rows:
        key = t.early_stopping.monitor
        vals = [r[key] for r in recorder.rows]
        pick = np.nanargmax if "accuracy" in key else np.nanargmin
        best_epoch = start_epoch + int(pick(vals)) + 1 if not all(math.isnan(v) for v in vals) else None
    return FitResult(
        status=status,
        history=recorder.rows,
        layer_stats=diag.rows if diag else [],
        test_loss=test_loss,
        test_accuracy=test_accuracy,
        param_count=int(model.count_params()),
        epochs_run=len(recorder.rows),
        best_epoch=best_epoch,
        fit_seconds=fit_seconds,
        model=model,
        diverged_at=nonfinite.diverged_at,
    )


def predict_proba(model: keras.Model, x: np.ndarray, chunk: int = 65536) -> np.ndarray:
    """Inference-mode outputs, called eagerly: for these small nets that beats tracing model.predict."""
    parts = [keras.ops.convert_to_numpy(model(x[i:i + chunk], training=False)) for i in range(0, len(x), chunk)]
    return np.concatenate(parts) if parts else np.zeros((0, model.outputs[0].shape[-1]))


def classes_of(probs: np.ndarray) -> np.ndarray:
    """Predicted class per row (a single sigmoid unit is thresholded at 0.5)."""
    return (probs[:, 0] > 0.5).astype(int) if probs.shape[1] == 1 else probs.argmax(axis=1)


def predict_classes(model: keras.Model, points: np.ndarray) -> np.ndarray:
    return classes_of(predict_proba(model, points))


def evaluate(model: keras.Model, loss_fn, x: np.ndarray, y: np.ndarray, chunk: int = 65536) -> tuple[float, float]:
    """Test loss and accuracy over the whole set (what model.evaluate reports), without tracing.

    The loss takes the model's output tensor, not its numpy copy: on TF, Keras keeps the logits
    on a softmax or sigmoid output and computes the cross-entropy from them, as model.evaluate,
    fit's val_loss and the stack do. From numpy probabilities it would clip them at 1e-7, and a run
    giving its true class less than that (a diverging one) would report a far smaller loss.
    """
    total, hits = 0.0, 0
    for i in range(0, len(x), chunk):
        out, yb = model(x[i:i + chunk], training=False), y[i:i + chunk]
        probs = keras.ops.convert_to_numpy(out)
        target = yb.reshape(-1, 1).astype("float32") if probs.shape[1] == 1 else yb
        total += float(keras.ops.convert_to_numpy(loss_fn(target, out))) * len(yb)
        hits += int(np.sum(classes_of(probs) == yb))
    return total / len(y), hits / len(y)


def representation_layers(model: keras.Model) -> list[str]:
    """Per hidden layer, the layer whose output feeds the next Dense: BN when it comes last, else the activation."""
    names = [l.name for l in model.layers]
    out = []
    for name in names:
        if name.startswith("act_"):
            i = name.split("_", 1)[1]
            out.append(f"bn_{i}" if f"bn_{i}" in names and names.index(f"bn_{i}") > names.index(name) else name)
    return out


def hidden_representations(model: keras.Model, x: np.ndarray) -> dict[str, np.ndarray]:
    """{"Input": x, "Layer 1": ..., ...} in inference mode."""
    layer_names = representation_layers(model)
    extractor = keras.Model(model.inputs, [model.get_layer(n).output for n in layer_names])
    outs = extractor.predict(x, verbose=0, batch_size=4096)
    outs = outs if isinstance(outs, list) else [outs]
    reps = {"Input": x}
    reps.update({f"Layer {k}": o for k, o in enumerate(outs, start=1)})
    return reps
