"""The packaged experiment presets (conf/exp/*.yaml), read without composing or importing TensorFlow."""

from __future__ import annotations

import os
from importlib import resources
from pathlib import Path
from typing import Optional

from dlexp.artifacts import read_yaml


def exp_dir() -> Path:
    return Path(str(resources.files("dlexp.conf") / "exp"))


def conf_dir() -> Path:
    return Path(str(resources.files("dlexp.conf")))


def read_preset(name: str) -> dict:
    return read_yaml(exp_dir() / f"{name}.yaml") or {}


def list_presets(user_dir: Optional[Path] = None) -> list[tuple[str, str]]:
    """(name, one-line description) for every preset, sorted by name.

    With ``user_dir`` (``-cd DIR``), the user's ``DIR/exp/*.yaml`` are listed too, marked
    ``(yours)``; one with a packaged preset's name replaces it, as in ``dlexp train -cd DIR``.
    """
    found: dict[str, tuple[Path, str]] = {p.stem: (p, "") for p in exp_dir().glob("*.yaml")}
    if user_dir is not None:
        found.update({p.stem: (p, " (yours)") for p in (Path(user_dir) / "exp").glob("*.yaml")})
    out = []
    for name in sorted(found):
        path, mark = found[name]
        try:
            data = read_yaml(path) or {}
        except Exception as err:  # noqa: BLE001 - a broken user file is listed, not fatal
            data = {"description": f"(unreadable: {str(err).splitlines()[0]})"}
        description = data.get("description", "") if isinstance(data, dict) else ""
        out.append((name, f"{str(description).strip()}{mark}"))
    return out


def group_options(group: str, root: Optional[Path] = None) -> list[str]:
    """The options of a config group: the files of ``root/GROUP/`` (default: the packaged conf/)."""
    return sorted(p.stem for p in ((root or conf_dir()) / group).glob("*.yaml"))


def read_group_option(group: str, name: str) -> dict:
    """The settings of ``GROUP/NAME.yaml`` as ``GROUP=NAME`` would choose it: from the user's
    ``-cd DIR`` if it has that file (the CLI passes the folder in DLEXP_CONFIG_DIR), else from the
    packaged ``conf/``; {} if neither has that option."""
    from hydra_plugins.dlexp_launcher.user_configs import ENV_VAR

    roots = [Path(os.environ[ENV_VAR])] if os.environ.get(ENV_VAR) else []
    for root in roots + [conf_dir()]:
        if name in group_options(group, root):  # (so a name like '../exp/x' reaches no other folder)
            data = read_yaml(root / group / f"{name}.yaml")
            return dict(data) if isinstance(data, dict) else {}
    return {}
