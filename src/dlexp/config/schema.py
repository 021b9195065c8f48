"""Typed schemas for every config group, and validation that names the field.

The composed Hydra config is a loose DictConfig. ``to_spec`` turns one into a
frozen ``RunSpec`` tree of dataclasses: OmegaConf's structured merge does the
type checks and rejects unknown keys (which also stops ``_target_`` from
smuggling arbitrary callables in), and each dataclass's ``__post_init__``
checks ranges. Every failure becomes one ``ConfigError`` line:
``field: got VALUE; allowed: ...``. The ``dataset`` group's dataclasses live with
their data sets in the data package (``DATASETS``: a module per generator, plus the files).

This module must not import TensorFlow: config errors answer in well under a
second.
"""

from __future__ import annotations

import dataclasses
import functools
import json
import math
import re
import typing
from dataclasses import dataclass, field, fields, replace
from typing import Any, Dict, Optional, Tuple

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dlexp.checks import check, fraction, positive_int
from dlexp.config.names import (ACTIVATIONS, INITIALIZER_DEFAULTS, INITIALIZER_DOMAINS, INITIALIZER_PARAMS,
                                INITIALIZER_REQUIRED, OPTIMIZERS, WITH_ALPHA, WITH_MOMENTUM,
                                is_import_path)
from dlexp.data.datasets import DATASETS
from dlexp.errors import ConfigError

# ---------------------------------------------------------------- model and layers


@dataclass(frozen=True)
class ModelConfig:
    """An MLP (``kind=mlp``) or a residual MLP with identity skips around blocks."""

    kind: str = "mlp"
    hidden: Tuple[int, ...] = (100, 100, 100)
    dropout: float = 0.0
    block_size: int = 2  # residual: hidden layers per skip connection

    def __post_init__(self) -> None:
        object.__setattr__(self, "hidden", tuple(self.hidden))  # OmegaConf hands back a list
        check(self.kind in ("mlp", "residual"), "kind", self.kind, "one of: mlp, residual")
        check(len(self.hidden) >= 1, "hidden", list(self.hidden), "a non-empty list of positive integers, e.g. [100, 100]")
        for width in self.hidden:
            check(isinstance(width, int) and width >= 1, "hidden", list(self.hidden), "a non-empty list of positive integers")
        fraction("dropout", self.dropout, open_low=False)
        positive_int("block_size", self.block_size)
        if self.kind == "residual":
            check(len(set(self.hidden)) == 1, "hidden", list(self.hidden),
                  "equal widths for a residual MLP (identity skips need matching shapes)")


@dataclass(frozen=True)
class ActivationConfig:
    """A registered activation name, or a user function as ``module:function``."""

    name: str = "relu"
    alpha: Optional[float] = None  # leaky_relu slope / elu alpha (names.WITH_ALPHA); None = the default

    def __post_init__(self) -> None:
        allowed = ", ".join(ACTIVATIONS) + ", or an import path 'module:function'"
        check(self.name in ACTIVATIONS or is_import_path(self.name), "name", self.name, allowed)
        hint = f"; activation={self.name} starts from {self.name}'s own settings" if self.name in ACTIVATIONS else ""
        check(self.alpha is None or self.name in WITH_ALPHA, "alpha", self.alpha,
              f"null with {self.name} (alpha applies to: {', '.join(WITH_ALPHA)}{hint})")


