"""What every tracker shares: the interface the runner calls, and the run's rows turned into the
scalars both TensorBoard and MLflow log."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Protocol

import numpy as np

from dlexp.config.schema import RunSpec

EPOCH_SCALARS = ("loss", "accuracy", "val_loss", "val_accuracy", "lr")
LAYER_SCALARS = ("dead_fraction", "grad_norm")


class RunLogger(Protocol):
    def start(self, spec: RunSpec, folder: Path, config: dict) -> None: ...
    def epoch(self, row: dict) -> None: ...
    def layers(self, rows: list[dict]) -> None: ...
    def histograms(self, epoch: int, arrays: dict[str, np.ndarray]) -> None: ...
    def finish(self, summary: dict, folder: Path) -> None: ...


def layer_scalars_by_epoch(rows: list[dict]) -> dict[int, dict[str, Any]]:
    """layer_stats rows -> {epoch: {"dead_fraction/layer_1": v, ...}}, the form both trackers log."""
    by_epoch: dict[int, dict[str, Any]] = {}
    for r in rows:
        values = by_epoch.setdefault(int(r["epoch"]), {})
        for metric in LAYER_SCALARS:
            values[layer_tag(metric, r["layer"])] = r.get(metric)
    return by_epoch


def epochs_done(folder: Path) -> int:
    """Epochs already in the run folder's metrics.csv when tracking starts: > 0 only for a resumed run.

    The runner has already truncated (resume) or removed (fresh start) the file, so this tells a
    tracker whether to continue what it wrote before or to start afresh.
    """
    try:
        with open(Path(folder) / "metrics.csv", encoding="utf-8") as f:
            return max(0, sum(1 for line in f if line.strip()) - 1)
    except OSError:
        return 0


def layer_tag(metric: str, layer: Any) -> str:
    """"dead_fraction", 2 -> "dead_fraction/layer_2" (TensorBoard groups cards by the first part)."""
    return f"{metric}/layer_{layer}"
