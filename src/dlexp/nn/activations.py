"""Activation name -> function, one registry for built-ins and user functions.

A built-in activation is one entry of ``_BUILDERS`` plus ``conf/activation/NAME.yaml`` (whose
names the config accepts without importing TensorFlow, ``names.ACTIVATIONS``). A user-defined activation is named by its import path,
``package.module:function``, and is loaded from exactly that path.
"""

from __future__ import annotations

import importlib
import inspect
from typing import Callable, Optional

import keras
from keras import ops

from dlexp.errors import ConfigError
from dlexp.config.names import ACTIVATIONS, is_import_path


def xtanh_sqrt(x):
    """x * tanh(sqrt(|x|)): the notebook's suggested x * tanh(sqrt(x)), made odd.

    The literal formula is NaN for x < 0 (square root of a negative number), so
    any unit with a negative pre-activation would poison the loss. Using |x|
    under the root keeps the function smooth, odd and non-saturating for
    x < 0 (it behaves like -|x| there, not like a dead ReLU). The tiny epsilon
    keeps the derivative of sqrt finite at 0.
    """
    return x * ops.tanh(ops.sqrt(ops.abs(x) + 1e-12))


def _leaky_relu(alpha: Optional[float]) -> Callable:
    slope = 0.01 if alpha is None else alpha  # the notebook's f(x) = max(0.01x, x)
    return lambda x: keras.activations.leaky_relu(x, negative_slope=slope)


def _elu(alpha: Optional[float]) -> Callable:
    a = 1.0 if alpha is None else alpha
    return lambda x: keras.activations.elu(x, alpha=a)


_BUILDERS: dict[str, Callable[[Optional[float]], Callable]] = {
    "relu": lambda a: keras.activations.relu,
    "sigmoid": lambda a: keras.activations.sigmoid,
    "tanh": lambda a: keras.activations.tanh,
    "leaky_relu": _leaky_relu,
    "elu": _elu,
    "selu": lambda a: keras.activations.selu,
    "swish": lambda a: keras.activations.silu,
    "gelu": lambda a: keras.activations.gelu,
    "mish": lambda a: keras.activations.mish,
    "softplus": lambda a: keras.activations.softplus,
    "linear": lambda a: keras.activations.linear,
    "xtanh_sqrt": lambda a: xtanh_sqrt,
}
if set(_BUILDERS) != set(ACTIVATIONS):  # a conf/activation/NAME.yaml without a builder here, or the reverse
    raise ImportError(f"activations: conf/activation/ lists {sorted(ACTIVATIONS)}, the builders {sorted(_BUILDERS)}")


def load_user_activation(path: str) -> Callable:
    """Import ``module:function`` and return the function; a clear error if it does not resolve."""
    module_name, _, attr = path.partition(":")
    try:
        module = importlib.import_module(module_name)
    except (Exception, SystemExit) as err:  # a module that calls sys.exit() on import must not end dlexp silently
        raise ConfigError("activation.name", path, f"an importable 'module:function' (import failed: {_said(err)})") from None
    fn = getattr(module, attr, None)
    if not callable(fn):
        raise ConfigError("activation.name", path, f"a callable named '{attr}' in module '{module_name}'")
    return fn


def _said(err: BaseException) -> str:
    """An exception as a short phrase for one line: its type and its message's first line."""
    lines = str(err).strip().splitlines()
    return f"{type(err).__name__}: {lines[0][:120]}" if lines else type(err).__name__


def check_user_activation(path: str) -> None:
    """A user activation must be a plain Python function that maps a small float tensor to a float
    tensor of the same shape; anything else (a class, a builtin, a function that fails) is refused
    with one line before training."""
    fn = load_user_activation(path)
    if not inspect.isfunction(fn):
        raise ConfigError("activation.name", path, "a plain Python function (def or lambda), "
                                                   f"not a {type(fn).__name__}")
    probe = keras.ops.convert_to_tensor([[-2.0, -0.5, 0.0, 0.5, 2.0]], dtype="float32")
    try:
        out = keras.ops.convert_to_tensor(fn(probe))
    except (Exception, SystemExit) as err:  # noqa: BLE001 - any failure of the user's code is the user's answer
        raise ConfigError("activation.name", path, f"a function of a float tensor (it raised {_said(err)})") from None
    if tuple(out.shape) != tuple(probe.shape) or "float" not in str(out.dtype):
        raise ConfigError("activation.name", path, f"a function returning a float tensor of its input's shape "
                                                   f"(got shape {tuple(out.shape)}, dtype {out.dtype})")


def get(name: str, alpha: Optional[float] = None) -> Callable:
    """The activation function for a config name.

    Example:
        >>> get("leaky_relu", alpha=0.1)  # doctest: +SKIP
    """
    if name in _BUILDERS:
        return _BUILDERS[name](alpha)
    if is_import_path(name):
        return load_user_activation(name)
    raise ConfigError("activation.name", name, "one of: " + ", ".join(ACTIVATIONS) + ", or 'module:function'")
