"""Train many same-shaped networks as ONE vectorized stack, with fit_one's semantics per member.

Weights carry a leading members axis M; each layer is one batched matmul for
all members, and a whole epoch (every batch's forward, backward, clipping and
optimizer step) is one ``tf.function`` call, so the per-step overhead of
a Keras ``fit`` is paid once per epoch for all members instead of once per
step per member.

Per member, as ``training.fit_one`` does it: the same initial weights (each
member's ``models.initial_weights``, i.e. what ``models.build`` makes), Keras' validation split, the same
batches (``data.epoch_order``) and dropout masks (Keras' own draws under
``callbacks.EpochSeeds``), its own BN statistics, Keras' optimizer and
clipping arithmetic, Keras' EarlyStopping (its ``wait`` counter and
``restore_best_weights`` at the end), and NaN/Inf divergence. So a member ends
with the weights of its solo run, to float32 rounding, but for one thing: Adam,
where a stack's members share its learning rate, runs through TF's fused kernel
(``stack_engine.fused_update``), which rounds 1 - beta in float32 where Keras
rounds it as a Python float, so over many steps its weights drift slowly from
``training.fit_one``'s while the losses stay equal to a few decimals (the
stack-vs-Keras tests bound the drift). A stopped or
diverged member is frozen (masked updates; with the fused kernel, a copy of its
state put back after training); the others go on.

Modules: this one groups specs and keeps each member's books (rows, early
stopping, results); ``stack_engine`` holds the stacked buffers and compiled
functions; ``stack_ops`` is the tensor math.

Example:
    >>> for group in stack_groups(specs):  # doctest: +SKIP
    ...     results = fit_stack([specs[i] for i in group], data)
"""

from __future__ import annotations

import functools
import math
import threading
import time
from dataclasses import dataclass
from typing import Callable, Optional

import keras
import numpy as np
import tensorflow as tf

from dlexp.train import interrupts
from dlexp.nn import models
from dlexp.config.schema import RunSpec, diagnostics_due, gradients_due
from dlexp.data.datasets import Dataset, epoch_order, validation_cut
from dlexp.train.stack.engine import GRAD_SAMPLES, StackEngine
from dlexp.train.stack.groups import norm_key, stack_groups, stack_key  # noqa: F401 (part of this module's API)
from dlexp.train.keras_fit import FitResult, loss_for, make_optimizer

# ---------------------------------------------------------------- early stopping, per member


class _EarlyStopping:
    """keras.callbacks.EarlyStopping(min_delta=0) for one member: best, wait, stop."""

    def __init__(self, monitor: str, patience: int) -> None:
        self.monitor, self.patience = monitor, patience
        self.better = np.greater if "accuracy" in monitor else np.less
        self.best: Optional[float] = None
        self.wait = 0

    def update(self, epoch: int, current: float) -> tuple[bool, bool]:
        """(improved, stop) after 0-based ``epoch``; improved means best_weights is taken now."""
        self.wait += 1
        if self.best is None or self.better(current, self.best):
            self.best, self.wait = current, 0
            return True, False
        return False, self.wait >= self.patience and epoch > 0


def _f32(value) -> float:
    """Keras logs float32 metrics; report the same representable values."""
    return float(np.float32(value))


def _unused(_):
    return None


def _best_epoch(rows: list[dict], monitor: str) -> Optional[int]:
    vals = [r[monitor] for r in rows]
    if not vals or all(math.isnan(v) for v in vals):
        return None
    pick = np.nanargmax if "accuracy" in monitor else np.nanargmin
    return int(pick(vals)) + 1


class _SharedPredictions:
    """Class predictions of all members and hidden representations of the ``probed`` ones at
    once, served member by member: the runner asks every member of a stack about the same points
    in turn. Representations are (members, rows, width) per layer, so only the members whose
    probes read them are kept (a stack may hold many more members without probes)."""

    def __init__(self, engine: StackEngine, probed: list[int]) -> None:
        self.engine, self.points, self.classes = engine, None, None
        self.probed = {m: i for i, m in enumerate(probed)}
        self.reps: dict[tuple, list] = {}

    def member(self, m: int, points: np.ndarray) -> np.ndarray:
        if points is not self.points:
            self.points, self.classes = points, self.engine.predict_classes(points)
        return self.classes[m]

    def member_representations(self, m: int, x: np.ndarray) -> dict[str, np.ndarray]:
        """{"Input": x, "Layer 1": ..., ...} as ``training.hidden_representations`` gives them."""
        if m not in self.probed:  # not asked for by the runner: this member alone, not kept
            reps, i = self.engine.representations(np.ascontiguousarray(x, dtype="float32"), [m]), 0
        else:
            key = (x.__array_interface__["data"][0], x.shape, x.strides)  # the same rows, even as a new view
            if key not in self.reps:
                if len(self.reps) >= 2:  # a run asks about its training rows, then its test rows
                    self.reps.clear()
                self.reps[key] = self.engine.representations(np.ascontiguousarray(x, dtype="float32"), list(self.probed))
            reps, i = self.reps[key], self.probed[m]
        out = {"Input": x}
        out.update({f"Layer {k}": r[i] for k, r in enumerate(reps, start=1)})
        return out


