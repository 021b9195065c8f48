"""An exercise's run folders read into long DataFrames: one row per run, epoch or layer, with
``variant`` and ``seed`` columns, as the charts take them."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from pathlib import Path
from typing import Iterable, Optional

import pandas as pd

from dlexp import artifacts
from dlexp.notebook.metrics import RunRecord, measure
from dlexp.report.compare import run_folders

FINISHED = ("completed", "diverged")
# Classes of the data sets whose config does not say (for the chance line on accuracy axes).
N_CLASSES = {"moons_circles": 4, "unstable": 2, "digits": 10, "mnist": 10}


@dataclass
class Run:
    """One finished run folder, its summary and (lazily) its config and logs."""

    record: RunRecord

    @property
    def folder(self) -> Path:
        return self.record.folder

    @property
    def variant(self) -> str:
        return str(self.record.summary.get("variant"))

    @property
    def seed(self) -> int:
        return int(self.record.summary.get("seed") or 0)

    @cached_property
    def config(self) -> dict:
        import yaml

        path = self.folder / artifacts.CONFIG
        try:
            return artifacts.read_yaml(path) or {}
        except (OSError, ValueError, yaml.YAMLError):
            return {}

    def get(self, dotted: str, default=None):
        node = self.config
        for part in dotted.split("."):
            if not isinstance(node, dict) or part not in node:
                return default
            node = node[part]
        return node


def load_runs(preset_dir: Path) -> list[Run]:
    """The finished (completed or diverged) runs under ``preset_dir``; [] when it does not exist."""
    preset_dir = Path(preset_dir)
    if not preset_dir.is_dir():
        return []
    runs = []
    for folder in run_folders(preset_dir):
        try:
            rec = RunRecord.load(folder)
        except (OSError, ValueError):
            continue
        if rec.summary.get("status") in FINISHED:
            runs.append(Run(rec))
    return runs


def preset(ex_dir: Path, name: str) -> tuple[Path, list[Run]]:
    """The folder of the exercise's preset ``name`` and its finished runs."""
    d = Path(ex_dir) / name
    return d, load_runs(d)


def variant_order(preset_dir: Path, runs: list[Run]) -> list[str]:
    """The preset's declared variant order (its config.yaml), then any others in folder order."""
    import yaml

    declared: list[str] = []
    try:
        cfg = artifacts.read_yaml(Path(preset_dir) / artifacts.CONFIG) or {}
        declared = [str(v) for v in (cfg.get("variants") or {})]
    except (OSError, ValueError, yaml.YAMLError):
        pass
    seen = list(dict.fromkeys(r.variant for r in runs))
    return [v for v in declared if v in seen] + [v for v in seen if v not in declared]


def history_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """metrics.csv of every run, with variant and seed columns."""
    parts = []
    for r in runs:
        h = r.record.history
        if not h.empty and "epoch" in h:
            parts.append(h.assign(variant=r.variant, seed=r.seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def layer_frame(runs: Iterable[Run]) -> pd.DataFrame:
    """layer_stats.csv of every run, with variant and seed columns."""
    parts = []
    for r in runs:
        ls = r.record.layer_stats
        if not ls.empty and {"epoch", "layer"} <= set(ls.columns):
            parts.append(ls.assign(variant=r.variant, seed=r.seed))
    return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()


def metric_frame(runs: Iterable[Run], metric: str) -> pd.DataFrame:
    """variant, seed, value of a ``run_metrics`` metric; runs where it is undefined are left out."""
    rows = [{"variant": r.variant, "seed": r.seed, "value": measure(r.record, metric)} for r in runs]
    f = pd.DataFrame(rows, columns=["variant", "seed", "value"])
    return f[f["value"].notna()].reset_index(drop=True)


def chance_level(runs: list[Run]) -> Optional[float]:
    """1 / number of classes of the runs' data set, when known."""
    if not runs:
        return None
    ds = runs[0].config.get("dataset") or {}
    k = ds.get("n_classes") or N_CLASSES.get(ds.get("name"))
    return 1.0 / k if k else None


def seeds_range(frame: pd.DataFrame) -> tuple[int, int]:
    """(fewest, most) seeds any variant has."""
    if frame.empty:
        return (0, 0)
    counts = frame.groupby("variant")["seed"].nunique()
    return int(counts.min()), int(counts.max())
