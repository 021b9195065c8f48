"""An experiment config -> the list of runs it asks for (variants x seeds). Pure, no TensorFlow.

A preset may name ``variants``: deltas merged onto the base config, each one
trained and compared (``shallow_vs_deep`` has two). ``seeds`` repeats every
variant once per seed. With neither, an experiment is exactly one run.
"""

from __future__ import annotations

import itertools
import re
from dataclasses import dataclass
from typing import Any, Optional

from omegaconf import DictConfig, OmegaConf
from omegaconf.errors import OmegaConfBaseException

from dlexp.config.schema import GROUP_SCHEMAS, MAX_SEED, RunSpec, plain_name, to_spec
from dlexp.errors import ConfigError

# Top-level keys that describe the experiment rather than one run.
EXPERIMENT_KEYS = ("variants", "seeds", "grid")
# Top-level keys of one run: the config groups and a few plain settings.
RUN_KEYS = ("dataset", *GROUP_SCHEMAS, "name", "description", "output_root")


@dataclass(frozen=True)
class Job:
    """One training run of an experiment and where its files go, relative to the experiment folder."""

    spec: RunSpec
    subdir: str  # "" when the experiment is a single run

    @property
    def label(self) -> str:
        return f"{self.spec.variant} seed={self.spec.seed}"


def plain_config(cfg: Any) -> dict:
    """A resolved plain dict of the config, without Hydra's own node (which only resolves inside a job)."""
    if isinstance(cfg, DictConfig):
        raw = OmegaConf.to_container(cfg, resolve=False)
        raw.pop("hydra", None)
        try:
            return OmegaConf.to_container(OmegaConf.create(raw), resolve=True)
        except OmegaConfBaseException as err:  # ${bogus}, ${oc.env:UNSET}: the key whose value does not resolve
            key = getattr(err, "full_key", None) or "override"
            value: Any = raw
            for part in key.split("."):
                value = value.get(part) if isinstance(value, dict) else None
            raise ConfigError(key, value, "a value, or an interpolation that resolves "
                                          f"({str(getattr(err, 'msg', err)).splitlines()[0]})") from None
    return {k: v for k, v in dict(cfg).items() if k != "hydra"}


def seeds_of(cfg: dict) -> list[int]:
    seeds = cfg.get("seeds")
    if seeds is None:
        return [int((cfg.get("trainer") or {}).get("seed", 42))]
    if isinstance(seeds, int) or not isinstance(seeds, (list, tuple)) or not seeds:
        raise ConfigError("seeds", seeds, "null or a non-empty list of integers, e.g. [42, 43, 44]")
    if not all(isinstance(s, int) and not isinstance(s, bool) and 0 <= s <= MAX_SEED for s in seeds):
        raise ConfigError("seeds", seeds, f"a list of distinct integers from 0 to {MAX_SEED}")
    if len(set(seeds)) != len(seeds):
        raise ConfigError("seeds", seeds, "a list of distinct integers")
    return list(seeds)


def _nested(dotted: str, value: Any) -> dict:
    """"optimizer.learning_rate", 0.01 -> {"optimizer": {"learning_rate": 0.01}}."""
    out: Any = value
    for part in reversed(dotted.split(".")):
        out = {part: out}
    return out


def grid_variants(grid: Any) -> dict[str, dict]:
    """A cartesian product of values as named variants.

    ``grid`` maps a dotted key to a list of values, or to {label: value} when
    the values are awkward to name (e.g. lists of layer widths). Names look
    like ``learning_rate=0.01,depth3``.
    """
    if not isinstance(grid, dict) or not grid:
        raise ConfigError("grid", grid, "a mapping of dotted key -> list of values (or label -> value)")
    axes = []
    for key, values in grid.items():
        if isinstance(values, dict):
            items = list(values.items())
        elif isinstance(values, list) and values:
            items = [(str(v), v) for v in values]
        else:
            raise ConfigError(f"grid.{key}", values, "a non-empty list of values or a mapping label -> value")
        labelled = isinstance(values, dict)  # given labels name themselves; plain values get their key
        axes.append([(label if labelled else f"{key.split('.')[-1]}={label}", _nested(key, v)) for label, v in items])
    variants = {}
    for combo in itertools.product(*axes):
        name = ",".join(label for label, _ in combo)
        variants[name] = OmegaConf.to_container(OmegaConf.merge(*[d for _, d in combo]))
    return variants


