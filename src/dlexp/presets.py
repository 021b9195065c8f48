"""The packaged experiment presets (conf/exp/*.yaml), read without composing or importing TensorFlow."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from dlexp.artifacts import read_yaml


def exp_dir() -> Path:
    return Path(str(resources.files("dlexp.conf") / "exp"))


def conf_dir() -> Path:
    return Path(str(resources.files("dlexp.conf")))


def read_preset(name: str) -> dict:
    return read_yaml(exp_dir() / f"{name}.yaml") or {}


def list_presets() -> list[tuple[str, str]]:
    """(name, one-line description) for every preset, sorted by name."""
    out = []
    for path in sorted(exp_dir().glob("*.yaml")):
        data = read_yaml(path) or {}
        out.append((path.stem, str(data.get("description", "")).strip()))
    return out


def group_options(group: str) -> list[str]:
    return sorted(p.stem for p in (conf_dir() / group).glob("*.yaml"))
