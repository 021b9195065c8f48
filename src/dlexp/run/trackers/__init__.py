"""Run trackers besides the run folder (TensorBoard, MLflow), behind one small interface.

The runner calls, per run: ``start`` -> ``epoch``/``layers`` each epoch ->
``finish``. The solo Keras path may also hand over weight/activation
histograms (``keras_callbacks``). Trackers must never fail a run: the runner
turns their errors into summary warnings.

One module per tracker (``tensorboard_logger``, ``mlflow_logger``), the Keras histogram feed
(``histograms``) and what they share (``common``); this module chooses them for a run.
Nothing here imports TensorFlow or MLflow at module level: ``check_available``
runs in the CLI's preflight, before TF is imported, and MLflow is imported only
when a run asks for it.
"""

from __future__ import annotations

import importlib.util
from typing import Optional

from dlexp.config.schema import RunSpec
from dlexp.errors import ConfigError
from dlexp.run.trackers.common import RunLogger
from dlexp.run.trackers.histograms import keras_callbacks  # noqa: F401 (the runner's: the solo path's histograms)
from dlexp.run.trackers.mlflow_logger import MlflowLogger
from dlexp.run.trackers.tensorboard_logger import TensorBoardLogger

MLFLOW_INSTALL = 'pip install "dlexp[mlflow]"'


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


class MultiLogger:
    """Several trackers as one: each is called even when another fails; the first error is re-raised."""

    def __init__(self, loggers: list) -> None:
        self.loggers = loggers

    def _each(self, method: str, *args) -> None:
        first: Optional[Exception] = None
        for logger in self.loggers:
            try:
                getattr(logger, method)(*args)
            except Exception as err:  # noqa: BLE001 - collected, re-raised below
                first = first or err
        if first is not None:
            raise first

    def start(self, spec, folder, config) -> None:
        self._each("start", spec, folder, config)

    def epoch(self, row) -> None:
        self._each("epoch", row)

    def layers(self, rows) -> None:
        self._each("layers", rows)

    def histograms(self, epoch, arrays) -> None:
        self._each("histograms", epoch, arrays)

    def finish(self, summary, folder) -> None:
        self._each("finish", summary, folder)


def check_available(spec: RunSpec) -> None:
    """Raise a one-line ConfigError when a tracker's package is missing (called in preflight, before TF)."""
    if spec.logger.mlflow and importlib.util.find_spec("mlflow") is None:
        raise ConfigError("logger.mlflow", True, f"false, or install MLflow first: {MLFLOW_INSTALL}")


def for_spec(spec: RunSpec) -> RunLogger:
    """The trackers a run's logger config asks for (none -> NullLogger)."""
    check_available(spec)
    chosen: list = []
    if spec.logger.tensorboard:
        chosen.append(TensorBoardLogger())
    if spec.logger.mlflow:
        chosen.append(MlflowLogger())
    if not chosen:
        return NullLogger()
    return chosen[0] if len(chosen) == 1 else MultiLogger(chosen)
