"""Train many same-shaped networks as ONE vectorized stack, with fit_one's semantics per member.

Weights carry a leading members axis M; each layer is one batched matmul for
all members, and a whole epoch (every batch's forward, backward, clipping and
optimizer step) is one ``tf.function`` call, so the ~2 ms per-step overhead of
a Keras ``fit`` is paid once per epoch for all members instead of once per
step per member.

Per member, as ``training.fit_one`` does it: the same initial weights (each
member's ``models.build`` is the source), Keras' validation split, its own
data order and dropout masks (from its seed), its own BN statistics, Keras'
optimizer and clipping arithmetic, Keras' EarlyStopping (its ``wait`` counter
and ``restore_best_weights`` at the end), and NaN/Inf divergence. A stopped or
diverged member is frozen by masking its updates; the others go on.

Example:
    >>> groups = {}
    >>> for spec in specs:  # doctest: +SKIP
    ...     groups.setdefault(stack_key(spec), []).append(spec)
    >>> results = fit_stack(groups[key], data)  # doctest: +SKIP
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict
from typing import Callable, Optional, Union

import keras
import numpy as np
import tensorflow as tf

from dlexp import activations, models
from dlexp import stack_ops as ops
from dlexp.config import RunSpec
from dlexp.data import Dataset, epoch_order, validation_cut
from dlexp.names import is_import_path
from dlexp.training import FitResult, loss_for, make_optimizer

JIT_MIN_MEMBER_STEPS = 20_000  # e.g. 25 members x 50 epochs x 16+ batches
GRAD_SAMPLES = 1024  # callbacks.LayerDiagnostics' default
_CHUNK_FLOATS = 1 << 22  # rows per inference chunk are sized so one activation tensor is ~16 MB


def stack_key(spec: RunSpec) -> Optional[tuple]:
    """Specs with equal keys can train in one stack; None means "use training.fit_one".

    Members may differ in: trainer seed, initializer, dropout rate, clipping
    value, learning rate and (built-in) activation. Names and the trainer's
    progress/threads/checkpoint/probes settings do not affect training and are
    ignored too.
    """
    if is_import_path(spec.activation.name):
        return None  # a user function may not be elementwise over the (M, B, units) layout
    d = asdict(spec)
    d["dataset"] = repr(spec.dataset)  # which generator too, not only its fields
    for group, name in _FREE_FIELDS:
        d[group].pop(name, None)
    for name in ("name", "variant", "activation", "initializer"):
        d.pop(name)
    return ("stack", _frozen(d))


# Per-member values (everything else must be equal); progress, threads, checkpoint and probes
# do not change how a network trains (a stack does not checkpoint mid-run).
_FREE_FIELDS = (("trainer", "seed"), ("trainer", "progress"), ("trainer", "threads"), ("trainer", "checkpoint"),
                ("trainer", "probes"), ("model", "dropout"), ("clipping", "value"), ("optimizer", "learning_rate"))


def _frozen(value):
    """A hashable copy of nested dicts/lists."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


# ---------------------------------------------------------------- building the stack


def _keras_dropout_seed(run_seed: int, layer_index: int, epoch: int) -> int:
    """The first seed word Keras' Dropout draws with in ``epoch``, as an int32.

    callbacks.EpochSeeds sets each Dropout's SeedGenerator state to
    [(seed * 1_000_003 + layer_index * 7_919 + epoch * 104_729) % (2**31 - 1), 0]
    at every epoch start (layer_index: position in model.layers); Keras' TF
    backend then hands the state to stateless_dropout as floormod(state,
    2**31 - 2), and the second word counts the steps of the epoch.
    """
    state = (run_seed * 1_000_003 + layer_index * 7_919 + epoch * 104_729) % (2**31 - 1)
    return state % (2**31 - 2)


def _layer_indices(net: keras.Model, plan: list) -> list[int]:
    """Position of each hidden layer's Dropout in ``net.layers`` (0 where it has none)."""
    where = {layer.name: i for i, layer in enumerate(net.layers)}
    return [where.get(f"drop_{layer.index}", 0) for layer in plan]