class _SharedWeights:
    """The stack's trained weights as numpy arrays (``StackEngine.weights``), copied out once, when
    the first member's Keras model is built: until then the engine's variables are the only copy."""

    def __init__(self, engine: StackEngine) -> None:
        self.engine, self.value = engine, None
        self.lock = threading.Lock()

    def get(self) -> tuple:
        with self.lock:
            if self.value is None:
                self.value = self.engine.weights()
            return self.value


class _ModelFactory:
    """Builds member ``m``'s Keras model with its trained weights, when something needs one."""

    def __init__(self, engine: StackEngine, spec: RunSpec, data: Dataset, weights: _SharedWeights, m: int) -> None:
        self.engine, self.spec, self.data, self.weights, self.m = engine, spec, data, weights, m

    def __call__(self) -> keras.Model:
        net = models.build(self.spec, self.data.input_dim, self.data.n_classes)
        self.engine.copy_into(net, *self.weights.get(), self.m)
        net.compile(optimizer=make_optimizer(self.spec), loss=loss_for(self.data), metrics=["accuracy"])
        return net


# ---------------------------------------------------------------- the entry point


@dataclass(frozen=True)
class PreparedStack:
    """A stack's engine, built and (``prepare``'s ``trace``) its functions traced, for ``fit_stack``."""

    specs: list
    data: Dataset
    shared_cores: bool
    engine: StackEngine
    cut: int  # rows of data.x_train it fits on; the rest validates


def prepare(specs: list[RunSpec], data: Dataset, *, jit: bool = False, shared_cores: bool = False,
            trace: bool = False) -> PreparedStack:
    """Build the engine ``fit_stack(specs, data, jit=jit, shared_cores=shared_cores)`` would train.

    ``trace``: also trace the functions its fit calls (``StackEngine.trace``). The runner prepares
    the next stacks this way on a thread of their own while the lanes train
    (``prefetch.StackPrefetch``): tracing is Python holding the GIL, which then overlaps the lanes'
    epochs (TF, without the GIL) instead of delaying the lane.
    """
    if not specs:
        raise ValueError("prepare: no specs")
    if stack_groups(specs) != [list(range(len(specs)))]:
        raise ValueError("fit_stack: specs must form one stack; group them with stack_groups() first")
    cut = validation_cut(len(data.x_train), specs[0].trainer.validation_split)
    if not isinstance(jit, bool):
        raise ValueError(f"fit_stack: jit must be True or False; got {jit!r}")
    engine = StackEngine(specs, data, cut, jit)
    if trace:
        t = specs[0].trainer
        engine.trace(diagnostics=t.diagnostics,
                     forward_only=t.diagnostics and (cut > GRAD_SAMPLES or t.grad_norm_every is not None),
                     early_stopping=any(s.trainer.early_stopping.enabled for s in specs))
    return PreparedStack(specs, data, shared_cores, engine, cut)


