"""Tensor math of the stacked trainer: M same-shaped networks with a leading members axis.

Every function here mirrors one piece of what Keras 3 (TF backend) does for a
single network, written so that member ``m`` only ever touches slice ``m``:
nothing reduces over the members axis, so one member's NaNs cannot reach
another. The op order follows Keras' source (``keras/src/optimizers/*.py``,
``layers/normalization/batch_normalization.py``, ``backend/tensorflow/nn.py``)
so that a member of a stack and the solo ``model.fit`` agree to float32
rounding. No I/O, no Python state: ``stack.py`` drives these.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional, Sequence

import numpy as np
import tensorflow as tf

from dlexp.config.schema import OptimizerConfig
from dlexp.train import optimizers


F32 = tf.float32

# ---------------------------------------------------------------- the network


@dataclass(frozen=True)
class Layer:
    """Hidden layer ``index`` (1-based, as in models.py); residual blocks start/end at some layers."""

    index: int
    width: int
    block_start: bool = False
    block_end: bool = False


def layer_plan(kind: str, hidden: Sequence[int], block_size: int) -> list[Layer]:
    """The hidden layers in the order models.build wires them, with its skip-block boundaries."""
    if kind != "residual":
        return [Layer(i, w) for i, w in enumerate(hidden, start=1)]
    plan = [Layer(1, hidden[0])]
    i = 2
    while i <= len(hidden):
        n = min(block_size, len(hidden) - i + 1)
        plan += [Layer(i + j, hidden[i + j - 1], j == 0, j == n - 1) for j in range(n)]
        i += n
    return plan


class Layout:
    """Where each weight lives in the flat per-member buffers.

    All trainable weights of a member are one row of ``theta`` (M, P), in Keras'
    trainable order (dense_i kernel, bias, [bn_i gamma, beta], ..., output
    kernel, bias). The engine keeps them in a few variables (``stack_engine.param_groups``):
    the small weights side by side in one (M, n) variable, so the optimizer and clipping are a
    handful of ops on one tensor instead of a chain per weight; each large weight in one of its
    own, which the forward pass reads without copying it out of a shared one. BN moving
    means/variances are rows of (M, S) buffers, one slice per hidden layer.

    Not every weight gets a variable of its own, because the per-variable reads, updates and
    clipping ops cost the many-layer stacks more than the split saves on the wide ones.
    """

    def __init__(self, input_dim: int, plan: list, out_units: int, batchnorm: bool) -> None:
        self.names: list[str] = []
        self.shapes: list[tuple] = []
        fan_in = input_dim
        for k, layer in enumerate(plan):
            self._add(f"kernel_{k}", (fan_in, layer.width))
            self._add(f"bias_{k}", (layer.width,))
            if batchnorm:
                self._add(f"gamma_{k}", (layer.width,))
                self._add(f"beta_{k}", (layer.width,))
            fan_in = layer.width
        self._add("out_kernel", (fan_in, out_units))
        self._add("out_bias", (out_units,))
        self.sizes = [int(np.prod(s)) for s in self.shapes]
        self.stat_sizes = [layer.width for layer in plan] if batchnorm else []

    def _add(self, name: str, shape: tuple) -> None:
        self.names.append(name)
        self.shapes.append(shape)

    def split(self, theta) -> dict:
        """Named views of a flat (M, P) array, (M, *shape); of a tensor, ready for the forward pass:
        kernels (M, fan_in, units), vectors (M, 1, units) so they broadcast over the batch without a
        slice per layer (a StridedSlice and its gradient are ~10 ops of per-step overhead each)."""
        if isinstance(theta, np.ndarray):
            return self.named(np.split(theta, np.cumsum(self.sizes)[:-1], axis=1))
        return self.shaped(range(len(self.names)), split_columns(theta, self.sizes))

    def named(self, parts: list[np.ndarray]) -> dict:
        """Named (M, *shape) views of the weights' (M, size) arrays, given one per weight in order."""
        return {n: p.reshape((-1,) + s) for n, p, s in zip(self.names, parts, self.shapes)}

    def shaped(self, indices, parts: list) -> dict:
        """Named forward-pass views of weights ``indices``, given as (M, size) tensors (reshapes: no copy)."""
        out = {}
        for i, p in zip(indices, parts):
            s = self.shapes[i]
            out[self.names[i]] = tf.reshape(p, [-1, *s] if len(s) == 2 else [-1, 1, *s])
        return out

    def split_stats(self, stats) -> list:
        """Per-layer (M, 1, units) slices of a (M, S) moving mean/variance tensor."""
        if not self.stat_sizes:
            return []
        return [tf.reshape(p, [-1, 1, n]) for p, n in zip(tf.split(stats, self.stat_sizes, axis=1), self.stat_sizes)]