@dataclass(frozen=True)
class InitializerConfig:
    """A Keras initializer by name, with its keyword arguments in ``params``."""

    name: str = "glorot_uniform"
    params: Dict[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        check(self.name in INITIALIZER_PARAMS, "name", self.name, "one of: " + ", ".join(INITIALIZER_PARAMS))
        allowed = INITIALIZER_PARAMS[self.name]
        for key in self.params:
            check(key in allowed, f"params.{key}", self.params[key],
                  f"parameters of {self.name}: {', '.join(allowed) or 'none'}")
            _check_initializer_param(key, self.params[key])
        for key in INITIALIZER_REQUIRED.get(self.name, ()):
            check(key in self.params, "params", dict(self.params), f"{self.name} with params.{key} set, "
                                                                  f"e.g. +initializer.params.{key}=0.1")
        if self.name == "random_uniform":
            low, high = (self.params.get(k, INITIALIZER_DEFAULTS[k]) for k in ("minval", "maxval"))
            check(low < high, "params.minval", low, f"a number below params.maxval ({high})")


def _check_initializer_param(key: str, value: Any) -> None:
    """One initializer parameter against its domain (names.INITIALIZER_DOMAINS)."""
    domain = INITIALIZER_DOMAINS[key]
    if isinstance(domain, tuple):
        check(value in domain, f"params.{key}", value, "one of: " + ", ".join(domain))
        return
    number = isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)
    positive = domain == "positive"
    check(number and (not positive or value > 0), f"params.{key}", value, "a finite number" + (" > 0" if positive else ""))


@dataclass(frozen=True)
class NormalizationConfig:
    """Batch normalization after the activation (Exercises 4/5) or before it (Exercise 8)."""

    kind: str = "none"
    placement: str = "post_activation"
    momentum: float = 0.99
    epsilon: float = 0.001

    def __post_init__(self) -> None:
        check(self.kind in ("none", "batchnorm"), "kind", self.kind, "one of: none, batchnorm")
        check(self.placement in ("post_activation", "pre_activation"), "placement", self.placement,
              "one of: post_activation, pre_activation")
        fraction("momentum", self.momentum)
        check(self.epsilon > 0, "epsilon", self.epsilon, "a number > 0")


@dataclass(frozen=True)
class ClippingConfig:
    """Gradient clipping as Keras optimizer arguments (clipvalue / clipnorm / global_clipnorm)."""

    kind: str = "none"
    value: float = 1.0

    def __post_init__(self) -> None:
        check(self.kind in ("none", "value", "norm", "global_norm"), "kind", self.kind,
              "one of: none, value, norm, global_norm")
        check(self.value > 0, "value", self.value, "a number > 0")


@dataclass(frozen=True)
class OptimizerConfig:
    name: str = "adam"
    learning_rate: float = 0.001
    momentum: float = 0.0  # sgd and rmsprop (names.WITH_MOMENTUM)

    def __post_init__(self) -> None:
        check(self.name in OPTIMIZERS, "name", self.name, "one of: " + ", ".join(OPTIMIZERS))
        check(0 < self.learning_rate <= 10, "learning_rate", self.learning_rate, "a number in (0, 10]")
        check(0 <= self.momentum < 1, "momentum", self.momentum, "a number in [0, 1)")
        check(self.momentum == 0 or self.name in WITH_MOMENTUM, "momentum", self.momentum,
              f"0 with {self.name} (momentum applies to: {', '.join(WITH_MOMENTUM)}; "
              f"optimizer={self.name} starts from {self.name}'s own settings)")


@dataclass(frozen=True)
class EarlyStoppingConfig:
    enabled: bool = False
    monitor: str = "val_loss"
    patience: int = 10
    restore_best: bool = True

    def __post_init__(self) -> None:
        check(self.monitor in ("val_loss", "val_accuracy", "loss", "accuracy"), "monitor", self.monitor,
              "one of: val_loss, val_accuracy, loss, accuracy")
        check(self.patience >= 0, "patience", self.patience, "an integer >= 0")


MAX_THREADS = 1024  # TF makes a pool of this many threads per process; more is a typo, not a machine


