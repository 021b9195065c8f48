"""NumPy activation functions and their derivatives, for analysis without TensorFlow.

Every function takes a Python number, a list or an array and returns the same
shape: a NumPy float (a ``float`` subclass) for scalar input, an array
otherwise. The notebook's ``relu_derivative`` called ``.astype`` on a Python
bool and crashed on scalars; going through ``np.asarray`` here avoids that.

Formulas follow the notebook (Exercises 2 and 3): leaky ReLU with alpha=0.01,
ELU with alpha=1, SELU with the self-normalizing constants, swish(beta=1),
GELU in its tanh approximation, mish = x * tanh(softplus(x)). Note that
``dlexp.nn.activations`` (the Keras side) uses Keras' exact GELU, which differs
from the tanh approximation by less than 1e-3.

Example:
    >>> fn, d = REGISTRY["relu"]
    >>> float(d(0.5)), float(fn(-1.0))
    (1.0, 0.0)
"""

from __future__ import annotations

from typing import Callable, NamedTuple, Sequence

import numpy as np
import pandas as pd

from dlexp.errors import ConfigError

SELU_ALPHA = 1.6732632423543772
SELU_SCALE = 1.0507009873554805
_GELU_C = np.sqrt(2.0 / np.pi)
_GELU_K = 0.044715

# The notebook's grid for derivative maxima (Exercise 2) and for plots.
DERIVATIVE_GRID = np.linspace(-5.0, 5.0, 1000)


def _in(x) -> np.ndarray:
    return np.asarray(x, dtype=float)


def _out(y: np.ndarray):
    # 0-d arrays become NumPy scalars so scalar in -> scalar out.
    return y[()] if np.ndim(y) == 0 else y


# -- classic ---------------------------------------------------------------

def sigmoid(x):
    """1 / (1 + e^-x), written via tanh so large |x| does not overflow exp."""
    return _out(0.5 * (1.0 + np.tanh(0.5 * _in(x))))


def sigmoid_derivative(x):
    s = sigmoid(_in(x))
    return _out(s * (1.0 - s))


def tanh(x):
    return _out(np.tanh(_in(x)))


def tanh_derivative(x):
    return _out(1.0 - np.tanh(_in(x)) ** 2)


def relu(x):
    return _out(np.maximum(0.0, _in(x)))


def relu_derivative(x):
    """1 for x > 0, else 0 (0 at the kink, as in the notebook)."""
    return _out((_in(x) > 0).astype(float))


def leaky_relu(x, alpha: float = 0.01):
    x = _in(x)
    return _out(np.where(x > 0, x, alpha * x))


def leaky_relu_derivative(x, alpha: float = 0.01):
    return _out(np.where(_in(x) > 0, 1.0, alpha))


def softplus(x):
    return _out(np.logaddexp(0.0, _in(x)))


def softplus_derivative(x):
    return sigmoid(x)


def linear(x):
    return _out(_in(x).copy())


def linear_derivative(x):
    return _out(np.ones_like(_in(x)))


# -- modern (Exercise 3) -----------------------------------------------------

def elu(x, alpha: float = 1.0):
    x = _in(x)
    # expm1 on min(x, 0): exact near 0 and no overflow warning for large x.
    return _out(np.where(x > 0, x, alpha * np.expm1(np.minimum(x, 0.0))))


def elu_derivative(x, alpha: float = 1.0):
    x = _in(x)
    return _out(np.where(x > 0, 1.0, alpha * np.exp(np.minimum(x, 0.0))))


def selu(x):
    return _out(SELU_SCALE * elu(x, alpha=SELU_ALPHA))


def selu_derivative(x):
    return _out(SELU_SCALE * elu_derivative(x, alpha=SELU_ALPHA))


def swish(x, beta: float = 1.0):
    x = _in(x)
    return _out(x * sigmoid(beta * x))


def swish_derivative(x, beta: float = 1.0):
    x = _in(x)
    s = sigmoid(beta * x)
    return _out(s + beta * x * s * (1.0 - s))


def gelu(x):
    """GELU, tanh approximation: 0.5 x (1 + tanh(sqrt(2/pi) (x + 0.044715 x^3)))."""
    x = _in(x)
    return _out(0.5 * x * (1.0 + np.tanh(_GELU_C * (x + _GELU_K * x**3))))