@dataclass(frozen=True)
class Arch:
    """What the forward pass needs besides the weights."""

    plan: list
    norm: Optional[str]  # None | "pre_activation" | "post_activation"
    momentum: float
    epsilon: float
    act_groups: list  # [(fn, (M,) bool mask of its members)]; one group = same activation for all
    binary: bool
    # (M,) bool: which members have BatchNormalization layers when only some do (None: all of
    # them). The others pass their input through unchanged, so their gamma/beta get zero gradients.
    norm_mask: Optional[tf.Tensor] = None
    # [(fn, n)]: the members as runs of consecutive members sharing an activation, when there
    # are few runs (None: too interleaved; ``_activate`` then selects per member).
    act_runs: Optional[list] = None


def _dense(h: tf.Tensor, kernel, bias) -> tf.Tensor:
    """Keras Dense: matmul then add bias (M, 1, units). h is (N, D) shared by all members or (M, B, D) per member."""
    if h.shape.rank == 2:
        return tf.einsum("nd,mdh->mnh", h, kernel) + bias
    return tf.linalg.matmul(h, kernel) + bias


def member_select(mask: tf.Tensor, x: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Member m's slice of ``x`` where ``mask[m]`` (an (M,) bool), else of ``y``.

    TF's first Select picks whole rows by a vector condition, and its gradient is two selects.
    tf.where's broadcasting (M, 1, 1) condition costs, where the batch size is not static, about
    ten more graph ops per call in the gradient (shapes, BroadcastGradientArgs, sums, reshapes),
    traced and run in every step, which adds up over a deep stack's many selects per step."""
    return tf.raw_ops.Select(condition=mask, x=x, y=y)


def _activate(arch: Arch, z: tf.Tensor) -> tf.Tensor:
    if len(arch.act_groups) == 1:
        return arch.act_groups[0][0](z)
    if arch.act_runs is not None:
        # Members sharing an activation sit together (a preset's variants x seeds): each run's
        # function on its own slice, cut and joined along the members axis with static sizes,
        # whose gradients are the same cheap split and concat, because computing every function on
        # the whole stack makes the activations' ops and selects a large share of the op time.
        parts = tf.split(z, [n for _, n in arch.act_runs], axis=0)
        return tf.concat([fn(part) for (fn, _), part in zip(arch.act_runs, parts)], axis=0)
    # Interleaved activations: every function on the whole stack, each member keeps its own.
    # Elementwise, so a member's values are exactly its solo ones; the extra arithmetic is
    # cheaper than gathering slices out and back (whose gradient is a scatter), and traces faster.
    out = arch.act_groups[0][0](z)
    for fn, mask in arch.act_groups[1:]:
        out = member_select(mask, fn(z), out)
    return out


@dataclass(frozen=True)
class Rows:
    """Which rows of a padded batch are real: ``mask`` (B,) 1.0/0.0 and ``count`` their number.

    XLA compiles one static batch shape, so the compiled step takes a smaller last batch padded
    to the full size. Every reduction over the batch then counts only the real rows: BN's
    statistics, the mean loss, the hits. Padded rows get zero loss weight, and BN's statistics
    leave them out, so nothing of theirs reaches a real row's output or the gradient. (Their loss
    is masked by multiplying with 0, which a NaN would survive; they repeat a real training row
    through the same weights, so they diverge only when the stack does.)
    """

    mask: tf.Tensor
    count: tf.Tensor

    def mean(self, v: tf.Tensor) -> tf.Tensor:
        """Mean of (M, B) per-sample values over the real rows: (M,)."""
        return tf.reduce_sum(v * self.mask, axis=1) / self.count

    def moments(self, x: tf.Tensor) -> tuple:
        """tf.nn.moments(x, axes=[1], keepdims=True) over the real rows of (M, B, units)."""
        m = self.mask[None, :, None]
        mean = tf.reduce_sum(x * m, axis=1, keepdims=True) / self.count
        var = tf.reduce_sum(tf.math.squared_difference(x, tf.stop_gradient(mean)) * m, axis=1, keepdims=True) / self.count
        return mean, var


def _batchnorm(arch: Arch, w: dict, k: int, x: tf.Tensor, moving: Optional[tuple], stats: list,
               rows: Optional[Rows] = None) -> tf.Tensor:
    if moving is None:  # training: this batch's statistics, per member
        mean, var = tf.nn.moments(x, axes=[1], keepdims=True) if rows is None else rows.moments(x)
        stats.append((tf.squeeze(mean, 1), tf.squeeze(var, 1)))
    else:
        mean, var = moving[0][k], moving[1][k]
    out = tf.nn.batch_normalization(x, mean, var, w[f"beta_{k}"], w[f"gamma_{k}"], arch.epsilon)
    return out if arch.norm_mask is None else member_select(arch.norm_mask, out, x)


def forward(arch: Arch, w: dict, x: tf.Tensor, moving: Optional[tuple] = None, dropout: Optional[Callable] = None,
            representations: Optional[list] = None, rows: Optional[Rows] = None):
    """Logits (M, B, out_units), each hidden layer's activation output, and the BN batch statistics.

    ``moving=None`` is training mode (BN uses and returns batch statistics;
    ``dropout(k, a)`` is applied when given); otherwise ``moving`` holds the
    per-layer moving (means, variances) for inference. ``representations``, when
    given, receives each hidden layer's output as ``training.representation_layers``
    picks it (after a trailing BN, before dropout and a skip connection). ``rows``: the real
    rows of a padded training batch (BN's statistics use only them).
    """
    h, block_in = x, None
    acts, stats = [], []
    for k, layer in enumerate(arch.plan):
        if layer.block_start:
            block_in = h
        z = _dense(h, w[f"kernel_{k}"], w[f"bias_{k}"])
        if arch.norm == "pre_activation":
            z = _batchnorm(arch, w, k, z, moving, stats, rows)
        a = _activate(arch, z)
        acts.append(a)
        if arch.norm == "post_activation":
            a = _batchnorm(arch, w, k, a, moving, stats, rows)
        if representations is not None:
            representations.append(a)
        if dropout is not None:
            a = dropout(k, a)
        if layer.block_end:
            a = block_in + a  # keras.layers.Add([block_in, x])
        h = a
    return _dense(h, w["out_kernel"], w["out_bias"]), acts, stats


def dropout_fn(uniforms: list, rates: tf.Tensor, scales: tf.Tensor) -> Callable:
    """Keras' Dropout (tf.nn.experimental.stateless_dropout): where(u >= rate, x * scale, 0), per member.

    ``uniforms[k]`` (M, b, width_k) are the draws of hidden layer k; ``scales``
    are float32(1 / (1 - rate)) computed in float64, as TF does for a Python rate.
    """
    rate_b, scale_b = rates[:, None, None], scales[:, None, None]
    return lambda k, a: tf.where(uniforms[k] >= rate_b, a * scale_b, tf.zeros_like(a))


# ---------------------------------------------------------------- loss and accuracy


def member_losses(binary: bool, logits: tf.Tensor, y: tf.Tensor) -> tf.Tensor:
    """Per-sample losses (M, B) from logits, as Keras computes its CE losses for softmax/sigmoid outputs.

    Keras' TF backend takes the logits kept on the softmax/sigmoid output
    (``_keras_logits``), so probabilities are never clipped.
    """
    if y.shape.rank == 1:  # shared labels
        y = tf.broadcast_to(y[None], tf.shape(logits)[:2])
    if binary:
        ce = tf.nn.sigmoid_cross_entropy_with_logits(labels=tf.cast(y, F32)[..., None], logits=logits)
        return tf.reduce_mean(ce, axis=-1)
    # The kernel tf.nn.sparse_softmax_cross_entropy_with_logits runs, on the (M*B, C) reshape it
    # makes; without its wrapper's dynamic shape assert (the batch size is not static): counted in a
    # traced call on (5, None, 3) logits, 7 graph ops instead of 35, in every stacked step and evaluation.
    flat = tf.reshape(logits, [-1, logits.shape[-1]])
    loss, _ = tf.raw_ops.SparseSoftmaxCrossEntropyWithLogits(features=flat, labels=tf.reshape(y, [-1]))
    return tf.reshape(loss, tf.shape(y))


def member_classes(binary: bool, logits: tf.Tensor) -> tf.Tensor:
    """Predicted class (M, B) as int64: a sigmoid unit thresholded at 0.5, else argmax of softmax."""
    if binary:
        return tf.cast(tf.sigmoid(logits)[..., 0] > 0.5, tf.int64)
    return tf.argmax(tf.nn.softmax(logits), axis=-1, output_type=tf.int64)


def member_hits(binary: bool, logits: tf.Tensor, y: tf.Tensor, classes: Optional[tf.Tensor] = None) -> tf.Tensor:
    """Per-sample accuracy (M, B): binary_accuracy (p > 0.5) or sparse_categorical_accuracy (argmax p)."""
    if y.shape.rank == 1:
        y = tf.broadcast_to(y[None], tf.shape(logits)[:2])
    pred = member_classes(binary, logits) if classes is None else classes
    return tf.cast(tf.equal(pred, tf.cast(y, tf.int64)), F32)


# ---------------------------------------------------------------- clipping and optimizers


def _b(v: tf.Tensor, like: tf.Tensor) -> tf.Tensor:
    """A per-member vector (M,) shaped to broadcast against a stacked tensor."""
    return tf.reshape(v, [-1] + [1] * (like.shape.rank - 1))


def split_columns(t: tf.Tensor, sizes: Sequence[int]) -> list[tf.Tensor]:
    """The (M, size) column blocks of an (M, sum(sizes)) tensor; a single block is ``t`` itself (no op)."""
    return tf.split(t, sizes, axis=1) if len(sizes) > 1 else [t]


def _per_variable(gs: Sequence[tf.Tensor], sizes: Sequence[Sequence[int]]) -> list[tf.Tensor]:
    """Each variable's (M, size) gradient: ``gs`` are (M, n) tensors, ``sizes[j]`` the sizes of the
    variables side by side in ``gs[j]`` (one flat tensor for all of them, or one per variable)."""
    return [part for g, s in zip(gs, sizes) for part in split_columns(g, s)]


def _map_per_variable(gs: Sequence[tf.Tensor], sizes: Sequence[Sequence[int]], fn: Callable) -> list[tf.Tensor]:
    """``fn(part, v)`` on each variable's columns (v: its index over all of them), laid out as ``gs``."""
    out, v = [], 0
    for g, s in zip(gs, sizes):
        mapped = [fn(part, v + i) for i, part in enumerate(split_columns(g, s))]
        out.append(tf.concat(mapped, axis=1) if len(mapped) > 1 else mapped[0])
        v += len(s)
    return out


def _per_variable_norms(gs: Sequence[tf.Tensor], sizes: Sequence[Sequence[int]]) -> tuple[tf.Tensor, tf.Tensor]:
    """(M, V) sums of squares and L2 norms of each member's slice of each variable; the norm is 0
    where the sum is, as tf.clip_by_norm computes it."""
    l2sum = tf.stack([tf.reduce_sum(tf.square(part), axis=1) for part in _per_variable(gs, sizes)], axis=1)
    pred = l2sum > 0
    return l2sum, tf.where(pred, tf.sqrt(tf.where(pred, l2sum, tf.ones_like(l2sum))), l2sum)


def _scaled(factor: tf.Tensor) -> tf.Tensor:
    """Per member, whether its factors (M, V) scale some gradient by more than rounding."""
    return tf.reduce_any(1.0 - factor > optimizers.CHANGED_RTOL, axis=1)


def _beyond(gs: Sequence[tf.Tensor], bound: tf.Tensor) -> tf.Tensor:
    """Per member, whether clipping at +-``bound`` (M, 1) moves some entry by more than rounding:
    |g| - bound > CHANGED_RTOL * |g|, which the largest |g| decides. (A gradient with a NaN or
    inf entry, whose member diverges at this step, may count otherwise than entry by entry.)"""
    largest = tf.reduce_max(tf.stack([tf.reduce_max(tf.abs(g), axis=1) for g in gs], axis=1), axis=1)
    return largest * (1.0 - optimizers.CHANGED_RTOL) > bound[:, 0]


def clip_members(kinds: Sequence[str], gs: Sequence[tf.Tensor], value: tf.Tensor,
                 sizes: Sequence[Sequence[int]]) -> tuple[list[tf.Tensor], Optional[tf.Tensor]]:
    """``clip`` with each member's own kind (none / value / norm / global_norm), and per member
    whether clipping changed its gradient by more than rounding (M,) bool (None: no clipping).

    The change is read from the clip factors and the largest |g|, not by comparing the clipped
    and the original gradient entry by entry: the same rule, two passes over the gradient
    fewer. One kind: ``clip``. Mixed kinds: each member's factor per variable (clipnorm), per member
    (global_clipnorm) or 1 is built at (M, V) size and applied in one pass, then clipvalue
    members are clipped (the others' bound is +inf): the step is memory-bound on the
    gradient, so this beats computing every kind for the whole stack.
    """
    if len(set(kinds)) == 1:
        return clip(kinds[0], gs, value, sizes)
    is_kind = {k: tf.constant([kind == k for kind in kinds])[:, None] for k in ("value", "norm", "global_norm")}
    c = value[:, None]
    l2sum, l2norm = _per_variable_norms(gs, sizes)
    per_var = c / tf.maximum(l2norm, c)  # tf.clip_by_norm's factor
    norm = tf.sqrt(tf.reduce_sum(l2sum, axis=1, keepdims=True))
    per_member = c * tf.minimum(1.0 / norm, 1.0 / c) + (norm - norm)  # clip_by_global_norm's factor
    ones = tf.ones_like(per_var)
    factor = tf.where(is_kind["norm"], per_var, tf.where(is_kind["global_norm"], per_member * ones, ones))
    bound = tf.where(is_kind["value"], c, tf.fill(tf.shape(c), np.float32(np.inf)))
    scaled = _map_per_variable(gs, sizes, lambda part, v: part * factor[:, v:v + 1])
    changed = _scaled(factor)
    if "value" in kinds:
        changed = tf.logical_or(changed, _beyond(scaled, bound))
    return [tf.clip_by_value(g, -bound, bound) for g in scaled], changed


def clip(kind: str, gs: Sequence[tf.Tensor], value: tf.Tensor,
         sizes: Sequence[Sequence[int]]) -> tuple[list[tf.Tensor], Optional[tf.Tensor]]:
    """Keras' optimizer clipping, per member, of a gradient laid out as (M, n) tensors ``gs``
    (``sizes``: the variables in each): clipvalue; clipnorm on each variable; global_clipnorm
    over all of them. With whether it changed each member's gradient, as ``clip_members``."""
    c = value[:, None]
    if kind == "value":
        return [tf.clip_by_value(g, -c, c) for g in gs], _beyond(gs, c)
    if kind == "norm":  # tf.clip_by_norm on each (member, variable) slice: t * clip_norm / max(l2norm, clip_norm)
        denom = tf.maximum(_per_variable_norms(gs, sizes)[1], c)
        return _map_per_variable(gs, sizes, lambda part, v: part * c / denom[:, v:v + 1]), _scaled(c / denom)
    if kind == "global_norm":  # keras.src.optimizers.base_optimizer.clip_by_global_norm
        squares = [tf.reduce_sum(tf.square(g), axis=1) for g in gs]
        norm = tf.sqrt(squares[0] if len(squares) == 1 else tf.reduce_sum(tf.stack(squares, axis=1), axis=1))
        scale = value * tf.minimum(1.0 / norm, 1.0 / value) + (norm - norm)
        return [g * scale[:, None] for g in gs], _scaled(scale[:, None])
    return list(gs), None


class Optimizer:
    """An optimizer of ``train/optimizers.py`` on stacked variables, with a per-member learning
    rate and a per-member mask: members whose mask is False keep their weights."""

    def __init__(self, cfg: OptimizerConfig, variables: list, lr) -> None:
        self.cfg, self.vars = cfg, variables
        self.rule = optimizers.rule(cfg.name)
        self.lr = tf.constant(lr, F32)
        self.iterations = tf.Variable(tf.zeros([len(lr)], F32), trainable=False)
        n_slots = self.rule.slots(cfg)
        self.slots = [[tf.Variable(tf.zeros_like(v), trainable=False) for _ in range(n_slots)] for v in variables]

    def variables(self) -> list:
        return [self.iterations] + [s for slots in self.slots for s in slots]

    def apply_fused(self, grads: list) -> None:
        """The rule's fused kernel for every member (one learning rate, no mask): for stacks whose
        trainer freezes stopped members' state itself (``StackEngine.fused``)."""
        step = tf.reduce_max(self.iterations) + 1.0  # every member it updates has taken the same steps
        self.rule.fused(self.vars, grads, self.slots, self.lr[0], step)
        self.iterations.assign(tf.fill(tf.shape(self.iterations), step))

    def apply(self, grads: list, mask: tf.Tensor) -> None:
        """One update step. Only the weights (and the step count) are masked: a member that is
        frozen never resumes, so its optimizer state may drift without effect."""
        step = self.iterations + 1.0
        for var, g, slots in zip(self.vars, grads, self.slots):
            new = self.rule.update(var, g, slots, _b(self.lr, var), _b(step, var), self.cfg)
            var.assign(tf.where(_b(mask, var), new, var))
        self.iterations.assign(tf.where(mask, self.iterations + 1.0, self.iterations))