@dataclass(frozen=True)
class TrainerConfig:
    epochs: int = 50
    batch_size: int = 32
    validation_split: float = 0.2
    test_size: float = 0.2
    split_seed: int = 42
    stratify: bool = True
    seed: int = 42
    shuffle: bool = True
    # False: one shuffled order repeated every epoch, as the notebook's fit(shuffle=True) after
    # tf.random.set_seed does in Keras 3.15; True (dlexp's default): a new order each epoch.
    reshuffle: bool = True
    early_stopping: EarlyStoppingConfig = field(default_factory=EarlyStoppingConfig)
    diagnostics: bool = True  # per-epoch dead units, activation stats, gradient norms
    diagnostics_every: int = 1  # ... after every N-th epoch and the last one trained (0: that one only); diagnostics_due
    # The gradient norms (a backward pass over the gradient rows) only at some of those epochs:
    # before training, after every N-th and the last one trained (0: before and last); None: at
    # every measured epoch. gradients_due
    grad_norm_every: Optional[int] = None
    probes: bool = False  # after training: linear probe + t-SNE of each layer's output (Exercise 5)
    tsne: bool = True  # with probes: also embed each layer with t-SNE and draw plots/tsne.png
    plots: bool = True  # per-run PNGs (learning curves, dead units, gradient norms, decision boundary)
    checkpoint: bool = True  # save weights + optimizer every epoch so an interrupted run can resume
    backend: str = "auto"  # auto: stack compatible runs into one vectorized fit; keras: one model.fit each
    progress: str = "auto"  # auto | rich | plain | none
    threads: Optional[int] = None  # TF intra-op threads; None = cores / parallel jobs

    def __post_init__(self) -> None:
        positive_int("epochs", self.epochs)
        positive_int("batch_size", self.batch_size)
        check(self.diagnostics_every >= 0, "diagnostics_every", self.diagnostics_every,
              "an integer >= 0 (0: only before training and after the last epoch)")
        check(self.grad_norm_every is None or (type(self.grad_norm_every) is int and self.grad_norm_every >= 0),
              "grad_norm_every", self.grad_norm_every,
              "null (at every measured epoch) or an integer >= 0 (0: only before training and after the last epoch)")
        fraction("validation_split", self.validation_split)
        fraction("test_size", self.test_size)
        check(self.progress in ("auto", "rich", "plain", "none"), "progress", self.progress,
              "one of: auto, rich, plain, none")
        check(self.backend in ("auto", "keras", "stack"), "backend", self.backend, "one of: auto, keras, stack")
        if self.threads is not None:
            check(1 <= self.threads <= MAX_THREADS, "threads", self.threads, f"null or an integer from 1 to {MAX_THREADS}")


def diagnostics_due(every: int, epoch: int, epochs: int, stopping: bool = False) -> bool:
    """Whether the layer diagnostics measure after ``epoch`` (1-based) of a run of ``epochs``:
    after every ``every``-th epoch (0: none) and the last one trained (the budget's, or the one
    after which the run ``stopping``: early stopping, divergence). Epoch 0 (before training) always."""
    return epoch == 0 or epoch == epochs or stopping or (every > 0 and epoch % every == 0)


def gradients_due(every: int, grad_every: Optional[int], epoch: int, epochs: int, stopping: bool = False) -> bool:
    """Whether the layer diagnostics after ``epoch`` also take the gradient norms (else only the
    forward pass's columns; grad_norm is then NaN): at the epochs they measure (``every``), those
    ``grad_every`` selects, read as ``diagnostics_due`` reads ``every`` (None: all of them)."""
    return (diagnostics_due(every, epoch, epochs, stopping)
            and (grad_every is None or diagnostics_due(grad_every, epoch, epochs, stopping)))


@dataclass(frozen=True)
class LoggerConfig:
    """Where runs are tracked besides their folder: TensorBoard event files, MLflow."""

    tensorboard: bool = True  # event files in <run>/tensorboard (scalars per epoch)
    histograms: bool = True  # + weight and activation histograms per layer (solo Keras path)
    mlflow: bool = False  # params, per-epoch metrics, plots and CSVs as artifacts
    mlflow_uri: Optional[str] = None  # None = sqlite:///<output_root>/mlflow.db
    mlflow_experiment: Optional[str] = None  # None = the config's name


# ---------------------------------------------------------------- the run


@dataclass(frozen=True)
class RunSpec:
    """Everything one training run needs; plain values only (no DictConfig)."""

    name: str
    variant: str
    dataset: Any
    model: ModelConfig
    activation: ActivationConfig
    initializer: InitializerConfig
    normalization: NormalizationConfig
    clipping: ClippingConfig
    optimizer: OptimizerConfig
    trainer: TrainerConfig
    logger: LoggerConfig = field(default_factory=LoggerConfig)
    output_root: str = "outputs"

    @property
    def seed(self) -> int:
        return self.trainer.seed

    def with_seed(self, seed: int) -> "RunSpec":
        return replace(self, trainer=replace(self.trainer, seed=seed))


