"""The share of steps in which gradient clipping changed the gradient (metrics.csv: clipped_share)."""

import math

import numpy as np
import pytest

from dlexp.config import schema as C
from dlexp.data import datasets as D


def _spec(kind, value, **trainer):
    return C.to_spec({"dataset": {"name": "moons_circles", "n_samples": 100}, "model": {"hidden": [8]},
                      "optimizer": {"name": "sgd", "learning_rate": 0.05},
                      "clipping": {"kind": kind, "value": value},
                      "trainer": {"epochs": 2, "batch_size": 16, "diagnostics": False, "progress": "none",
                                  "checkpoint": False, **trainer}})


@pytest.mark.parametrize("kind,value,share", [
    ("value", 1e-6, 1.0),  # every gradient has an entry above 1e-6: every step is clipped
    ("norm", 1e6, 0.0),  # no gradient is that long: clipping never acts
    ("global_norm", 1e-6, 1.0),
    ("none", 1.0, 0.0),
])
def test_keras_path_counts_the_steps_clipping_changed(kind, value, share):
    from dlexp.train import keras_fit

    spec = _spec(kind, value)
    t = spec.trainer
    data = D.load(spec.dataset, t.test_size, t.split_seed, t.stratify)
    result = keras_fit.fit_one(spec, data)
    assert [row["clipped_share"] for row in result.history] == [share, share]


def test_without_the_private_hook_the_share_is_not_measured():
    """The probe's fallback: an optimizer class without _clip_gradients is used as it is."""
    import keras

    from dlexp.train import callbacks as cb

    class Plain:
        def get_config(self):
            return {}

    clips = cb.ClipCount()
    opt = Plain()
    assert cb.counting_clips(opt, clips) is opt
    assert math.isnan(clips.take_share(10))
    assert isinstance(cb.counting_clips(keras.optimizers.SGD(clipvalue=1.0), cb.ClipCount()), keras.optimizers.SGD)


def test_stack_counts_each_members_clipped_steps_like_the_keras_path():
    """Members with their own clipping in one stack: never-binding, always-binding and none."""
    from dlexp.train import keras_fit
    from dlexp.train.stack import fit as stack

    specs = [_spec("norm", 1e6), _spec("value", 1e-6), _spec("none", 1.0), _spec("norm", 0.05)]
    t = specs[0].trainer
    data = D.load(specs[0].dataset, t.test_size, t.split_seed, t.stratify)
    members = stack.fit_stack(specs, data, jit=False)
    shares = [[row["clipped_share"] for row in m.history] for m in members]
    assert shares[:3] == [[0.0, 0.0], [1.0, 1.0], [0.0, 0.0]]
    solo = keras_fit.fit_one(specs[3], data)
    assert 0 < shares[3][0] <= 1
    assert np.allclose(shares[3], [row["clipped_share"] for row in solo.history], atol=0.15)


def _entrywise_changed(clipped, grads):
    """The rule stated entry by entry: some entry moved by more than CHANGED_RTOL of itself."""
    from dlexp.train.optimizers import CHANGED_RTOL

    return np.any([np.any(np.abs(c.numpy() - g) > CHANGED_RTOL * np.abs(g), axis=1)
                   for c, g in zip(clipped, grads)], axis=0)


@pytest.mark.parametrize("kinds", [["value"] * 6, ["norm"] * 6, ["global_norm"] * 6,
                                   ["value", "norm", "global_norm", "none", "value", "norm"],
                                   ["norm", "value", "value", "value", "global_norm", "none"]])
def test_stacked_clipping_reads_the_change_from_its_factors_as_the_entrywise_rule(kinds):
    """Per member, whether clipping changed the gradient: binding, not binding, and within
    rounding of the bound (a ratio of 1 + 3e-5 changes it, 1 + 3e-6 does not)."""
    import tensorflow as tf

    from dlexp.train.stack import ops

    rng = np.random.default_rng(0)
    sizes = [[6, 3], [4]]  # two variables side by side in the first tensor, one in the second
    grads = [rng.normal(0, 1, (6, 9)).astype("float32"), rng.normal(0, 1, (6, 4)).astype("float32")]
    ratios = [0.5, 2.0, 1 + 3e-5, 1 + 3e-6, 1.0, 1 - 3e-5]  # member m's size over its bound
    value = []
    for m, (kind, ratio) in enumerate(zip(kinds, ratios)):
        if kind == "value":
            largest = max(np.abs(g[m]).max() for g in grads)
            value.append(largest / ratio)
        elif kind == "norm":  # the first variable's norm decides (the others are far below)
            for g in grads:
                g[m] *= 0.01
            grads[0][m, :6] *= 100.0
            value.append(np.linalg.norm(grads[0][m, :6]) / ratio)
        else:
            value.append(np.sqrt(sum(np.sum(g[m] ** 2) for g in grads)) / ratio)
    value = tf.constant(value, tf.float32)
    clipped, changed = ops.clip_members(kinds, [tf.constant(g) for g in grads], value, sizes)
    want = _entrywise_changed(clipped, grads)
    assert list(changed.numpy()) == list(want)
    binding = [k != "none" and r > 1 + 1e-5 for k, r in zip(kinds, ratios)]
    assert list(want) == binding  # the cases are what they say