def fit_stack(
    specs: list[RunSpec],
    data: Dataset,
    on_epoch: Optional[list[Callable[[dict], None]]] = None,
    on_layer_rows: Optional[list[Callable[[list[dict]], None]]] = None,
    *,
    jit: bool = False,
    shared_cores: bool = False,
    prepared: Optional[PreparedStack] = None,
) -> list[FitResult]:
    """Train ``specs`` (equal ``stack_key``) on ``data`` as one stack; one FitResult per spec, in order.

    Args:
        on_epoch: one sink per member, called with its EpochRecorder-style row after every epoch it trains.
        on_layer_rows: one sink per member, called with its LayerDiagnostics-style rows (epoch 0 = at init).
        jit: XLA-compile the whole training step (off by default: it speeds up some stacks and
            slows others, with no rule that tells which).
        shared_cores: other stacks train at the same time (the runner's lanes).
        prepared: ``prepare(specs, data, ...)``'s engine, untrained, to train instead of building
            one here (with prepare's ``jit``; its ``shared_cores`` must be this call's).
    """
    if not specs:
        return []
    if prepared is None:
        prepared = prepare(specs, data, jit=jit, shared_cores=shared_cores)
    elif prepared.specs != specs or prepared.data is not data:
        raise ValueError("fit_stack: prepared is another stack's engine")
    elif prepared.shared_cores != shared_cores:
        raise ValueError(f"fit_stack: prepared for shared_cores={prepared.shared_cores}, not {shared_cores}")
    m_count = len(specs)
    on_epoch = on_epoch or [_unused] * m_count
    on_layer_rows = on_layer_rows or [_unused] * m_count
    # No keras.backend.clear_session() (fit_one's): a stack builds no Keras model while it trains, and
    # the runner may be building one for a finished run's probes on another thread meanwhile.
    return _fit(specs, data, on_epoch, on_layer_rows, prepared.cut, prepared.engine)


def _epoch(engine: StackEngine, active: np.ndarray, freeze: Callable[[np.ndarray], None], perm: np.ndarray,
           drop_seeds: np.ndarray, tensors: tuple) -> list[np.ndarray]:
    """One epoch of the ``active`` members: per-member loss and hit sums, rows counted, still
    finite, validation loss and hit sums (numpy).

    Fused updates (``StackEngine.fused``) mask no member, so the epoch's call ends right after a
    batch where an active member's loss turned non-finite (that batch applied, as Keras applies
    it): the member is frozen there, keeps that call's validation, and the others go on from the
    next batch with the same order and dropout seeds.
    """
    out = [t.numpy() for t in engine.train_epoch(perm, active, drop_seeds, *tensors, 0, engine.n_batches)]
    done = int(out.pop())
    while done < engine.n_batches:
        diverged = active & ~out[3]
        freeze(diverged)
        active = active & out[3]
        if not active.any():
            break
        more = [t.numpy() for t in engine.train_epoch(perm, active, drop_seeds, *tensors, done, engine.n_batches)]
        done = int(more.pop())
        out[:3] = [a + b for a, b in zip(out[:3], more[:3])]  # an inactive member's part adds 0
        out[3] = more[3]  # active and finite; False for the members frozen before this call
        out[4:] = [np.where(active, b, a) for a, b in zip(out[4:], more[4:])]
    return out


