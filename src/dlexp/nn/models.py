"""Builds the network from a RunSpec. No I/O.

Layers are named so diagnostics can find them: ``dense_i`` (the affine map),
``bn_i``, ``act_i`` (the nonlinearity, whose output is what "dead" is measured
on), ``drop_i``, then ``output``. Kernels are initialized from the run seed
and the layer index, so the same spec and seed always give the same weights,
whichever trainer uses them.
"""

from __future__ import annotations

import inspect
import re

import keras
import numpy as np

from dlexp.nn import activations
from dlexp.nn import tf_runtime  # noqa: F401  (graph settings before anything is traced; every path that trains imports this module)
from dlexp.config.schema import RunSpec


def layer_seed(run_seed: int, layer_index: int) -> int:
    """A distinct, reproducible seed per layer of a run."""
    return (run_seed * 1009 + layer_index * 7919) % (2**31 - 1)


def kernel_initializer(spec: RunSpec, layer_index: int) -> keras.initializers.Initializer:
    # keras.initializers.get("constant") fails (it builds Constant from a config without `value`).
    name = spec.initializer.name
    cls = keras.initializers.Constant if name == "constant" else type(keras.initializers.get(name))
    kwargs = dict(spec.initializer.params)
    if "seed" in inspect.signature(cls.__init__).parameters:
        kwargs["seed"] = layer_seed(spec.seed, layer_index)
    return cls(**kwargs)


def output_units(n_classes: int) -> tuple[int, str]:
    """One sigmoid unit for two classes (binary CE), else a softmax over classes (sparse CE)."""
    return (1, "sigmoid") if n_classes == 2 else (n_classes, "softmax")


def _hidden_layer(x, spec: RunSpec, i: int, width: int, act_fn):
    """Dense -> [BN] -> activation -> [BN] -> [dropout]; BN placement from the config."""
    norm = spec.normalization
    x = keras.layers.Dense(width, kernel_initializer=kernel_initializer(spec, i), name=f"dense_{i}")(x)
    if norm.kind == "batchnorm" and norm.placement == "pre_activation":
        x = keras.layers.BatchNormalization(momentum=norm.momentum, epsilon=norm.epsilon, name=f"bn_{i}")(x)
    x = keras.layers.Activation(act_fn, name=f"act_{i}")(x)
    if norm.kind == "batchnorm" and norm.placement == "post_activation":
        x = keras.layers.BatchNormalization(momentum=norm.momentum, epsilon=norm.epsilon, name=f"bn_{i}")(x)
    if spec.model.dropout > 0:
        x = keras.layers.Dropout(spec.model.dropout, seed=layer_seed(spec.seed, 1000 + i), name=f"drop_{i}")(x)
    return x


def build(spec: RunSpec, input_dim: int, n_classes: int) -> keras.Model:
    """The network for ``spec``: an MLP, or a residual MLP with identity skips every ``block_size`` layers."""
    act_fn = activations.get(spec.activation.name, spec.activation.alpha)
    inputs = keras.Input(shape=(input_dim,), name="inputs")
    x = inputs
    hidden = spec.model.hidden
    if spec.model.kind == "residual":
        # First layer maps the input to the common width; the rest come in skip blocks.
        x = _hidden_layer(x, spec, 1, hidden[0], act_fn)
        i = 2
        while i <= len(hidden):
            block_in = x
            for _ in range(min(spec.model.block_size, len(hidden) - i + 1)):
                x = _hidden_layer(x, spec, i, hidden[i - 1], act_fn)
                i += 1
            x = keras.layers.Add(name=f"skip_{i - 1}")([block_in, x])
    else:
        for i, width in enumerate(hidden, start=1):
            x = _hidden_layer(x, spec, i, width, act_fn)
    units, out_act = output_units(n_classes)
    # The output layer keeps Keras' default (Glorot) initializer, as in the notebook:
    # Exercise 6 sets kernel_initializer on the hidden layers only.
    out_init = keras.initializers.GlorotUniform(seed=layer_seed(spec.seed, 0))
    outputs = keras.layers.Dense(units, activation=out_act, kernel_initializer=out_init, name="output")(x)
    # Grid variant names ("learning_rate=0.03,depth3") are not valid TF scope names.
    return keras.Model(inputs, outputs, name=re.sub(r"[^A-Za-z0-9_.-]+", "_", f"{spec.name}_{spec.variant}"))


def count_params(spec: RunSpec, input_dim: int, n_classes: int) -> int:
    """Trainable + non-trainable parameters, computed without building the model."""
    sizes = (input_dim,) + tuple(spec.model.hidden)
    total = sum(a * b + b for a, b in zip(sizes[:-1], sizes[1:]))
    total += sizes[-1] * output_units(n_classes)[0] + output_units(n_classes)[0]
    if spec.normalization.kind == "batchnorm":
        total += 4 * sum(spec.model.hidden)  # gamma, beta, moving mean, moving variance
    return total


# ---------------------------------------------------------------- the same network without Keras layers
# The stacked trainer needs each member's initial weights and layer positions, not a Keras
# model, and calling the same seeded initializers is far cheaper than building a model per member.
# tests/test_models.py checks both against build().


def layer_names(spec: RunSpec) -> list[str]:
    """The names of ``build(spec).layers``, in order."""
    norm, drop = spec.normalization, spec.model.dropout > 0

    def hidden_layer(i: int) -> list[str]:
        pre = norm.kind == "batchnorm" and norm.placement == "pre_activation"
        post = norm.kind == "batchnorm" and norm.placement == "post_activation"
        return ([f"dense_{i}"] + ([f"bn_{i}"] if pre else []) + [f"act_{i}"] + ([f"bn_{i}"] if post else [])
                + ([f"drop_{i}"] if drop else []))

    names = ["inputs"]
    hidden = spec.model.hidden
    if spec.model.kind == "residual":
        names += hidden_layer(1)
        i = 2
        while i <= len(hidden):
            for _ in range(min(spec.model.block_size, len(hidden) - i + 1)):
                names += hidden_layer(i)
                i += 1
            names.append(f"skip_{i - 1}")
    else:
        for i in range(1, len(hidden) + 1):
            names += hidden_layer(i)
    return names + ["output"]


def batchnorm_initial_weights(width: int) -> list:
    """A fresh BatchNormalization's weights: gamma 1, beta 0, moving mean 0, moving variance 1."""
    return [np.ones(width, "float32"), np.zeros(width, "float32"), np.zeros(width, "float32"), np.ones(width, "float32")]


def initial_weights(spec: RunSpec, input_dim: int, n_classes: int) -> dict[str, list]:
    """``{layer name: get_weights()}`` of a freshly built ``build(spec)``, from the same seeded initializers."""
    out: dict[str, list] = {}
    fan_in = input_dim
    for i, width in enumerate(spec.model.hidden, start=1):
        kernel = kernel_initializer(spec, i)((fan_in, width), dtype="float32")
        out[f"dense_{i}"] = [keras.ops.convert_to_numpy(kernel), np.zeros(width, "float32")]
        if spec.normalization.kind == "batchnorm":
            out[f"bn_{i}"] = batchnorm_initial_weights(width)
        fan_in = width
    units = output_units(n_classes)[0]
    kernel = keras.initializers.GlorotUniform(seed=layer_seed(spec.seed, 0))((fan_in, units), dtype="float32")
    out["output"] = [keras.ops.convert_to_numpy(kernel), np.zeros(units, "float32")]
    return out