GROUP_SCHEMAS: dict[str, type] = {
    "model": ModelConfig,
    "activation": ActivationConfig,
    "initializer": InitializerConfig,
    "normalization": NormalizationConfig,
    "clipping": ClippingConfig,
    "optimizer": OptimizerConfig,
    "trainer": TrainerConfig,
    "logger": LoggerConfig,
}


def _build(schema: type, node: Any, prefix: str) -> Any:
    """Merge ``node`` onto ``schema`` (types, unknown keys) and instantiate (ranges)."""
    if node is None:
        node = {}
    if not isinstance(node, (dict, DictConfig)):
        raise ConfigError(prefix, node, f"a mapping of {schema.__name__} fields")
    if isinstance(node, dict):
        try:
            key = json.dumps(node, sort_keys=True)
        except (TypeError, ValueError):
            key = None
        if key is not None:
            return _build_cached(schema, key, prefix)
    return _build_node(schema, node, prefix)


@functools.lru_cache(maxsize=1024)
def _build_cached(schema: type, node_json: str, prefix: str) -> Any:
    # An OmegaConf structured merge is slow and a reproduction validates the same group contents
    # hundreds of times (every variant x seed); the results are frozen dataclasses, so sharing them is safe.
    return _build_node(schema, json.loads(node_json), prefix)


def _build_node(schema: type, node: Any, prefix: str) -> Any:
    try:
        _check_bools(schema, node)
        base = _writable(OmegaConf.structured(schema))
        merged = OmegaConf.merge(base, node)
        built = OmegaConf.to_object(merged)
        _check_numbers(built)
        return built
    except ConfigError as err:
        raise ConfigError(_qualified(schema, err.field), err.value, err.allowed, err.kind).under(prefix) from None
    except OmegaConfBaseException as err:
        raise _from_omegaconf(err, schema, prefix) from None


def _check_bools(schema: type, node: Any, prefix: str = "") -> None:
    """A number where a switch belongs (``trainer.shuffle=2``) is refused: OmegaConf would read any
    non-zero number as true."""
    try:
        hints = typing.get_type_hints(schema)
    except Exception:  # noqa: BLE001 - unresolvable hints: OmegaConf's own checks remain
        return
    for f in fields(schema):
        if not isinstance(node, (dict, DictConfig)) or f.name not in node:
            continue
        value, hint = node[f.name], hints.get(f.name)
        if hint in (bool, Optional[bool]):
            if isinstance(value, (int, float)) and not isinstance(value, bool) and value not in (0, 1):
                raise ConfigError(f"{prefix}{f.name}", value, "true or false")
        elif dataclasses.is_dataclass(hint):
            _check_bools(hint, value, f"{prefix}{f.name}.")


MAX_SEED = 2**32 - 1  # numpy's and TF's seeds are unsigned 32-bit


def _check_numbers(obj: Any, prefix: str = "") -> None:
    """One rule for every field of every group: floats are finite, seeds fit numpy's range."""
    for f in fields(obj):
        value, name = getattr(obj, f.name), f"{prefix}{f.name}"
        if hasattr(value, "__dataclass_fields__"):
            _check_numbers(value, name + ".")
        elif isinstance(value, dict):  # e.g. an initializer's params
            for key, item in value.items():
                if isinstance(item, float):
                    check(math.isfinite(item), f"{name}.{key}", item, "a finite number")
        elif isinstance(value, float):
            check(math.isfinite(value), name, value, "a finite number")
        elif f.name.endswith("seed"):
            check(isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_SEED, name, value,
                  f"an integer from 0 to {MAX_SEED}")


def _qualified(schema: type, name: str) -> str:
    """A field reported by a nested section's own check, with that section's name in front
    ("patience" -> "early_stopping.patience")."""
    if name.split(".")[0] in {f.name for f in fields(schema)}:
        return name
    hints = typing.get_type_hints(schema)
    for f in fields(schema):
        inner = hints.get(f.name)
        if dataclasses.is_dataclass(inner) and name.split(".")[0] in {g.name for g in fields(inner)}:
            return f"{f.name}.{name}"
    return name


