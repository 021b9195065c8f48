"""The stacked networks of ``stack.fit_stack``: flat per-member buffers and the compiled functions.

``StackEngine`` owns M members' weights as rows of (M, n) / (M, S) variables,
copies them from and back into each member's Keras model, and compiles: one
epoch of training, inference-mode loss/accuracy, the diagnostics, and the
early-stopping snapshot. Everything per member is in ``stack.py``; the tensor
math is in ``stack_ops.py``.
"""

from __future__ import annotations

import itertools
from typing import Optional

import keras
import numpy as np
import tensorflow as tf

from dlexp.nn import activations
from dlexp.nn import models
from dlexp.train import optimizers
from dlexp.train.stack import ops
from dlexp.config.schema import RunSpec
from dlexp.data.datasets import Dataset
from dlexp.train.diagnostics import ActivationSummary, LayerState, layer_row

GRAD_SAMPLES = 1024  # callbacks.LayerDiagnostics' default
_CHUNK_FLOATS = 1 << 23  # rows per inference chunk: one (M, rows, width) activation tensor is ~32 MB
# Rows per diagnostics chunk: M x (sum of hidden widths) x rows floats is ~16 MB, kept small because
# a forward + backward pass holds several such floats per member, unit and row until the backward is
# done, and with another big stack training on the other lane that would set the reproduction's peak memory.
_DIAG_FLOATS = 1 << 22
OWN_VARIABLE_FLOATS = 1 << 17  # a weight this large over all members gets a variable of its own (param_groups)


def _keras_dropout_seed(run_seed: int, layer_index: int, epoch: int) -> int:
    """The first seed word Keras' Dropout draws with in ``epoch``, as an int32.

    callbacks.EpochSeeds sets each Dropout's SeedGenerator state to
    [callbacks.dropout_seed(seed, layer_index, epoch), 0] at every epoch start
    (layer_index: position in model.layers); Keras' TF
    backend then hands the state to stateless_dropout as floormod(state,
    2**31 - 2), and the second word counts the steps of the epoch.
    """
    from dlexp.train.callbacks import dropout_seed

    return dropout_seed(run_seed, layer_index, epoch) % (2**31 - 2)


def _layer_indices(spec: RunSpec, plan: list) -> list[int]:
    """Position of each hidden layer's Dropout in ``models.build(spec).layers`` (0 where it has none)."""
    where = {name: i for i, name in enumerate(models.layer_names(spec))}
    return [where.get(f"drop_{layer.index}", 0) for layer in plan]


def _compile(fn, input_signature):
    # autograph=False: the loop is an explicit tf.while_loop, and autograph's source
    # conversion of every helper would only make tracing slow.
    return tf.function(fn, input_signature=input_signature, autograph=False)


def _initial_buffers(specs: list[RunSpec], data: Dataset, layout: ops.Layout, plan: list) -> tuple[np.ndarray, ...]:
    """Each member's initial weights (``models.initial_weights``, exactly what ``models.build`` makes),
    flattened into (M, P) trainables and (M, S) BN moving mean/variance.

    A member without BatchNormalization in a stack that has it gets BN's initial values
    (gamma 1, beta 0, mean 0, variance 1); its forward pass skips them (``Arch.norm_mask``).
    """
    theta, mm, mv = [], [], []
    for spec in specs:
        init = models.initial_weights(spec, data.input_dim, data.n_classes)
        by_name: dict[str, np.ndarray] = {}
        for k, layer in enumerate(plan):
            by_name[f"kernel_{k}"], by_name[f"bias_{k}"] = init[f"dense_{layer.index}"]
            if layout.stat_sizes:
                gamma, beta, mean, var = init.get(f"bn_{layer.index}") or models.batchnorm_initial_weights(layer.width)
                by_name[f"gamma_{k}"], by_name[f"beta_{k}"] = gamma, beta
                mm.append(mean)
                mv.append(var)
        by_name["out_kernel"], by_name["out_bias"] = init["output"]
        theta.append(np.concatenate([by_name[n].ravel() for n in layout.names]))
    m = len(specs)
    stats = [np.concatenate(s).reshape(m, -1) if s else np.zeros((m, 0)) for s in (mm, mv)]
    return np.stack(theta).astype("float32"), stats[0].astype("float32"), stats[1].astype("float32")