def _fit(specs: list[RunSpec], data: Dataset, on_epoch: list, on_layer_rows: list, cut: int,
         engine: StackEngine) -> list[FitResult]:
    """fit_stack's training: the epochs, the members' books."""
    m_count = len(specs)
    t = specs[0].trainer  # what all members share: data split, batch size, shuffle, diagnostics
    epochs = [s.trainer.epochs for s in specs]  # each member stops after its own budget
    es = [s.trainer.early_stopping for s in specs]

    x_fit, y_fit = data.x_train[:cut], data.y_train[:cut].astype("int64")
    x_val, y_val = data.x_train[cut:], data.y_train[cut:].astype("int64")
    x_fit_t, y_fit_t = tf.constant(x_fit), tf.constant(y_fit)
    fused_val = len(x_val) <= engine.chunk  # validated inside the epoch's call (else in chunks after it)
    x_val_t, y_val_t = (tf.constant(x_val), tf.constant(y_val)) if fused_val else (x_val[:0], y_val[:0])
    stoppers = [_EarlyStopping(e.monitor, e.patience) if e.enabled else None for e in es]
    lrs = [float(np.float32(s.optimizer.learning_rate)) for s in specs]

    history: list[list[dict]] = [[] for _ in specs]
    layer_stats: list[list[dict]] = [[] for _ in specs]
    running = np.ones(m_count, bool)  # neither stopped nor diverged
    diverged_at: list[Optional[int]] = [None] * m_count
    frozen = np.zeros(m_count, bool)  # stopped members whose state engine.freeze kept (fused updates mask no one)

    def freeze(members: np.ndarray) -> None:
        if engine.freezes and members.any():
            engine.freeze(members)
            frozen[members] = True

    def measure_layers(epoch: int, members: np.ndarray) -> None:
        if not t.diagnostics:
            return
        members = members & np.array([diagnostics_due(t.diagnostics_every, epoch, e, not r)
                                      for e, r in zip(epochs, running)])
        if not members.any():
            return
        grads = members & np.array([gradients_due(t.diagnostics_every, t.grad_norm_every, epoch, e, not r)
                                    for e, r in zip(epochs, running)])
        for m, rows in enumerate(engine.layer_rows(epoch, x_fit, y_fit, grads)):
            if members[m]:
                layer_stats[m].extend(rows)
                on_layer_rows[m](rows)

    start = time.perf_counter()
    measure_layers(0, running)
    for epoch in range(max(epochs)):
        interrupts.check()  # a Ctrl-C that library code swallowed still stops the stack here
        if not running.any():
            break
        e_start = time.perf_counter()
        perm = np.stack([epoch_order(s.seed, epoch if t.reshuffle else 0, cut, t.shuffle) for s in specs]).astype("int32")
        was_frozen = frozen.copy()
        engine.clip_steps.assign(tf.zeros_like(engine.clip_steps))
        loss_sum, hit_sum, count, finite, val_loss_sum, val_hit_sum = _epoch(
            engine, running, freeze, perm, engine.dropout_seeds(epoch), (x_fit_t, y_fit_t, x_val_t, y_val_t))
        if (frozen & ~was_frozen).any():  # frozen mid-epoch: measured below (chunked validation, layers) as frozen
            engine.thaw(frozen & ~was_frozen)
        loss = loss_sum.astype(np.float64) / np.maximum(count, 1)
        acc = hit_sum.astype(np.float64) / np.maximum(count, 1)
        if fused_val:
            val_loss, val_acc = (v.astype(np.float64) / len(x_val) for v in (val_loss_sum, val_hit_sum))
        else:
            val_loss, val_acc = engine.mean_metrics(x_val, y_val)
        clipped = engine.clip_steps.numpy() / engine.n_batches
        now = time.perf_counter()
        members = running.copy()
        for m in np.flatnonzero(members):
            row = {"epoch": epoch + 1, "loss": _f32(loss[m]), "accuracy": _f32(acc[m]),
                   "val_loss": _f32(val_loss[m]), "val_accuracy": _f32(val_acc[m]), "lr": lrs[m],
                   "clipped_share": float(clipped[m]), "epoch_seconds": now - e_start, "wall_seconds": now - start}
            history[m].append(row)
            on_epoch[m](row)
            if not finite[m] or not math.isfinite(row["loss"]):
                diverged_at[m] = epoch + 1  # NonFiniteStop
                running[m] = False
        improved = np.zeros(m_count, bool)
        for m in np.flatnonzero(members):
            if stoppers[m] is not None:
                improved[m], stop = stoppers[m].update(epoch, history[m][-1][es[m].monitor])
                running[m] &= not stop
            running[m] &= epoch + 1 < epochs[m]
        measure_layers(epoch + 1, members)  # after the stops: a member's last epoch is always measured
        if improved.any():
            engine.keep_best(improved)
        if running.any():  # the members that stopped now keep their state (the fused update goes on for them)
            freeze(members & ~running & ~frozen)
    if frozen.any():
        engine.thaw(frozen)
    # EarlyStopping.on_train_end restores best_weights always, once they exist.
    restore = np.array([bool(h) and e.enabled and e.restore_best for h, e in zip(history, es)])
    if restore.any():
        engine.restore_best(restore)
    fit_seconds = time.perf_counter() - start

    test_loss, test_acc = engine.test_metrics(data.x_test, data.y_test.astype("int64"))
    engine.end_training()
    results = []
    weights = _SharedWeights(engine)
    predictions = _SharedPredictions(engine, [m for m, spec in enumerate(specs) if spec.trainer.probes])
    for m, spec in enumerate(specs):
        results.append(FitResult(
            status="diverged" if diverged_at[m] is not None else "completed",
            history=history[m], layer_stats=layer_stats[m],
            test_loss=_f32(test_loss[m]), test_accuracy=_f32(test_acc[m]),
            param_count=models.count_params(spec, data.input_dim, data.n_classes), epochs_run=len(history[m]),
            best_epoch=_best_epoch(history[m], es[m].monitor) if es[m].enabled else None,
            fit_seconds=fit_seconds, diverged_at=diverged_at[m],
            model_factory=_ModelFactory(engine, spec, data, weights, m),
            class_predictor=functools.partial(predictions.member, m),
            representation_fn=functools.partial(predictions.member_representations, m),
            on_release=engine.close,
        ))
    return results
