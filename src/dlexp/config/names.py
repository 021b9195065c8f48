"""Names the config may use, known without importing TensorFlow.

The builders live in ``nn/activations.py`` and ``nn/models.py``; they check that
these lists and their registries agree.
"""

from __future__ import annotations

import re

def _packaged(group: str) -> tuple[str, ...]:
    from dlexp.config.presets import group_options

    return tuple(group_options(group))


# The built-in activations: the files of conf/activation/ (each has a builder in nn/activations.py,
# which checks the two agree when it loads).
ACTIVATIONS: tuple[str, ...] = _packaged("activation")
# Those whose function takes ``activation.alpha`` (nn/activations.py; a test checks): for the
# others an alpha would be silently ignored, so the config refuses it.
WITH_ALPHA: tuple[str, ...] = ("elu", "leaky_relu")
# The optimizers: the files of conf/optimizer/ (each an entry of train/optimizers.py; a test checks).
OPTIMIZERS: tuple[str, ...] = _packaged("optimizer")
# Those whose update takes ``optimizer.momentum`` (their entries pass it to Keras; a test checks):
# for the others a momentum other than 0 would be silently ignored, so the config refuses it.
WITH_MOMENTUM: tuple[str, ...] = ("rmsprop", "sgd")

# Keras initializer name -> the keyword arguments dlexp lets a config set.
INITIALIZER_PARAMS: dict[str, tuple[str, ...]] = {
    "zeros": (),
    "ones": (),
    "constant": ("value",),
    "random_normal": ("mean", "stddev"),
    "random_uniform": ("minval", "maxval"),
    "truncated_normal": ("mean", "stddev"),
    "glorot_uniform": (),
    "glorot_normal": (),
    "he_normal": (),
    "he_uniform": (),
    "lecun_normal": (),
    "lecun_uniform": (),
    "orthogonal": ("gain",),
    "variance_scaling": ("scale", "mode", "distribution"),
}

# What each initializer parameter may be (Keras' signatures and the domains their constructors or
# their draws need): "number" = a finite int or float; "positive" = a finite number > 0; a tuple =
# one of these words. Keras' defaults fill the parameters a config leaves out.
INITIALIZER_DOMAINS: dict[str, object] = {
    "value": "number", "mean": "number", "minval": "number", "maxval": "number", "gain": "number",
    "stddev": "positive", "scale": "positive",
    "mode": ("fan_in", "fan_out", "fan_avg"),
    "distribution": ("truncated_normal", "untruncated_normal", "normal", "uniform"),
}
# Parameters an initializer needs from the config (Keras' constant of 0 would be `zeros`: a
# constant without a value is a forgotten line, not a choice).
INITIALIZER_REQUIRED: dict[str, tuple[str, ...]] = {"constant": ("value",)}
INITIALIZER_DEFAULTS: dict[str, float] = {"minval": -0.05, "maxval": 0.05}  # keras.initializers.RandomUniform's

_IMPORT_PATH = re.compile(r"^[A-Za-z_][\w.]*:[A-Za-z_]\w*$")


def is_import_path(name: str) -> bool:
    """True for 'package.module:function', the form of a user-defined activation."""
    return bool(_IMPORT_PATH.match(name))