def param_groups(sizes: list[int], members: int) -> list[list[int]]:
    """Which weights (indices into ``Layout.sizes``) share a variable: each weight with at least
    OWN_VARIABLE_FLOATS floats over all members gets its own; the others share one flat (M, n) one.

    A shared variable is cut into its weights for every forward pass (SplitV along axis 1) and
    their gradients are put back together (ConcatV2): two copies of it per step, which is costly
    for large weights. A variable of its own is read as it is, but adds its own chain of optimizer
    ops, or under XLA a fused kernel to compile, which is costly for many small weights. Hence the
    size rule.
    """
    own = [i for i, n in enumerate(sizes) if n * members >= OWN_VARIABLE_FLOATS]
    shared = [i for i in range(len(sizes)) if i not in own]
    return ([shared] if shared else []) + [[i] for i in own]


def _has_bn(net: keras.Model, layer) -> bool:
    return any(lay.name == f"bn_{layer.index}" for lay in net.layers)


def _arch(specs: list[RunSpec], plan: list, binary: bool) -> ops.Arch:
    with_bn = [s.normalization.kind == "batchnorm" for s in specs]
    norm = next((s.normalization for s in specs if s.normalization.kind == "batchnorm"), specs[0].normalization)
    keys = [(s.activation.name, s.activation.alpha) for s in specs]
    fns = {key: activations.get(*key) for key in keys}
    act_groups = [(fn, tf.constant([k == key for k in keys])) for key, fn in fns.items()]
    runs = activation_runs(specs)
    return ops.Arch(plan=plan, norm=norm.placement if norm.kind == "batchnorm" else None,
                    momentum=norm.momentum, epsilon=norm.epsilon,
                    act_groups=act_groups, binary=binary,
                    norm_mask=None if all(with_bn) else tf.constant(with_bn),
                    act_runs=None if runs is None else [(fns[key], n) for key, n in runs])


def activation_runs(specs: list[RunSpec]) -> Optional[list[tuple]]:
    """[((name, alpha), n)]: the members as runs of consecutive members with one activation, or
    None when they interleave: more runs than twice the functions (each run adds a slice and a
    function op per layer, forward and backward, so the threshold is a rule of thumb)."""
    keys = [(s.activation.name, s.activation.alpha) for s in specs]
    runs = [(key, len(list(run))) for key, run in itertools.groupby(keys)]
    return runs if len(runs) <= 2 * len(set(keys)) else None


def _copy_rows(sources: list, targets: list, mask) -> None:
    """The ``mask`` members' rows of each source variable into its target (the others keep theirs)."""
    for src, dst in zip(sources, targets):
        dst.assign(tf.where(mask[:, None], src, dst))


def fused_update(specs: list[RunSpec]) -> bool:
    """Whether the plain step's optimizer update goes through the optimizer's fused kernel (Adam's):
    one learning rate for all members (``ops.Optimizer.apply_fused``)."""
    return (optimizers.rule(specs[0].optimizer.name).fused is not None
            and len({s.optimizer.learning_rate for s in specs}) == 1)