def _compile(fn, input_signature):
    # autograph=False: the loop is an explicit tf.while_loop, and autograph's source
    # conversion of every helper cost ~4 s of tracing per stack.
    return tf.function(fn, input_signature=input_signature, autograph=False)


def _initial_buffers(nets: list[keras.Model], layout: ops.Layout, plan: list) -> tuple[np.ndarray, ...]:
    """Each member's built weights, flattened into (M, P) trainables and (M, S) BN moving mean/variance."""
    theta, mm, mv = [], [], []
    for net in nets:
        by_name: dict[str, np.ndarray] = {}
        for k, layer in enumerate(plan):
            by_name[f"kernel_{k}"], by_name[f"bias_{k}"] = net.get_layer(f"dense_{layer.index}").get_weights()
            if layout.stat_sizes:
                by_name[f"gamma_{k}"], by_name[f"beta_{k}"], mean, var = net.get_layer(f"bn_{layer.index}").get_weights()
                mm.append(mean)
                mv.append(var)
        by_name["out_kernel"], by_name["out_bias"] = net.get_layer("output").get_weights()
        theta.append(np.concatenate([by_name[n].ravel() for n in layout.names]))
    m = len(nets)
    stats = [np.concatenate(s).reshape(m, -1) if s else np.zeros((m, 0)) for s in (mm, mv)]
    return np.stack(theta).astype("float32"), stats[0].astype("float32"), stats[1].astype("float32")


def _copy_into(net: keras.Model, weights: dict, moving: tuple, plan: list, m: int) -> None:
    """Member ``m``'s slice of the stacked weights into its own Keras model."""
    for k, layer in enumerate(plan):
        net.get_layer(f"dense_{layer.index}").set_weights([weights[f"kernel_{k}"][m], weights[f"bias_{k}"][m]])
        if moving[0]:
            net.get_layer(f"bn_{layer.index}").set_weights(
                [weights[f"gamma_{k}"][m], weights[f"beta_{k}"][m], moving[0][k][m], moving[1][k][m]])
    net.get_layer("output").set_weights([weights["out_kernel"][m], weights["out_bias"][m]])


def _arch(specs: list[RunSpec], plan: list, binary: bool) -> ops.Arch:
    norm = specs[0].normalization
    groups: dict[tuple, list[int]] = {}
    for m, s in enumerate(specs):
        groups.setdefault((s.activation.name, s.activation.alpha), []).append(m)
    act_groups = [(activations.get(name, alpha), tf.constant(idx, tf.int32)) for (name, alpha), idx in groups.items()]
    inverse = None
    if len(groups) > 1:
        order = np.concatenate([idx for idx in groups.values()])
        inverse = tf.constant(np.argsort(order), tf.int32)
    return ops.Arch(plan=plan, norm=norm.placement if norm.kind == "batchnorm" else None,
                    momentum=norm.momentum, epsilon=norm.epsilon,
                    act_groups=act_groups, act_inverse=inverse, binary=binary)


