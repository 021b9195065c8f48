"""The notebook's exercises as data: notebook/exercises/NAME.yaml (presets, analysis, claims). No TensorFlow.

They live beside this module, not in conf/: they are not a Hydra config group of a run.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from importlib import resources
from pathlib import Path

from dlexp.artifacts import read_yaml
from dlexp.errors import ConfigError


@dataclass(frozen=True)
class Exercise:
    name: str
    order: int
    title: str
    notebook: str
    presets: tuple[str, ...]
    analysis: str | None
    claims: tuple[dict, ...] = field(default_factory=tuple)
    # False when neither the report's figures nor the claims read layer_stats.csv: reproduce
    # then trains with trainer.diagnostics=false (a forward + backward pass per epoch saved).
    layer_stats: bool = True
    # How often they need them: reproduce sets trainer.diagnostics_every to it (0: only at epoch 0
    # and the last epoch; N: also every N-th epoch).
    layer_stats_every: int = 1


def exercises_dir() -> Path:
    return Path(str(resources.files("dlexp.notebook") / "exercises"))


def load(name: str) -> Exercise:
    path = exercises_dir() / f"{name}.yaml"
    if not path.exists():
        raise ConfigError("exercise", name, "one of: " + ", ".join(names()))
    d = read_yaml(path) or {}
    return Exercise(name=name, order=int(d.get("order", 99)), title=d.get("title", name),
                    notebook=d.get("notebook", ""), presets=tuple(d.get("presets") or ()),
                    analysis=d.get("analysis"), claims=tuple(d.get("claims") or ()),
                    layer_stats=_checked(name, "layer_stats", d.get("layer_stats", True), bool, "true or false"),
                    layer_stats_every=_checked(name, "layer_stats_every", d.get("layer_stats_every", 1), int,
                                               "an integer >= 0", lambda v: v >= 0))


def _checked(name: str, key: str, value, kind: type, allowed: str, ok=lambda v: True):
    if isinstance(value, kind) and (kind is bool or not isinstance(value, bool)) and ok(value):
        return value
    raise ConfigError(f"exercises/{name}.yaml: {key}", value, allowed)


def names() -> list[str]:
    """Exercise names in the notebook's order."""
    found = []
    for path in exercises_dir().glob("*.yaml"):
        found.append((int((read_yaml(path) or {}).get("order", 99)), path.stem))
    return [n for _, n in sorted(found)]


def all_exercises() -> list[Exercise]:
    return [load(n) for n in names()]


def list_exercises() -> list[tuple[str, str]]:
    """(name, title) of every exercise in the notebook's order, analysis-only ones included."""
    out = []
    for ex in all_exercises():
        kind = "" if ex.presets else " (analysis, no training)"
        out.append((ex.name, f"{ex.title}{kind}"))
    return out