class StackEngine:
    """The stacked buffers and the compiled functions that train and measure them."""

    def __init__(self, specs: list[RunSpec], data: Dataset, n_fit: int, jit: bool = False) -> None:
        """``jit``: XLA-compile the whole step (TF's public ``jit_compile``); off by default."""
        s0 = specs[0]
        self.n_fit = n_fit
        self.plan = ops.layer_plan(s0.model.kind, s0.model.hidden, s0.model.block_size)
        self.arch = _arch(specs, self.plan, data.binary)
        batchnorm = any(s.normalization.kind == "batchnorm" for s in specs)
        self.with_bn = tf.constant([s.normalization.kind == "batchnorm" for s in specs])[:, None]
        self.layout = ops.Layout(data.input_dim, self.plan, models.output_units(data.n_classes)[0], batchnorm)
        theta, mm, mv = _initial_buffers(specs, data, self.layout, self.plan)
        self.groups = param_groups(self.layout.sizes, len(specs))
        self.param_sizes = [[self.layout.sizes[i] for i in g] for g in self.groups]
        parts = self._grouped(theta)
        self.params = [tf.Variable(p) for p in parts]
        self.mm, self.mv = tf.Variable(mm), tf.Variable(mv)
        self._state = [*self.params, self.mm, self.mv]
        # EarlyStopping's best_weights, and (below) the fused update's frozen copies: each a full
        # copy of the weights, so made only for stacks that use them (memory grows with members).
        early_stopping = any(s.trainer.early_stopping.enabled for s in specs)
        self.best = [tf.Variable(v) for v in (*parts, mm, mv)] if early_stopping else []
        self.opt = ops.Optimizer(s0.optimizer, self.params, [s.optimizer.learning_rate for s in specs])
        # Adam through TF's fused kernel (ops.Optimizer.apply_fused), which masks no member: a member
        # that stops (early stopping, its epoch budget, a non-finite loss) has its state copied to
        # ``frozen`` (``freeze``) by fit_stack, and put back (``thaw``) after training; the others'
        # updates are exact. Only without XLA (which fuses the elementwise update itself).
        self.fused = not jit and fused_update(specs)
        self.freezes = self.fused and len(specs) > 1
        # Members that stop at different times (early stopping, their own epochs) need the copies;
        # otherwise only a diverging member does, so they are made at its first freeze.
        planned_stops = early_stopping or len({s.trainer.epochs for s in specs}) > 1
        self.frozen = [tf.Variable(v) for v in (*parts, mm, mv)] if self.freezes and planned_stops else []
        self.clip_kinds = [s.clipping.kind for s in specs]
        self.clip_value = tf.constant([s.clipping.value for s in specs], tf.float32)
        # Per member, the steps since the epoch began in which clipping changed the gradient.
        self.clip_steps = tf.Variable(tf.zeros([len(specs)]), trainable=False)
        rates = [s.model.dropout for s in specs]
        self.dropout = [m for m, r in enumerate(rates) if r > 0]  # members that have Dropout layers
        self.rates = tf.constant(rates, tf.float32)
        self.scales = tf.constant([np.float32(1.0 / (1.0 - r)) for r in rates])
        self.drop_layer_index = [_layer_indices(s, self.plan) for s in specs]
        self.seeds = [s.seed for s in specs]
        self.batch_size = s0.trainer.batch_size
        m, d = len(specs), data.input_dim
        self.chunk = max(256, _CHUNK_FLOATS // (m * max(s0.model.hidden)))  # the (rows, D) input is shared
        self.diag_chunk = max(32, _DIAG_FLOATS // (m * sum(s0.model.hidden)))
        x_sig, y_sig, mask_sig = tf.TensorSpec([None, d], tf.float32), tf.TensorSpec([None], tf.int64), tf.TensorSpec([m], tf.bool)
        # XLA compiles the whole step (BN, dropout, activations, optimizer) on a batch padded to full size.
        self._full_step = tf.function(self._masked_step, jit_compile=True, autograph=False) if jit else None
        self.n_batches = -(-n_fit // self.batch_size)
        self.train_epoch = _compile(self._train_epoch, input_signature=[
            tf.TensorSpec([m, n_fit], tf.int32), mask_sig, tf.TensorSpec([m, len(self.plan)], tf.int32), x_sig, y_sig,
            x_sig, y_sig, tf.TensorSpec([], tf.int32), tf.TensorSpec([], tf.int32)])
        self.evaluate = _compile(self._evaluate, input_signature=[x_sig, y_sig])
        self.representations_of = _compile(self._representations, input_signature=[x_sig])
        self.act_stats = _compile(self._act_stats, input_signature=[x_sig])
        self.diagnostics = _compile(self._diagnostics, input_signature=[x_sig, y_sig])
        self.keep_best = _compile(self._keep_best, input_signature=[mask_sig])
        self.restore_best = _compile(self._restore_best, input_signature=[mask_sig])
        self._freeze_rows = _compile(self._freeze, input_signature=[mask_sig])
        self.thaw = _compile(self._thaw, input_signature=[mask_sig])

    def trace(self, diagnostics: bool, forward_only: bool, early_stopping: bool) -> None:
        """Trace, without running, the functions a fit calls: the epoch, the layer diagnostics
        (``forward_only``: and their forward-only pass, for rows after GRAD_SAMPLES and epochs
        without gradient norms), the early-stopping snapshot, the fused update's freeze and thaw."""
        functions = [self.train_epoch]
        functions += [self.diagnostics] if diagnostics else []
        functions += [self.act_stats] if forward_only else []
        functions += [self.keep_best, self.restore_best] if early_stopping else []
        functions += [self._freeze_rows, self.thaw] if self.frozen else []
        for fn in functions:
            fn.get_concrete_function()

    def _named(self) -> dict:
        """Named (M, *shape) views of the trainables for the forward pass."""
        named = {}
        for group, sizes, var in zip(self.groups, self.param_sizes, self.params):
            named.update(self.layout.shaped(group, ops.split_columns(var, sizes)))
        return named

    def _grouped(self, flat: np.ndarray) -> list[np.ndarray]:
        """An (M, P) array in ``layout`` order cut into the variables' (M, n) arrays."""
        by_weight = np.split(flat, np.cumsum(self.layout.sizes)[:-1], axis=1)
        return [np.concatenate([by_weight[i] for i in g], axis=1) for g in self.groups]

    def _by_weight(self, arrays: list[np.ndarray]) -> list[np.ndarray]:
        """The variables' (M, n) arrays as (M, size) views, one per weight in ``layout`` order."""
        by_weight: list = [None] * len(self.layout.sizes)
        for group, sizes, a in zip(self.groups, self.param_sizes, arrays):
            for i, part in zip(group, np.split(a, np.cumsum(sizes)[:-1], axis=1)):
                by_weight[i] = part
        return by_weight

    def _flat(self, arrays: list[np.ndarray]) -> np.ndarray:
        """The variables' (M, n) arrays put back together as one (M, P) array in ``layout`` order."""
        return np.concatenate(self._by_weight(arrays), axis=1)

    def _add_flat(self, total: Optional[np.ndarray], arrays: list[np.ndarray]) -> np.ndarray:
        """``total + self._flat(arrays).astype(float64)`` (a zero ``total`` when None), the same sums
        added in place weight by weight, so that a large stack's layer diagnostics do not make
        float32 and float64 copies of the whole (M, P) gradient, tens of MB, at every measured epoch."""
        if total is None:
            total = np.zeros((len(self.seeds), sum(self.layout.sizes)))
        offsets = np.cumsum([0, *self.layout.sizes])
        for i, part in enumerate(self._by_weight(arrays)):
            view = total[:, offsets[i]:offsets[i + 1]]
            np.add(view, part, out=view)
        return total

    def flat_weights(self) -> np.ndarray:
        """The trainables as one (M, P) array, in ``layout`` order."""
        return self._flat([p.numpy() for p in self.params])

    def _moving(self) -> tuple:
        return self.layout.split_stats(self.mm), self.layout.split_stats(self.mv)

    # -- training: one call per epoch
    def dropout_seeds(self, epoch: int) -> np.ndarray:
        """(M, layers) first seed words of this epoch's masks (the second word is the step)."""
        out = np.zeros((len(self.seeds), len(self.plan)), "int32")
        for m in self.dropout:
            out[m] = [_keras_dropout_seed(self.seeds[m], i, epoch) for i in self.drop_layer_index[m]]
        return out

    def _train_epoch(self, perm, active, drop_seeds, x, y, x_val, y_val, start, n_batches):
        """Batches ``start`` to ``n_batches`` of an epoch (all: 0 and ``self.n_batches``), then
        inference-mode loss/hit sums on (x_val, y_val) (pass 0 rows to skip: ``mean_metrics`` then
        measures it in chunks); returns per-member loss/hit sums, rows counted, who is still
        finite, the validation sums, and the batch it stopped before. With the fused update
        (``self.fused``, which masks no member) the call ends right after a batch where an
        ``active`` member's loss turned non-finite: fit_stack freezes that member there and calls
        again from the next batch for the others. Validating in the same call saves a call and a
        host round trip per epoch; with 0 batches the same graph measures
        the test set (``test_metrics``), so no second inference graph is traced.

        Plain: one tf.while_loop over all batches, the last one smaller as Keras
        makes it (one trace of the step); when the rows divide evenly, every batch
        has the static shape (M, batch_size). XLA needs static shapes: the compiled
        step runs every batch at (M, batch_size), a smaller last batch padded and its
        real rows marked (``ops.Rows``), so the step is traced once either way.
        """
        bsz, n = self.batch_size, self.n_fit
        # {member: its layers' seed words}, for the members with dropout only: one Unpack per row
        # instead of a strided slice per (member, layer), whose number (layers x members) would make
        # tracing slow even where no member uses dropout.
        rows = tf.unstack(drop_seeds, num=len(self.seeds)) if self.dropout else []
        seeds = {m: tf.unstack(rows[m], num=len(self.plan)) for m in self.dropout}

        def run(step_fn, b, idx, carry, real_rows=None):
            """One batch; ``real_rows`` (int) when ``idx`` is padded to the full batch size."""
            loss_sum, hit_sum, count, alive = carry
            rows = tf.shape(idx)[1] if real_rows is None else real_rows
            uniforms = self._uniforms(seeds, b, rows)
            if real_rows is not None and real_rows < bsz:  # padded rows' draws: never used (loss weight 0)
                uniforms = [tf.pad(u, [[0, 0], [0, bsz - real_rows], [0, 0]], constant_values=1.0) for u in uniforms]
            losses, hits = step_fn(tf.gather(x, idx), tf.gather(y, idx), alive, *uniforms)
            rows = tf.cast(rows, tf.float32)
            # Keras' running means: loss weighted by batch size, accuracy per sample. A member whose
            # loss turns NaN/Inf gets this batch counted and applied (as Keras does), then stops.
            return (tf.where(alive, loss_sum + losses * rows, loss_sum), tf.where(alive, hit_sum + hits, hit_sum),
                    tf.where(alive, count + rows, count), tf.logical_and(alive, tf.math.is_finite(losses)))

        def loop(step_fn, n_batches, slicer, carry, real_rows=None):
            def body(b, *carry):
                return (b + 1, *run(step_fn, b, slicer(b), carry, real_rows))

            def more(b, *carry):
                if not self.fused:
                    return b < n_batches
                return tf.logical_and(b < n_batches, tf.reduce_all(tf.logical_or(carry[3], tf.logical_not(active))))

            out = tf.while_loop(more, body, (start, *carry))
            return out[0], out[1:]

        zeros = tf.zeros_like(active, tf.float32)
        carry = (zeros, zeros, zeros, active)
        done = n_batches
        n_full, rest = divmod(n, bsz)

        def full_batch(b):  # static (M, bsz): shapes fold away at trace time
            return tf.slice(perm, [0, b * bsz], [-1, bsz])

        if self._full_step is None:  # each member's own rows: (M, b), the last batch smaller when rows don't divide
            slicer = full_batch if not rest else (lambda b: perm[:, b * bsz:tf.minimum(b * bsz + bsz, n)])
            done, carry = loop(self._train_step, n_batches, slicer, carry)
        else:
            def compiled(mask):
                count = tf.reduce_sum(mask)
                return lambda xb, yb, alive, *uniforms: self._full_step(xb, yb, alive, mask, count, *uniforms)

            if n_full:
                _, carry = loop(compiled(tf.ones([bsz])), tf.minimum(n_batches, n_full), full_batch, carry, real_rows=bsz)
            if rest:
                m = len(self.seeds)
                padded = tf.concat([perm[:, n_full * bsz:], tf.zeros([m, bsz - rest], tf.int32)], axis=1)
                mask = tf.concat([tf.ones([rest]), tf.zeros([bsz - rest])], axis=0)
                carry = tf.cond(n_batches > n_full,
                                lambda: run(compiled(mask), tf.constant(n_full), padded, carry, real_rows=rest),
                                lambda: carry)
        # Automatic control dependencies order these reads after the loop's variable updates.
        val_loss, val_hits, _ = self._evaluate(x_val, y_val)
        return (*carry, val_loss, val_hits, done)

    def _uniforms(self, seeds: dict, b: tf.Tensor, rows) -> list:
        """Keras' dropout draws for batch ``b``: per member and layer, stateless_uniform with seed
        (epoch seed, b) as the layer's SeedGenerator hands it out. Drawn outside XLA (whose
        Philox differs in bits); members without dropout get zeros (kept: u >= 0)."""
        if not self.dropout:
            return []
        alg = tf.raw_ops.StatelessRandomGetAlg()  # what tf.random.stateless_uniform picks (Philox on CPU)
        out = []
        for k, layer in enumerate(self.plan):
            shape = tf.stack([rows, layer.width])
            draws = []
            for m in range(len(self.seeds)):
                if m in self.dropout:  # stateless_uniform minus its `* (max - min) + min` with 1 and 0
                    key, counter = tf.raw_ops.StatelessRandomGetKeyCounter(seed=tf.stack([seeds[m][k], b]))
                    draws.append(tf.raw_ops.StatelessRandomUniformV2(shape=shape, key=key, counter=counter, alg=alg))
                else:
                    draws.append(tf.zeros(shape))
            out.append(tf.stack(draws))
        return out

    def _clip_and_apply(self, grad, alive):
        """Each member's clipping, then the optimizer step for the ``alive`` ones (for all: fused)."""
        clipped, changed = ops.clip_members(self.clip_kinds, grad, self.clip_value, self.param_sizes)
        if changed is not None:
            self.clip_steps.assign_add(tf.cast(tf.logical_and(changed, alive), tf.float32))
        if self.fused:
            self.opt.apply_fused(clipped)
        else:
            self.opt.apply(clipped, alive)

    def _train_step(self, xb, yb, alive, *uniforms):
        """One batch for all members: xb (M, b, D), yb (M, b). Updates only ``alive`` members."""
        return self._step(xb, yb, alive, uniforms, None)

    def _masked_step(self, xb, yb, alive, mask, count, *uniforms):
        """The step on a batch padded to the full size: only rows where ``mask`` is 1 count (XLA's)."""
        return self._step(xb, yb, alive, uniforms, ops.Rows(mask, count))

    def _step(self, xb, yb, alive, uniforms, rows):
        arch = self.arch
        drop = ops.dropout_fn(list(uniforms), self.rates, self.scales) if uniforms else None
        with tf.GradientTape() as tape:
            logits, _, stats = ops.forward(arch, self._named(), xb, dropout=drop, rows=rows)
            per_sample = ops.member_losses(arch.binary, logits, yb)
            losses = tf.reduce_mean(per_sample, axis=1) if rows is None else rows.mean(per_sample)  # (M,)
            total = tf.reduce_sum(losses)  # d total / d (member m's weights) = d loss_m / d ...
        self._clip_and_apply(tape.gradient(total, self.params), alive)
        if stats:  # BN moving averages, as BatchNormalization.call updates them
            keep, mom = tf.logical_and(alive[:, None], self.with_bn), arch.momentum
            mean, var = tf.concat([s[0] for s in stats], 1), tf.concat([s[1] for s in stats], 1)
            self.mm.assign(tf.where(keep, self.mm * mom + mean * (1.0 - mom), self.mm))
            self.mv.assign(tf.where(keep, self.mv * mom + var * (1.0 - mom), self.mv))
        hits = ops.member_hits(arch.binary, logits, yb)
        return losses, tf.reduce_sum(hits if rows is None else hits * rows.mask, 1)

    # -- inference-mode measurements on data shared by all members
    def _infer(self, x):
        return ops.forward(self.arch, self._named(), x, moving=self._moving())

    def _evaluate(self, x, y):
        """Per-member loss and hit sums over (x, y) and each member's predicted classes (M, rows).
        Traced inside the epoch function (validation, and the test set as an epoch of 0 batches)
        and on its own (``evaluate``) for decision grids and sets larger than one chunk."""
        logits, _, _ = self._infer(x)
        classes = ops.member_classes(self.arch.binary, logits)
        return (tf.reduce_sum(ops.member_losses(self.arch.binary, logits, y), 1),
                tf.reduce_sum(ops.member_hits(self.arch.binary, logits, y, classes), 1), classes)

    def _representations(self, x):
        reps: list = []
        ops.forward(self.arch, self._named(), x, moving=self._moving(), representations=reps)
        return reps

    @staticmethod
    def _summaries(acts) -> list:
        out = []
        for a in acts:
            a64 = tf.cast(a, tf.float64)  # diagnostics.ActivationSummary sums in float64
            out.append((tf.reduce_max(tf.abs(a), axis=1), tf.reduce_sum(a64, [1, 2]), tf.reduce_sum(tf.square(a64), [1, 2])))
        return out

    def _act_stats(self, x):
        _, acts, _ = self._infer(x)
        return self._summaries(acts)

    def _diagnostics(self, x, y):
        """Activation summaries of x and each member's gradient (M, P) of its loss summed over x,
        from ONE forward pass (layer_rows adds the chunks up and divides by the rows)."""
        with tf.GradientTape() as tape:
            logits, acts, _ = self._infer(x)
            total = tf.reduce_sum(ops.member_losses(self.arch.binary, logits, y))
        return self._summaries(acts), tape.gradient(total, self.params)

    def end_training(self) -> None:
        """Drop what only training uses: the optimizer's slots, the best and frozen copies and the
        functions that captured them. The trained weights stay for the finished runs' post-training
        work (predictions, probes), which may wait on the background thread while the next stacks
        train, so a finished stack then holds one copy of its weights instead of up to five."""
        self.opt = self.best = self.frozen = None
        for name in ("train_epoch", "diagnostics", "act_stats", "keep_best", "restore_best", "_freeze_rows", "thaw"):
            setattr(self, name, None)

    def close(self) -> None:
        """Drop the weights and every function: nothing will ask this stack anything more.
        Each tf.function holds a bound method of the engine, a reference cycle that Python frees
        only at its next full collection, and TensorFlow's pool keeps room for the most that was
        ever alive at once: left to the collector, finished stacks' weights would raise the pool
        of the whole run."""
        self.end_training()
        self.evaluate = self.representations_of = self._full_step = None
        self.params, self._state = [], []
        self.mm = self.mv = self.clip_steps = None

    def _keep_best(self, mask):
        _copy_rows(self._state, self.best, mask)

    def _restore_best(self, mask):
        _copy_rows(self.best, self._state, mask)

    def freeze(self, mask) -> None:
        """Keep the ``mask`` members' state aside (``thaw`` puts it back); for ``freezes`` stacks."""
        if not self.frozen:
            self.frozen = [tf.Variable(v) for v in self._state]
        self._freeze_rows(mask)

    def _freeze(self, mask):
        _copy_rows(self._state, self.frozen, mask)

    def _thaw(self, mask):
        _copy_rows(self.frozen, self._state, mask)

    def weights(self) -> tuple[dict, tuple]:
        """Numpy views: named trainables (M, *shape) and per-layer moving (means, variances)."""
        split = np.split
        cuts = np.cumsum(self.layout.stat_sizes)[:-1]
        moving = tuple(split(v.numpy(), cuts, axis=1) if self.layout.stat_sizes else [] for v in (self.mm, self.mv))
        return self.layout.split(self.flat_weights()), moving

    def copy_into(self, net: keras.Model, weights: dict, moving: tuple, m: int) -> None:
        """Member ``m``'s slice of ``weights()`` into its own Keras model."""
        for k, layer in enumerate(self.plan):
            net.get_layer(f"dense_{layer.index}").set_weights([weights[f"kernel_{k}"][m], weights[f"bias_{k}"][m]])
            if moving[0] and _has_bn(net, layer):
                net.get_layer(f"bn_{layer.index}").set_weights(
                    [weights[f"gamma_{k}"][m], weights[f"beta_{k}"][m], moving[0][k][m], moving[1][k][m]])
        net.get_layer("output").set_weights([weights["out_kernel"][m], weights["out_bias"][m]])

    # -- host-side helpers
    def chunks(self, x: np.ndarray):
        for start in range(0, len(x), self.chunk):
            yield start, x[start:start + self.chunk]

    def test_metrics(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Per-member mean loss and accuracy on (x, y), through the epoch's graph with 0 batches
        when the rows fit in one chunk (one trace less per stack), else ``mean_metrics``."""
        if len(x) > self.chunk:
            return self.mean_metrics(x, y)
        m = len(self.seeds)
        out = self.train_epoch(np.zeros((m, self.n_fit), "int32"), np.zeros(m, bool),
                               np.zeros((m, len(self.plan)), "int32"), x[:0], y[:0], x, y, 0, 0)
        return (out[4].numpy().astype(np.float64) / len(x), out[5].numpy().astype(np.float64) / len(x))

    def mean_metrics(self, x: np.ndarray, y: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        loss, hits = 0.0, 0.0
        for start, xc in self.chunks(x):
            lo, hi, _ = self.evaluate(xc, y[start:start + self.chunk])
            loss, hits = loss + lo.numpy().astype(np.float64), hits + hi.numpy().astype(np.float64)
        return loss / len(x), hits / len(x)

    def predict_classes(self, x: np.ndarray) -> np.ndarray:
        """(M, rows) predicted class of every member (a sigmoid unit thresholded at 0.5, as classes_of)."""
        no_labels = np.zeros(min(len(x), self.chunk), "int64")
        parts = [self.evaluate(xc, no_labels[:len(xc)])[2].numpy() for _, xc in self.chunks(x)]
        return np.concatenate(parts, axis=1).astype(int)

    def representations(self, x: np.ndarray, members: list[int]) -> list[np.ndarray]:
        """Each hidden layer's inference-mode output for ``members``: (len(members), rows, width) per
        layer. The pass runs for all members; only the ones asked for are copied out."""
        keep = tf.constant(members, tf.int32)
        parts = [[tf.gather(r, keep).numpy() for r in self.representations_of(xc)] for _, xc in self.chunks(x)]
        return [np.concatenate([p[k] for p in parts], axis=1) for k in range(len(self.plan))]

    def layer_rows(self, epoch: int, x: np.ndarray, y: np.ndarray, gradients: Optional[np.ndarray] = None
                   ) -> list[list[dict]]:
        """LayerDiagnostics' rows for every member: dead units and activation stats on all of x,
        the weight proxy, and the kernel-gradient norm on the first GRAD_SAMPLES rows for the
        ``gradients`` members (a bool per member; None: all), NaN for the others.

        The first GRAD_SAMPLES rows give activation stats and the gradient from one pass, in
        chunks of ``diag_chunk`` rows to bound the memory of the backward pass; the rows after
        them (large data sets), and all rows when no member needs the gradient, only need the
        forward pass. The chunks are the same either way, so are the activation stats' sums."""
        gradients = np.ones(len(self.seeds), bool) if gradients is None else np.asarray(gradients, bool)
        n = min(GRAD_SAMPLES, len(x))
        cuts = [*range(0, n, self.diag_chunk), n, *range(n + self.chunk, len(x), self.chunk), len(x)]
        stats, grad = [], None
        for start, stop in zip(cuts, cuts[1:]):
            if start == stop:
                continue
            if stop <= n and gradients.any():
                parts, g = self.diagnostics(x[start:stop], y[start:stop])
                grad = self._add_flat(grad, [part.numpy() for part in g])
            else:
                parts = self.act_stats(x[start:stop])
            stats.append([(a.numpy(), t.numpy(), q.numpy()) for a, t, q in parts])
        maxabs = [np.max([p[k][0] for p in stats], axis=0) for k in range(len(self.plan))]
        total = [np.sum([p[k][1] for p in stats], axis=0) for k in range(len(self.plan))]
        total_sq = [np.sum([p[k][2] for p in stats], axis=0) for k in range(len(self.plan))]
        grads = None
        if grad is not None:
            grad /= n
            grads = self.layout.split(grad)
        kernels = self.layout.named(self._by_weight([p.numpy() for p in self.params]))  # views: no flat copy
        out = []
        for m in range(len(self.seeds)):
            rows = []
            for k, layer in enumerate(self.plan):
                summary = ActivationSummary(max_abs=maxabs[k][m], total=float(total[k][m]),
                                            total_sq=float(total_sq[k][m]), count=len(x) * layer.width)
                state = LayerState(summary, kernels[f"kernel_{k}"][m],
                                   grads[f"kernel_{k}"][m] if grads is not None and gradients[m] else None)
                rows.append(layer_row(epoch, layer.index, layer.width, state))  # what LayerDiagnostics writes
            out.append(rows)
        return out