class _Stack:
    """The stacked buffers and the compiled functions that train and measure them."""

    def __init__(self, specs: list[RunSpec], nets: list[keras.Model], data: Dataset, n_fit: int, jit: bool) -> None:
        s0 = specs[0]
        self.n_fit = n_fit
        self.plan = ops.layer_plan(s0.model.kind, s0.model.hidden, s0.model.block_size)
        self.arch = _arch(specs, self.plan, data.binary)
        batchnorm = s0.normalization.kind == "batchnorm"
        self.layout = ops.Layout(data.input_dim, self.plan, models.output_units(data.n_classes)[0], batchnorm)
        theta, mm, mv = _initial_buffers(nets, self.layout, self.plan)
        self.theta, self.mm, self.mv = tf.Variable(theta), tf.Variable(mm), tf.Variable(mv)
        self.best = [tf.Variable(v) for v in (theta, mm, mv)]  # EarlyStopping's best_weights
        self.opt = ops.Optimizer(s0.optimizer.name, [self.theta], [s.optimizer.learning_rate for s in specs],
                                 s0.optimizer.momentum if s0.optimizer.name == "sgd" else 0.0)
        self.clip_kind = s0.clipping.kind
        self.clip_value = tf.constant([s.clipping.value for s in specs], tf.float32)
        self.segments = tf.constant(self.layout.segments)
        rates = [s.model.dropout for s in specs]
        self.dropout = [m for m, r in enumerate(rates) if r > 0]  # members that have Dropout layers
        self.rates = tf.constant(rates, tf.float32)
        self.scales = tf.constant([np.float32(1.0 / (1.0 - r)) for r in rates])
        self.drop_layer_index = [_layer_indices(net, self.plan) for net in nets]
        self.seeds = [s.seed for s in specs]
        self.batch_size = s0.trainer.batch_size
        m, d = len(specs), data.input_dim
        self.chunk = max(256, _CHUNK_FLOATS // (m * max(max(s0.model.hidden), d)))
        x_sig, y_sig, mask_sig = tf.TensorSpec([None, d], tf.float32), tf.TensorSpec([None], tf.int64), tf.TensorSpec([m], tf.bool)
        # XLA fuses the long elementwise chains (optimizer, BN, dropout): ~2.5x faster steps
        # for ~2-3 s of compiling, so fit_stack turns it on for big stacks only.
        self.jit = jit
        self._full_step = tf.function(self._train_step, jit_compile=True, autograph=False) if jit else None
        self.train_epoch = _compile(self._train_epoch, input_signature=[
            tf.TensorSpec([m, n_fit], tf.int32), mask_sig, tf.TensorSpec([m, len(self.plan)], tf.int32), x_sig, y_sig])
        self.evaluate = _compile(self._evaluate, input_signature=[x_sig, y_sig])
        self.act_stats = _compile(self._act_stats, input_signature=[x_sig])
        self.grad_norms = _compile(self._grad_norms, input_signature=[x_sig, y_sig])
        self.keep_best = _compile(self._keep_best, input_signature=[mask_sig])
        self.restore_best = _compile(self._restore_best, input_signature=[mask_sig])

    def _moving(self) -> tuple:
        return self.layout.split_stats(self.mm), self.layout.split_stats(self.mv)

    # -- training: one call per epoch
    def dropout_seeds(self, epoch: int) -> np.ndarray:
        """(M, layers) first seed words of this epoch's masks (the second word is the step)."""
        out = np.zeros((len(self.seeds), len(self.plan)), "int32")
        for m in self.dropout:
            out[m] = [_keras_dropout_seed(self.seeds[m], i, epoch) for i in self.drop_layer_index[m]]
        return out

    def _train_epoch(self, perm, active, drop_seeds, x, y):
        """Every batch of one epoch; returns per-member loss/hit sums, rows counted, and who is still finite.

        Plain: one tf.while_loop over all batches, the last one smaller as Keras
        makes it (one trace of the step). XLA needs static shapes: the loop runs
        the compiled step on the full batches and the plain step on the rest.
        """
        bsz, n = self.batch_size, self.n_fit
        seeds = [[drop_seeds[m, k] for k in range(len(self.plan))] for m in range(len(self.seeds))]

        def run(step_fn, b, idx, carry):
            loss_sum, hit_sum, count, alive = carry
            rows = tf.shape(idx)[1]
            losses, hits = step_fn(tf.gather(x, idx), tf.gather(y, idx), alive, *self._uniforms(seeds, b, rows))
            rows = tf.cast(rows, tf.float32)
            # Keras' running means: loss weighted by batch size, accuracy per sample. A member whose
            # loss turns NaN/Inf gets this batch counted and applied (as Keras does), then stops.
            return (tf.where(alive, loss_sum + losses * rows, loss_sum), tf.where(alive, hit_sum + hits, hit_sum),
                    tf.where(alive, count + rows, count), tf.logical_and(alive, tf.math.is_finite(losses)))

        def loop(step_fn, n_batches, slicer, carry):
            def body(b, *carry):
                return (b + 1, *run(step_fn, b, slicer(b), carry))

            return tf.while_loop(lambda b, *_: b < n_batches, body, (tf.constant(0), *carry))[1:]

        zeros = tf.zeros_like(active, tf.float32)
        carry = (zeros, zeros, zeros, active)
        if not self.jit:  # each member's own rows: (M, b)
            return loop(self._train_step, -(-n // bsz), lambda b: perm[:, b * bsz:tf.minimum(b * bsz + bsz, n)], carry)
        n_full, rest = divmod(n, bsz)
        if n_full:
            carry = loop(self._full_step, n_full, lambda b: tf.slice(perm, [0, b * bsz], [-1, bsz]), carry)
        if rest:
            carry = run(self._train_step, tf.constant(n_full), perm[:, n_full * bsz:], carry)
        return carry

    def _uniforms(self, seeds: list, b: tf.Tensor, rows) -> list:
        """Keras' dropout draws for batch ``b``: per member and layer, stateless_uniform with seed
        (epoch seed, b) as the layer's SeedGenerator hands it out. Drawn outside XLA (whose
        Philox differs in bits); members without dropout get zeros (kept: u >= 0)."""
        if not self.dropout:
            return []
        out = []
        for k, layer in enumerate(self.plan):
            shape = tf.stack([rows, layer.width])
            out.append(tf.stack([tf.random.stateless_uniform(shape, seed=tf.stack([seeds[m][k], b]), dtype=tf.float32)
                                 if m in self.dropout else tf.zeros(shape) for m in range(len(self.seeds))]))
        return out

    def _train_step(self, xb, yb, alive, *uniforms):
        """One batch for all members: xb (M, b, D), yb (M, b). Updates only ``alive`` members."""
        arch, layout = self.arch, self.layout
        drop = ops.dropout_fn(list(uniforms), self.rates, self.scales) if uniforms else None
        with tf.GradientTape() as tape:
            logits, _, stats = ops.forward(arch, layout.split(self.theta), xb, dropout=drop)
            losses = tf.reduce_mean(ops.member_losses(arch.binary, logits, yb), axis=1)  # (M,)
            total = tf.reduce_sum(losses)  # d total / d (member m's weights) = d loss_m / d ...
        grad = ops.clip(self.clip_kind, tape.gradient(total, self.theta), self.clip_value,
                        self.segments, len(layout.sizes))
        self.opt.apply([grad], alive)
        if stats:  # BN moving averages, as BatchNormalization.call updates them
            keep, mom = alive[:, None], arch.momentum
            mean, var = tf.concat([s[0] for s in stats], 1), tf.concat([s[1] for s in stats], 1)
            self.mm.assign(tf.where(keep, self.mm * mom + mean * (1.0 - mom), self.mm))
            self.mv.assign(tf.where(keep, self.mv * mom + var * (1.0 - mom), self.mv))
        return losses, tf.reduce_sum(ops.member_hits(arch.binary, logits, yb), 1)

    # -- inference-mode measurements on data shared by all members
    def _infer(self, x):
        return ops.forward(self.arch, self.layout.split(self.theta), x, moving=self._moving())

    def _evaluate(self, x, y):
        logits, _, _ = self._infer(x)
        return (tf.reduce_sum(ops.member_losses(self.arch.binary, logits, y), 1),
                tf.reduce_sum(ops.member_hits(self.arch.binary, logits, y), 1))

    def _act_stats(self, x):
        _, acts, _ = self._infer(x)
        out = []
        for a in acts:
            a64 = tf.cast(a, tf.float64)  # diagnostics.ActivationSummary sums in float64
            out.append((tf.reduce_max(tf.abs(a), axis=1), tf.reduce_sum(a64, [1, 2]), tf.reduce_sum(tf.square(a64), [1, 2])))
        return out

    def _grad_norms(self, x, y):
        with tf.GradientTape() as tape:
            logits, _, _ = self._infer(x)
            total = tf.reduce_sum(tf.reduce_mean(ops.member_losses(self.arch.binary, logits, y), 1))
        grads = self.layout.split(tape.gradient(total, self.theta))
        return tf.stack([tf.sqrt(tf.reduce_sum(tf.square(tf.cast(grads[f"kernel_{k}"], tf.float64)), [1, 2]))
                         for k in range(len(self.plan))])

    def _keep_best(self, mask):
        for best, cur in zip(self.best, (self.theta, self.mm, self.mv)):
            best.assign(tf.where(mask[:, None], cur, best))

    def _restore_best(self, mask):
        for best, cur in zip(self.best, (self.theta, self.mm, self.mv)):
            cur.assign(tf.where(mask[:, None], best, cur))

    def weights(self) -> tuple[dict, tuple]:
        """Numpy views: named trainables (M, *shape) and per-layer moving (means, variances)."""
        split = np.split
        cuts = np.cumsum(self.layout.stat_sizes)[:-1]
        moving = tuple(split(v.numpy(), cuts, axis=1) if self.layout.stat_sizes else [] for v in (self.mm, self.mv))
        return self.layout.split(self.theta.numpy()), moving

    # -- host-side helpers
    def chunks(self, x: np.ndarray):
        for start in range(0, len(x), self.chunk):
            yield start, x[start:start + self.chunk]

    def mean_metrics(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loss, hits = 0.0, 0.0
        for start, xc in self.chunks(x):
            lo, hi = self.evaluate(xc, y[start:start + self.chunk])
            loss, hits = loss + lo.numpy().astype(np.float64), hits + hi.numpy().astype(np.float64)
        return loss / len(x), hits / len(x)

    def layer_rows(self, epoch: int, x: np.ndarray, y: np.ndarray) -> list[list[dict]]:
        """LayerDiagnostics' rows for every member: dead units and activation stats on all of x,
        the weight proxy, and the kernel-gradient norm on the first GRAD_SAMPLES rows."""
        maxabs = total = total_sq = None
        for _, xc in self.chunks(x):
            parts = [(a.numpy(), s.numpy(), q.numpy()) for a, s, q in self.act_stats(xc)]
            if maxabs is None:
                maxabs, total, total_sq = [p[0] for p in parts], [p[1] for p in parts], [p[2] for p in parts]
            else:
                for k, (a, s, q) in enumerate(parts):
                    maxabs[k], total[k], total_sq[k] = np.maximum(maxabs[k], a), total[k] + s, total_sq[k] + q
        n = min(GRAD_SAMPLES, len(x))
        gnorm = self.grad_norms(x[:n], y[:n]).numpy()
        kernels = self.layout.split(self.theta.numpy())
        proxy = [np.mean(np.max(kernels[f"kernel_{k}"], axis=1) <= 0, axis=-1) for k in range(len(self.plan))]
        out = []
        for m in range(gnorm.shape[1]):
            rows = []
            for k, layer in enumerate(self.plan):
                count = len(x) * layer.width
                mean = total[k][m] / count
                rows.append({
                    "epoch": epoch, "layer": layer.index, "units": layer.width,
                    "dead_fraction": float(np.mean(maxabs[k][m] == 0.0)),
                    "weight_proxy_dead_fraction": float(proxy[k][m]),
                    "act_mean": float(mean),
                    "act_std": float(np.sqrt(max(total_sq[k][m] / count - mean**2, 0.0))),
                    "grad_norm": float(gnorm[k, m]),
                })
            out.append(rows)
        return out


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


# ---------------------------------------------------------------- the entry point


def fit_stack(
    specs: list[RunSpec],
    data: Dataset,
    on_epoch: Optional[list[Callable[[dict], None]]] = None,
    on_layer_rows: Optional[list[Callable[[list[dict]], None]]] = None,
    *,
    jit: Union[bool, str] = "auto",
) -> list[FitResult]:
    """Train ``specs`` (equal ``stack_key``) on ``data`` as one stack; one FitResult per spec, in order.

    Args:
        on_epoch: one sink per member, called with its EpochRecorder-style row after every epoch it trains.
        on_layer_rows: one sink per member, called with its LayerDiagnostics-style rows (epoch 0 = at init).
        jit: XLA-compile the training step: True, False, or "auto" (when members x planned steps
            reach JIT_MIN_MEMBER_STEPS, where the faster steps repay the compile time).
    """
    if not specs:
        return []
    keys = {stack_key(s) for s in specs}
    if None in keys or len(keys) != 1:
        raise ValueError("fit_stack: specs must share one non-None stack_key; group them with stack_key() first")
    m_count = len(specs)
    on_epoch = on_epoch or [_unused] * m_count
    on_layer_rows = on_layer_rows or [_unused] * m_count
    keras.backend.clear_session()  # as fit_one; no global seed is set (each member seeds itself)
    t = specs[0].trainer
    es = t.early_stopping
    nets = [models.build(s, data.input_dim, data.n_classes) for s in specs]
    cut = validation_cut(len(data.x_train), t.validation_split)
    if jit == "auto":
        jit = m_count * t.epochs * (cut // t.batch_size) >= JIT_MIN_MEMBER_STEPS
    stack = _Stack(specs, nets, data, cut, bool(jit))

    x_fit, y_fit = data.x_train[:cut], data.y_train[:cut].astype("int64")
    x_val, y_val = data.x_train[cut:], data.y_train[cut:].astype("int64")
    x_fit_t, y_fit_t = tf.constant(x_fit), tf.constant(y_fit)
    stoppers = [_EarlyStopping(es.monitor, es.patience) if es.enabled else None for _ in specs]
    lrs = [float(np.float32(s.optimizer.learning_rate)) for s in specs]

    history: list[list[dict]] = [[] for _ in specs]
    layer_stats: list[list[dict]] = [[] for _ in specs]
    running = np.ones(m_count, bool)  # neither stopped nor diverged
    diverged_at: list[Optional[int]] = [None] * m_count

    def measure_layers(epoch: int, members: np.ndarray) -> None:
        if not t.diagnostics:
            return
        for m, rows in enumerate(stack.layer_rows(epoch, x_fit, y_fit)):
            if members[m]:
                layer_stats[m].extend(rows)
                on_layer_rows[m](rows)

    start = time.perf_counter()
    measure_layers(0, running)
    for epoch in range(t.epochs):
        if not running.any():
            break
        e_start = time.perf_counter()
        perm = np.stack([epoch_order(s.seed, epoch, cut, t.shuffle) for s in specs]).astype("int32")
        loss_sum, hit_sum, count, alive = stack.train_epoch(perm, running, stack.dropout_seeds(epoch), x_fit_t, y_fit_t)
        loss = loss_sum.numpy().astype(np.float64) / np.maximum(count.numpy(), 1)
        acc = hit_sum.numpy().astype(np.float64) / np.maximum(count.numpy(), 1)
        val_loss, val_acc = stack.mean_metrics(x_val, y_val)
        now = time.perf_counter()
        members, finite = running.copy(), alive.numpy()
        for m in np.flatnonzero(members):
            row = {"epoch": epoch + 1, "loss": _f32(loss[m]), "accuracy": _f32(acc[m]),
                   "val_loss": _f32(val_loss[m]), "val_accuracy": _f32(val_acc[m]), "lr": lrs[m],
                   "epoch_seconds": now - e_start, "wall_seconds": now - start}
            history[m].append(row)
            on_epoch[m](row)
            if not finite[m] or not math.isfinite(row["loss"]):
                diverged_at[m] = epoch + 1  # NonFiniteStop
                running[m] = False
        measure_layers(epoch + 1, members)
        if es.enabled:
            improved = np.zeros(m_count, bool)
            for m in np.flatnonzero(members):
                improved[m], stop = stoppers[m].update(epoch, history[m][-1][es.monitor])
                running[m] &= not stop
            if improved.any():
                stack.keep_best(improved)
    if es.enabled and es.restore_best:  # EarlyStopping.on_train_end: always, once best_weights exist
        stack.restore_best(np.array([bool(h) for h in history]))
    fit_seconds = time.perf_counter() - start

    test_loss, test_acc = stack.mean_metrics(data.x_test, data.y_test.astype("int64"))
    results = []
    weights, moving = stack.weights()
    for m, (spec, net) in enumerate(zip(specs, nets)):
        _copy_into(net, weights, moving, stack.plan, m)
        net.compile(optimizer=make_optimizer(spec), loss=loss_for(data), metrics=["accuracy"])
        results.append(FitResult(
            status="diverged" if diverged_at[m] is not None else "completed",
            history=history[m], layer_stats=layer_stats[m],
            test_loss=_f32(test_loss[m]), test_accuracy=_f32(test_acc[m]),
            param_count=int(net.count_params()), epochs_run=len(history[m]),
            best_epoch=_best_epoch(history[m], es.monitor) if es.enabled else None,
            fit_seconds=fit_seconds, model=net, diverged_at=diverged_at[m],
            extra={"trainer": "stack", "stack_size": m_count, "stack_index": m},
        ))
    return results
