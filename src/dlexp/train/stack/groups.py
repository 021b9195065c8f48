"""Which runs can train together as one stack: pure Python, no TensorFlow.

The runner plans its stacks with ``stack_groups`` (``run/runner.py``), and the preflight's
budget (``run/budget.py``) groups runs the same way, before TensorFlow is imported, to size them.
"""

from __future__ import annotations

import functools
from dataclasses import asdict, fields, is_dataclass
from typing import Optional, Sequence

from dlexp.config.names import is_import_path
from dlexp.config.schema import RunSpec


def stack_key(spec: RunSpec) -> Optional[tuple]:
    """Specs with equal keys can train in one stack; None means "use training.fit_one".

    Members may differ in: trainer seed, epochs, early stopping, initializer,
    dropout rate, clipping (kind and value), learning rate and (built-in)
    activation. Names and the trainer's progress/threads/checkpoint/probes
    settings do not affect training and are ignored too. Normalization is not
    in the key: ``stack_groups`` lets members without BatchNormalization join
    members with one BN configuration.
    """
    if is_import_path(spec.activation.name):
        return None  # a user function may not be elementwise over the (M, B, units) layout
    # Field by field rather than through asdict, which deep-copies: a reproduction groups 100,000 specs.
    parts = []
    for name in _kept_names(type(spec), _FREE_SECTIONS):
        value = getattr(spec, name)
        if name == "dataset":  # which generator too, not only its fields
            parts.append((name, repr(value)))
        else:
            parts.append((name, _values(value, _FREE_FIELDS.get(name, frozenset())) if is_dataclass(value) else _plain(value)))
    return ("stack", tuple(parts))


def norm_key(spec: RunSpec) -> Optional[tuple]:
    """The BatchNormalization configuration (None without BN): one per stack."""
    norm = spec.normalization
    return None if norm.kind == "none" else _values(norm)


@functools.lru_cache(maxsize=None)
def _kept_names(cls: type, skip: frozenset) -> tuple[str, ...]:
    return tuple(f.name for f in fields(cls) if f.name not in skip)


def _values(obj, skip: frozenset = frozenset()) -> tuple:
    """A hashable tuple of a config section's (field, value) pairs, but those in ``skip``."""
    return tuple((name, _plain(getattr(obj, name))) for name in _kept_names(type(obj), skip))


_SCALARS = (int, float, str, bool, type(None))


def _plain(value):
    if type(value) in _SCALARS:
        return value
    return _frozen(asdict(value) if is_dataclass(value) else value)


def stack_groups(specs: list[RunSpec]) -> list[list[int]]:
    """Indices of ``specs`` grouped into stacks, in first-seen order; unstackable specs stand alone.

    Within one ``stack_key``, members with BN split by BN configuration and the
    members without BN join the first BN group (their BN is masked out).
    """
    by_key: dict = {}
    for i, spec in enumerate(specs):
        key = stack_key(spec)
        by_key.setdefault(("solo", i) if key is None else key, []).append(i)
    groups: list[list[int]] = []
    for members in by_key.values():
        by_norm: dict = {}
        for i in members:
            by_norm.setdefault(norm_key(specs[i]), []).append(i)
        plain = by_norm.pop(None, [])
        split = list(by_norm.values())
        if split:
            split[0] = sorted(split[0] + plain)
        elif plain:
            split = [plain]
        groups += split
    return sorted(groups, key=lambda g: g[0])


# Sections whose values may differ between members (names are not part of the training).
_FREE_SECTIONS = frozenset({"name", "variant", "activation", "initializer", "clipping", "normalization"})
# Per-member values (everything else must be equal); progress, threads, checkpoint, probes and tsne
# do not change how a network trains (a stack does not checkpoint mid-run).
_FREE_FIELDS = {"trainer": frozenset({"seed", "epochs", "early_stopping", "progress", "threads", "checkpoint", "probes", "tsne"}),
                "model": frozenset({"dropout"}), "optimizer": frozenset({"learning_rate"})}


def _frozen(value):
    """A hashable copy of nested dicts/lists."""
    if isinstance(value, dict):
        return tuple(sorted((k, _frozen(v)) for k, v in value.items()))
    if isinstance(value, (list, tuple)):
        return tuple(_frozen(v) for v in value)
    return value


def plan_groups(specs: Sequence[RunSpec]) -> list[list[int]]:
    """Indices of ``specs`` as the runner trains them (``runner.plan``): backend=keras runs alone,
    first, then the others' ``stack_groups``."""
    keras_only = [i for i, s in enumerate(specs) if s.trainer.backend == "keras"]
    stackable = [i for i, s in enumerate(specs) if s.trainer.backend != "keras"]
    return [[i] for i in keras_only] + [[stackable[k] for k in g] for g in stack_groups([specs[i] for i in stackable])]


def trains_with_keras(specs: Sequence[RunSpec]) -> bool:
    """Whether the runner trains this planned group through Keras' ``model.fit`` (``runner.uses_keras_fit``):
    a group of one that is asked to (backend=keras), cannot stack (a user activation), or keeps
    per-epoch backups (only the Keras path resumes mid-run). Otherwise the stack engine trains it."""
    if len(specs) != 1:
        return False
    spec = specs[0]
    if stack_key(spec) is None:
        return True
    if spec.trainer.backend == "stack":
        return False
    return spec.trainer.backend == "keras" or spec.trainer.checkpoint
