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
    # Of those epochs, the ones whose gradient norms they read: reproduce sets
    # trainer.grad_norm_every to it, and the other measured epochs skip the backward pass
    # (None: all of them).
    grad_norm_every: int | None = None
    # Variations of the setup the claims are also judged under (name -> Variation); see Variation.
    variations: dict = field(default_factory=dict)

    def variation_presets(self) -> dict[str, dict[str, list[str]]]:
        """variation -> preset -> the variants its claims compare, to rerun under it (in claim order):
        only those, so a variation of a 40-variant preset trains the two its claim needs."""
        out: dict[str, dict[str, list[str]]] = {}
        for claim in self.claims:
            if "preset" not in claim:
                continue
            b = claim.get("b")
            needed = [claim["a"], *([] if b is None else [b] if isinstance(b, str) else b)]
            for name in claim.get("variations") or ():
                variants = out.setdefault(name, {}).setdefault(claim["preset"], [])
                variants += [v for v in needed if v not in variants]
        return out


@dataclass(frozen=True)
class Variation:
    """A change of the notebook's setup (config overrides) under which claims are judged again:
    to find what a verdict depends on (early stopping off), or to judge a claim where it can be
    decided when the notebook's setting cannot (a spiral with less noise)."""

    name: str
    what: str  # for the report: "early stopping off"
    set: tuple[tuple[str, object], ...]  # (dotted key, value) overrides

    @property
    def overrides(self) -> list[str]:
        import json

        return [f"{key}={json.dumps(value) if isinstance(value, (list, dict)) else value}" for key, value in self.set]


def variation_folder(preset: str, variation: str) -> str:
    """The folder (and run name) of a preset rerun under a variation."""
    return f"{preset}__{variation}"


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
                                               "an integer >= 0", lambda v: v >= 0),
                    grad_norm_every=_checked(name, "grad_norm_every", d.get("grad_norm_every"), (int, type(None)),
                                             "null or an integer >= 0", lambda v: v is None or v >= 0),
                    variations=_variations(name, d))


def _variations(name: str, d: dict) -> dict:
    found = {}
    for key, spec in (d.get("variations") or {}).items():
        _checked(name, f"variations.{key}", spec, dict, "a mapping with 'what' and 'set'",
                 lambda v: isinstance(v.get("what"), str) and isinstance(v.get("set"), dict) and v["set"])
        found[key] = Variation(key, spec["what"], tuple(spec["set"].items()))
    for claim in d.get("claims") or ():
        for key in claim.get("variations") or ():
            if key not in found:
                raise ConfigError(f"exercises/{name}.yaml: claims.{claim.get('id')}.variations", key,
                                  "one of the exercise's variations: " + (", ".join(found) or "(none defined)"))
    return found


def _checked(name: str, key: str, value, kind: "type | tuple[type, ...]", allowed: str, ok=lambda v: True):
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