def expand(cfg: Any) -> list[Job]:
    """Validate ``cfg`` and list its runs. Raises ConfigError before anything is trained or written."""
    cfg = plain_config(cfg)
    variants = cfg.get("variants") or {}
    if not isinstance(variants, dict):
        raise ConfigError("variants", variants, "a mapping of variant name -> config changes")
    if cfg.get("grid"):
        if isinstance(cfg["grid"], dict):
            for key, values in cfg["grid"].items():
                if str(key).split(".")[0] not in RUN_KEYS:
                    raise ConfigError(f"grid.{key}", values, "a dotted key of the config, e.g. optimizer.learning_rate",
                                      kind="unknown key, got")
        variants = {**variants, **grid_variants(cfg["grid"])}
    _known_keys(cfg, (*RUN_KEYS, *EXPERIMENT_KEYS), "")
    if "name" in cfg:
        cfg["name"] = plain_name(cfg["name"])  # the preset's folder and summaries use it as to_spec does
    base = {k: v for k, v in cfg.items() if k not in EXPERIMENT_KEYS and k != "hydra"}
    to_spec(base)  # the base config must be valid on its own: errors then name the user's field
    seeds = seeds_of(cfg)  # after to_spec, which has checked the trainer.seed it may read
    named = variants or {"default": {}}
    jobs = []
    for vname, delta in named.items():
        if not isinstance(delta, dict):
            raise ConfigError(f"variants.{vname}", delta, "a mapping of config changes")
        _known_keys(delta, RUN_KEYS, f"variants.{vname}.")
        merged = variant_config(base, delta)
        try:
            spec = to_spec(merged, variant=str(vname))
        except ConfigError as err:
            raise err.under(f"variants.{vname}") from None
        for seed in seeds:
            single = len(named) == 1 and len(seeds) == 1
            subdir = "" if single else f"runs/{folder_name(str(vname))}/seed{seed}"
            jobs.append(Job(spec.with_seed(seed), subdir))
    return jobs


# Groups whose option a variant chooses by ``name``, as ``GROUP=NAME`` does on the command line.
NAMED_GROUPS = ("activation", "optimizer", "initializer", "dataset")


def variant_config(base: dict, delta: dict) -> dict:
    """The config of a variant: ``delta`` merged onto the preset's ``base``. Where it names another
    option of a group (another activation, optimizer, initializer or data set), that group starts
    from the option's own file, as ``GROUP=NAME`` on the command line does, not from the base's
    settings: merged onto a leaky_relu base, an ``elu`` variant would otherwise train with the
    leaky slope as its alpha, and an ``adam`` variant of an SGD base would keep SGD's momentum. An
    option without a file (an activation given as an import path) starts from the schema's defaults."""
    if not delta:
        return base
    from dlexp.config.presets import read_group_option

    start = base
    for group in NAMED_GROUPS:
        mine = delta.get(group)
        if isinstance(mine, dict) and "name" in mine and mine["name"] != _option_name(base, group):
            start = {**start, group: read_group_option(group, str(mine["name"])) or {"name": mine["name"]}}
    return OmegaConf.to_container(OmegaConf.merge(start, delta), resolve=True)


def _option_name(cfg: dict, group: str) -> Any:
    """The option ``cfg`` chooses for ``group``: its ``name``, else the schema's default (None: none)."""
    node = cfg.get(group)
    if isinstance(node, dict) and "name" in node:
        return node["name"]
    return getattr(GROUP_SCHEMAS.get(group), "name", None)


def _known_keys(node: dict, allowed: tuple, prefix: str) -> None:
    """Unknown top-level keys (a typo, ``+bogus=1``, ``_target_``) are refused, not saved and ignored."""
    for key in node:
        if key == "exp" and not prefix:  # +exp=NAME whose file lacks the header that makes its keys top-level
            raise ConfigError("exp", node[key], "a preset whose first line is '# @package _global_' "
                                                "(so its keys are top-level keys: dataset, model, trainer, ...)")
        if key not in allowed:
            raise ConfigError(f"{prefix}{key}", node[key], ", ".join(allowed), kind="unknown key, got")


def folder_name(variant: str) -> str:
    """A variant name made safe for a folder ("learning_rate=0.01,depth=d3" -> "learning_rate-0.01_depth-d3")."""
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", variant.replace("=", "-"))


def variant_names(jobs: list[Job]) -> list[str]:
    return list(dict.fromkeys(j.spec.variant for j in jobs))


def find(jobs: list[Job], variant: str, seed: Optional[int] = None) -> list[Job]:
    return [j for j in jobs if j.spec.variant == variant and (seed is None or j.spec.seed == seed)]
