"""Which config keys a sweep varied, read from its runs' config.yaml (or, without one, their overrides).

Every config value that differs between runs counts, except the seed (runs that differ only in
seed are repeats) and bookkeeping such as the name. A key that only follows another
(``activation.alpha`` when ``activation`` is swept) is folded into it.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pandas as pd

from dlexp import artifacts

# Config keys that never count as swept: replicates and bookkeeping.
IGNORED_KEYS = ("trainer.seed", "seeds", "name", "variant", "description", "output_root", "trainer.progress",
                "trainer.threads")
IGNORED_PREFIXES = ("variants.", "grid.", "hydra.")


def flatten(cfg: Any, prefix: str = "") -> dict:
    """{"optimizer": {"learning_rate": 0.01}} -> {"optimizer.learning_rate": 0.01}; lists become tuples."""
    out = {}
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = hashable(v)
    return out


def hashable(v: Any) -> Any:
    """A config value that can be a set member or a dict key: lists and dicts become tuples."""
    if isinstance(v, (list, tuple)):
        return tuple(hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), hashable(x)) for k, x in v.items()))
    return v


def _parse_overrides(overrides: list[str]) -> dict:
    """Hydra task overrides ("a.b=1", "+exp=x", "~c") as a flat dict of typed values."""
    import yaml

    out = {}
    for o in overrides or []:
        if "=" not in o or o.startswith("~"):
            continue
        key, value = o.split("=", 1)
        key = key.lstrip("+")
        try:
            out[key] = hashable(yaml.safe_load(value))
        except yaml.YAMLError:
            out[key] = value
    return out


def run_configs(root: Path, frame: pd.DataFrame) -> list[dict]:
    """One flat config per row of ``frame``: the run folder's config.yaml, else its overrides."""
    import yaml

    configs = []
    for _, r in frame.iterrows():
        folder = Path(root) / r["folder"]
        cfg = {}
        try:
            cfg = flatten(yaml.safe_load((folder / artifacts.CONFIG).read_text()) or {})
        except (OSError, yaml.YAMLError):
            pass
        if not cfg:
            cfg = _parse_overrides(str(r.get("overrides") or "").split())
        configs.append(cfg)
    return configs


def _ignored(key: str) -> bool:
    return key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


def varying_keys(configs: list[dict]) -> list[str]:
    """The config keys whose value differs between runs (the swept ones), without seeds, bookkeeping
    and keys that merely follow another swept key (each of whose values fixes theirs).

    Example:
        >>> varying_keys([{"lr": 0.1, "bs": 8, "trainer.seed": 1}, {"lr": 0.2, "bs": 8, "trainer.seed": 2}])
        ['lr']
    """
    if len(configs) < 2:
        return []
    keys = list(dict.fromkeys(k for c in configs for k in c))
    varying = [k for k in keys if not _ignored(k) and len({repr(c.get(k)) for c in configs}) > 1]
    # most distinct values first, so a key like activation.name is kept and activation.alpha folded into it
    ranked = sorted(varying, key=lambda k: -len({repr(c.get(k)) for c in configs}))
    kept: list[str] = []
    for k in ranked:
        if not any(_follows(configs, k, a) for a in kept):
            kept.append(k)
    return [k for k in varying if k in kept]  # back in config order


def _follows(configs: list[dict], key: str, leader: str) -> bool:
    """True when every value of ``leader`` comes with a single value of ``key``."""
    seen: dict[str, str] = {}
    for c in configs:
        a, b = repr(c.get(leader)), repr(c.get(key))
        if seen.setdefault(a, b) != b:
            return False
    return True


def short_key(key: str) -> str:
    """"optimizer.learning_rate" -> "learning_rate"; "activation.name" stays whole (a bare "name" says nothing)."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if parts[-1] in ("name", "kind", "value", "enabled") and len(parts) > 1 else parts[-1]


def value_label(v: Any) -> str:
    """How a swept value is printed: lists of widths as 64-64-64, numbers in short form."""
    if isinstance(v, tuple):
        return "-".join(value_label(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def value_sort_key(v: Any):
    """Sort key for swept values of mixed types: booleans and None, numbers by value, tuples by length, text."""
    if isinstance(v, bool) or v is None:
        return (0, str(v))
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    if isinstance(v, tuple):
        return (2, len(v), str(v))
    return (3, str(v))


def swept_frame(frame: pd.DataFrame, configs: list[dict], keys: list[str]) -> pd.DataFrame:
    """``frame`` plus one column per swept key (the raw value) and its label (``<key> label``)."""
    out = frame.copy()
    for k in keys:
        out[k] = [c.get(k) for c in configs]
    return out
