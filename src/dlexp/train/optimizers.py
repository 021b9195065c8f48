"""The optimizers, one entry each, read by both trainers.

An entry says:
- ``keras(cfg, **clip)``: the Keras optimizer ``model.fit`` uses (``train/keras_fit.py``);
- ``slots(cfg)``: how many state tensors per weight the stacked trainer keeps;
- ``update(var, grad, slots, lr, step, cfg)``: Keras' update rule on stacked weights (a leading
  members axis; ``lr`` and ``step`` already broadcast per member). It is elementwise, so member
  m's rows only ever see member m's gradient. It assigns its slots and returns the new weights;
- ``fused`` (optional): the same step through one TF kernel, for stacks whose members share the
  learning rate (``train/stack/engine.py`` freezes stopped members itself then).

A new optimizer is one entry here plus ``conf/optimizer/NAME.yaml``; the config accepts the
names of that folder, and ``tests/test_extending.py`` checks the two agree. One that takes
``optimizer.momentum`` is also listed in ``config/names.py: WITH_MOMENTUM``.

Example:
    >>> OPTIMIZERS["sgd"].slots(OptimizerConfig("sgd", 0.1, momentum=0.9))  # doctest: +SKIP
    1
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable, Optional

import keras
import tensorflow as tf

from dlexp.config.schema import OptimizerConfig

F32 = tf.float32
ADAM_BETA_1, ADAM_BETA_2, ADAM_EPSILON = 0.9, 0.999, 1e-7  # Keras' Adam defaults (both update paths)
RMSPROP_RHO, RMSPROP_EPSILON = 0.9, 1e-7  # Keras' RMSprop defaults (not centered)
# A step counts as clipped (metrics.csv: clipped_share, both trainers) when clipping moved some
# gradient entry by more than this share of itself: float32 rounding is ~1e-7, a clip that binds far more.
CHANGED_RTOL = 1e-5


@dataclass(frozen=True)
class Rule:
    keras: Callable[..., keras.optimizers.Optimizer]
    slots: Callable[[OptimizerConfig], int]
    update: Callable
    fused: Optional[Callable] = None


def _adam_update(var, g, slots, lr, step, cfg: OptimizerConfig):
    m, v = slots
    alpha = lr * tf.sqrt(1 - tf.pow(ADAM_BETA_2, step)) / (1 - tf.pow(ADAM_BETA_1, step))
    m_new = m + (g - m) * (1 - ADAM_BETA_1)
    v_new = v + (tf.square(g) - v) * (1 - ADAM_BETA_2)
    m.assign(m_new)
    v.assign(v_new)
    return var - (m_new * alpha) / (tf.sqrt(v_new) + ADAM_EPSILON)


def _adam_fused(variables: list, grads: list, slots: list, lr, step) -> None:
    """Adam's step through TF's fused ResourceApplyAdam kernel (one pass over each variable and its
    slots instead of ~14 elementwise ops): Keras' formula in float32, except that the kernel rounds
    1 - beta as 1 - 0.9f and 1 - 0.999f (Keras: 0.1f, 0.001f); the stack-vs-Keras tests bound the
    drift. One learning rate, no mask."""
    b1, b2 = tf.constant(ADAM_BETA_1, F32), tf.constant(ADAM_BETA_2, F32)
    b1_power, b2_power = tf.pow(b1, step), tf.pow(b2, step)
    for var, g, (m, v) in zip(variables, grads, slots):
        tf.raw_ops.ResourceApplyAdam(var=var.handle, m=m.handle, v=v.handle, beta1_power=b1_power,
                                     beta2_power=b2_power, lr=lr, beta1=b1, beta2=b2,
                                     epsilon=tf.constant(ADAM_EPSILON, F32), grad=g, use_locking=False)


def _sgd_update(var, g, slots, lr, step, cfg: OptimizerConfig):
    if not cfg.momentum:
        return var - g * lr
    (m,) = slots
    m_new = m * cfg.momentum - g * lr
    m.assign(m_new)
    return var + m_new


def _rmsprop_update(var, g, slots, lr, step, cfg: OptimizerConfig):
    vel = slots[0]
    vel_new = RMSPROP_RHO * vel + (1 - RMSPROP_RHO) * tf.square(g)
    vel.assign(vel_new)
    increment = (lr * g) / tf.sqrt(vel_new + RMSPROP_EPSILON)
    if not cfg.momentum:
        return var - increment
    mom = slots[1]
    mom_new = cfg.momentum * mom + increment
    mom.assign(mom_new)
    return var - mom_new


OPTIMIZERS: dict[str, Rule] = {
    "adam": Rule(keras=lambda cfg, **clip: keras.optimizers.Adam(learning_rate=cfg.learning_rate, **clip),
                 slots=lambda cfg: 2, update=_adam_update, fused=_adam_fused),
    "sgd": Rule(keras=lambda cfg, **clip: keras.optimizers.SGD(learning_rate=cfg.learning_rate,
                                                               momentum=cfg.momentum, **clip),
                slots=lambda cfg: 1 if cfg.momentum else 0, update=_sgd_update),
    "rmsprop": Rule(keras=lambda cfg, **clip: keras.optimizers.RMSprop(learning_rate=cfg.learning_rate,
                                                                       momentum=cfg.momentum, **clip),
                    slots=lambda cfg: 2 if cfg.momentum else 1, update=_rmsprop_update),
}


def rule(name: str) -> Rule:
    """The entry for ``optimizer.name`` (validated against conf/optimizer/ before training)."""
    from dlexp.errors import ConfigError

    if name not in OPTIMIZERS:
        raise ConfigError("optimizer.name", name, "one of: " + ", ".join(OPTIMIZERS))
    return OPTIMIZERS[name]