def gelu_derivative(x):
    x = _in(x)
    t = np.tanh(_GELU_C * (x + _GELU_K * x**3))
    return _out(0.5 * (1.0 + t) + 0.5 * x * (1.0 - t**2) * _GELU_C * (1.0 + 3.0 * _GELU_K * x**2))


def mish(x):
    x = _in(x)
    return _out(x * np.tanh(softplus(x)))


def mish_derivative(x):
    x = _in(x)
    t = np.tanh(softplus(x))
    # d softplus / dx = sigmoid(x)
    return _out(t + x * (1.0 - t**2) * sigmoid(x))


def xtanh_sqrt(x):
    """x * tanh(sqrt(|x|)): the notebook's x * tanh(sqrt(x)) made odd (the literal form is NaN for x < 0)."""
    x = _in(x)
    return _out(x * np.tanh(np.sqrt(np.abs(x))))


def xtanh_sqrt_derivative(x):
    # With r = sqrt(|x|) the chain rule gives tanh(r) + (r/2)(1 - tanh(r)^2) on both
    # sides of 0 (x / |x| and d|x|/dx cancel), so no 1/sqrt(x) singularity at 0.
    r = np.sqrt(np.abs(_in(x)))
    t = np.tanh(r)
    return _out(t + 0.5 * r * (1.0 - t**2))


# -- registry ----------------------------------------------------------------

class Activation(NamedTuple):
    """An activation and its derivative; unpacks as ``fn, derivative = REGISTRY[name]``."""

    fn: Callable
    derivative: Callable


REGISTRY: dict[str, Activation] = {
    "sigmoid": Activation(sigmoid, sigmoid_derivative),
    "tanh": Activation(tanh, tanh_derivative),
    "relu": Activation(relu, relu_derivative),
    "leaky_relu": Activation(leaky_relu, leaky_relu_derivative),
    "elu": Activation(elu, elu_derivative),
    "selu": Activation(selu, selu_derivative),
    "swish": Activation(swish, swish_derivative),
    "gelu": Activation(gelu, gelu_derivative),
    "mish": Activation(mish, mish_derivative),
    "softplus": Activation(softplus, softplus_derivative),
    "linear": Activation(linear, linear_derivative),
    "xtanh_sqrt": Activation(xtanh_sqrt, xtanh_sqrt_derivative),
}

LABELS: dict[str, str] = {
    "sigmoid": "Sigmoid", "tanh": "Tanh", "relu": "ReLU", "leaky_relu": "Leaky ReLU",
    "elu": "ELU", "selu": "SELU", "swish": "Swish", "gelu": "GELU", "mish": "Mish",
    "softplus": "Softplus", "linear": "Linear", "xtanh_sqrt": "x·tanh(√|x|)",
}

# Exercise 3's printed table, in the notebook's order.
EXERCISE3_NAMES: tuple[str, ...] = ("relu", "leaky_relu", "elu", "selu", "swish", "gelu", "mish")


def get(name: str) -> Activation:
    """The (fn, derivative) pair for a name; a clear error for an unknown one."""
    try:
        return REGISTRY[name]
    except KeyError:
        raise ConfigError("activation", name, "one of: " + ", ".join(REGISTRY)) from None


def label(name: str) -> str:
    """Display name, e.g. 'leaky_relu' -> 'Leaky ReLU'."""
    return LABELS.get(name, name)


# -- tables ------------------------------------------------------------------

def derivative_extremes(names: Sequence[str] = ("sigmoid", "tanh", "relu", "leaky_relu"),
                        x: np.ndarray = DERIVATIVE_GRID) -> pd.DataFrame:
    """Max and min of each derivative on a grid (the notebook's x = linspace(-5, 5, 1000)).

    Example:
        >>> round(float(derivative_extremes(["sigmoid"])["max_derivative"].iloc[0]), 3)
        0.25
    """
    rows = []
    for name in names:
        d = np.asarray(get(name).derivative(x))
        i = int(np.argmax(d))
        rows.append({"activation": name, "max_derivative": float(d[i]), "x_at_max": float(x[i]),
                     "min_derivative": float(d.min())})
    return pd.DataFrame(rows)


def values_at(x: float = -1.0, names: Sequence[str] = EXERCISE3_NAMES) -> pd.DataFrame:
    """Each activation's value and derivative at one point (Exercise 3 prints values at x = -1)."""
    rows = [{"activation": n, "label": label(n), "x": float(x),
             "value": float(get(n).fn(x)), "derivative": float(get(n).derivative(x))} for n in names]
    return pd.DataFrame(rows)