def _writable(node: DictConfig) -> DictConfig:
    """Frozen dataclasses give read-only nodes (nested ones too); merging needs them writable."""
    OmegaConf.set_readonly(node, False)
    for key in node:
        child = node._get_node(key)
        if isinstance(child, DictConfig):
            _writable(child)
    return node


def _from_omegaconf(err: OmegaConfBaseException, schema: type, prefix: str) -> ConfigError:
    key = getattr(err, "full_key", None) or ""
    msg = str(getattr(err, "msg", err)).splitlines()[0]
    if "not in" in msg or "Key '" in msg:
        names = ", ".join(f.name for f in fields(schema))
        bad = key.split(".")[-1] if key else msg
        return ConfigError(f"{prefix}.{key}" if key else prefix, bad, f"keys of {prefix}: {names}", kind="unknown key")
    value = getattr(err, "value", None)
    section = re.search(r"is not a subclass of (\w+)\. value: (.*)", msg)
    if section:  # a scalar where a section (a mapping) belongs: trainer.early_stopping=3
        hints = typing.get_type_hints(schema)
        for f in fields(schema):
            inner = hints.get(f.name)
            if getattr(inner, "__name__", None) == section.group(1):
                names = ", ".join(g.name for g in fields(inner))
                return ConfigError(f"{prefix}.{f.name}", section.group(2), f"a mapping of {names}")
    if "could not be converted to" in msg:
        msg = "a value of type " + msg.rsplit("converted to", 1)[1].strip().lower()
    elif "is not a valid bool" in msg:
        msg = "true or false"
    elif "is not a ListConfig, list or tuple" in msg:
        msg = "a list, e.g. [100, 100]"
    return ConfigError(f"{prefix}.{key}" if key else prefix, value, msg)


MAX_NAME = 100  # a folder name, with room for the run's time stamp in the path


def to_spec(cfg: Any, variant: str = "default") -> RunSpec:
    """Validate one composed config (DictConfig or dict) into a RunSpec."""
    if isinstance(cfg, DictConfig):
        cfg = OmegaConf.to_container(cfg, resolve=True)
    dataset = cfg.get("dataset") or {}
    ds_name = dataset.get("name") if isinstance(dataset, dict) else None
    if ds_name not in DATASETS:
        raise ConfigError("dataset.name", ds_name, "one of: " + ", ".join(DATASETS))
    parts = {"dataset": _build(DATASETS[ds_name], dataset, "dataset")}
    for group, schema in GROUP_SCHEMAS.items():
        parts[group] = _build(schema, cfg.get(group), group)
    name = plain_name(cfg.get("name", "default"))
    # The first character is a letter or digit: TF's name scopes (made from it) refuse '-' and '_' there.
    check(isinstance(name, str) and 0 < len(name) <= MAX_NAME and name.isascii() and name[0].isalnum()
          and name.replace("_", "").replace("-", "").isalnum(), "name", name,
          f"1 to {MAX_NAME} ASCII letters, digits, '-' and '_', starting with a letter or digit")
    root = cfg.get("output_root", "outputs")
    check(isinstance(root, str) and root.strip() != "", "output_root", root, "a folder path, e.g. outputs")
    description = cfg.get("description")
    check(description is None or isinstance(description, (str, int, float)) and not isinstance(description, bool),
          "description", description, "one line of text")
    spec = RunSpec(name=name, variant=variant, output_root=root, **parts)
    check_consistency(spec)
    return spec


def plain_name(name: Any) -> Any:
    """``name=2024``: Hydra reads digits as a number; the run's name (and folder) is the text."""
    return str(name) if isinstance(name, int) and not isinstance(name, bool) else name


def check_consistency(spec: RunSpec) -> None:
    """Settings that are fine alone but contradict each other."""
    t = spec.trainer
    es = t.early_stopping
    if es.enabled and es.monitor.startswith("val_") and t.validation_split <= 0:
        raise ConfigError("trainer.early_stopping.monitor", es.monitor, "loss or accuracy when there is no validation split")
