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
