"""A run's folder: the only writer of its files while it trains (config, per-epoch rows, layer
statistics, summary, error), then its plots, decision grid and probes after training.

Every file goes through ``artifacts`` (atomic writes, flushed CSV logs), so a run killed at any
moment leaves whole files behind.
"""

from __future__ import annotations

import hashlib
import json
import threading
import time
import traceback
from dataclasses import asdict
from pathlib import Path
from typing import Optional

import pandas as pd

from dlexp import artifacts
from dlexp.errors import WriteError, is_disk_error
from dlexp.config import schema as config
from dlexp.config.experiment import Job
from dlexp.data import datasets as data
from dlexp.report import plots
from dlexp.train import diagnostics

FINISHED = ("completed", "diverged")  # results worth keeping; anything else is run again


def one_line(text: str, limit: int = 500) -> str:
    """An error message for a table cell: ANSI colours removed, lines joined, length capped."""
    import re

    text = re.sub(r"\x1b\[[0-9;]*m", "", text)
    return " ".join(part.strip() for part in text.splitlines() if part.strip())[:limit]


def spec_to_dict(spec: config.RunSpec) -> dict:
    d = asdict(spec)
    d["model"]["hidden"] = list(spec.model.hidden)
    return d


_NOT_HASHED = ("progress", "threads", "backend", "plots")  # trainer fields that change only the display and outputs


# Trainer fields added after runs were saved, left out at their default (which computes what
# those runs did), so that resuming an earlier output folder still finds its runs finished.
_NEWER_FIELDS = {"grad_norm_every": None}


def spec_hash(spec: config.RunSpec, as_dict: Optional[dict] = None) -> str:
    """Identifies what a run computed (everything but display, outputs and trackers), to skip
    finished runs safely. ``as_dict``: ``spec_to_dict(spec)`` when the caller has it (not modified)."""
    d = spec_to_dict(spec) if as_dict is None else as_dict
    # Output only: trackers (logger) and the trainer fields above change nothing computed.
    d = {**{k: v for k, v in d.items() if k != "logger"},
         "trainer": {k: v for k, v in d["trainer"].items()
                     if k not in _NOT_HASHED and not (k in _NEWER_FIELDS and v == _NEWER_FIELDS[k])}}
    return hashlib.sha1(json.dumps(d, sort_keys=True, default=str).encode()).hexdigest()[:12]


def is_finished(folder: Path, spec: config.RunSpec) -> bool:
    path = folder / artifacts.SUMMARY
    if not path.exists():
        return False
    try:
        s = artifacts.read_json(path)
    except (OSError, ValueError):
        return False
    return s.get("status") in FINISHED and s.get("spec_hash") == spec_hash(spec)


BACKUP = ".backup"


def resume_epoch(folder: Path) -> int:
    """The last finished epoch a run folder can resume from (0 = start afresh)."""
    from dlexp.train.keras_fit import backup_epoch

    return backup_epoch(folder / BACKUP) if (folder / BACKUP).exists() else 0


class RunWriter:
    """The open files of one run while it trains."""

    def __init__(self, job: Job, folder: Path, meta: dict, resume_from: int = 0,
                 stop: Optional[threading.Event] = None) -> None:
        self.job, self.folder, self.t0 = job, folder, time.perf_counter()
        self.stop = stop  # set: end the run after the epoch being recorded (another lane failed or was interrupted)
        folder.mkdir(parents=True, exist_ok=True)
        for stale in ("probes.csv", "error.txt"):
            (folder / stale).unlink(missing_ok=True)
        for log in (artifacts.METRICS, artifacts.LAYER_STATS):
            # A resumed run keeps the rows of the epochs it restored; a rerun starts afresh.
            if resume_from:
                artifacts.truncate_csv(folder / log, "epoch", resume_from)
            else:
                (folder / log).unlink(missing_ok=True)
        spec = job.spec
        as_dict = spec_to_dict(spec)
        if job.subdir:  # a single-run experiment's folder already holds the full config
            artifacts.write_yaml(folder / artifacts.CONFIG, as_dict)
        self.summary = {"kind": "run", "name": spec.name, "variant": spec.variant, "seed": spec.seed,
                        "status": "running", "spec_hash": spec_hash(spec, as_dict), "epochs_planned": spec.trainer.epochs,
                        **artifacts.process_identity(), **meta}
        artifacts.write_json(folder / artifacts.SUMMARY, self.summary)
        self.metrics = artifacts.CsvLog(folder / artifacts.METRICS, artifacts.METRICS_COLUMNS)
        self.layers = artifacts.CsvLog(folder / artifacts.LAYER_STATS, diagnostics.LAYER_COLUMNS)
        from dlexp.run import trackers as loggers

        self.logger = loggers.for_spec(spec)
        self._safe(self.logger.start, spec, folder, as_dict)

    def _safe(self, fn, *args) -> None:
        """Trackers (TensorBoard, MLflow) must never fail a run: their errors become warnings."""
        try:
            fn(*args)
        except Exception as err:
            self.summary.setdefault("warnings", []).append(one_line(f"logger: {type(err).__name__}: {err}"))

    def on_epoch(self, row: dict) -> None:
        self.metrics.append(row)
        self._safe(self.logger.epoch, row)
        if self.stop is not None and self.stop.is_set():
            raise KeyboardInterrupt  # the trainers treat it as Ctrl-C: summaries say "interrupted"

    def on_layers(self, rows: list[dict]) -> None:
        self.layers.extend(rows)
        self._safe(self.logger.layers, rows)

    def fail(self, err: BaseException) -> None:
        self.summary.update(status="failed", error=one_line(f"{type(err).__name__}: {err}"))
        artifacts.atomic_write_text(self.folder / "error.txt", "".join(traceback.format_exception(err)))

    @property
    def base_dir(self) -> Path:
        """The experiment's folder (what ``resume=`` takes): this run's folder less its subdir."""
        parts = len(Path(self.job.subdir).parts) if self.job.subdir else 0
        return self.folder.parents[parts - 1] if parts else self.folder

    def finish(self, dataset: data.Dataset, result) -> dict:
        """Close the logs, fill in the summary from what was measured, draw plots (best effort).
        A full disk on the way is a WriteError (the run stays resumable)."""
        try:
            return self._finish(dataset, result)
        except OSError as err:
            if is_disk_error(err):
                raise WriteError(err, self.base_dir) from None
            raise

    def _finish(self, dataset: data.Dataset, result) -> dict:
        self.metrics.close()
        self.layers.close()
        s, folder = self.summary, self.folder
        if result is not None:
            s.update(status=result.status if s["status"] == "running" else s["status"],
                     diverged_at=result.diverged_at, test_loss=result.test_loss,
                     test_accuracy=result.test_accuracy, param_count=result.param_count, best_epoch=result.best_epoch)
        elif s["status"] == "running":
            s["status"] = "failed"
        history = _read_csv(folder / artifacts.METRICS)
        s["epochs_run"] = int(len(history))
        if len(history):
            last = history.iloc[-1]
            s["final"] = {k: float(last[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
        try:
            _post_training(self.job.spec, folder, dataset, history, result)
        except Exception as err:  # a plot or probe must never cost the run its summary
            s.setdefault("warnings", []).append(f"post-training: {type(err).__name__}: {err}")
        s["timings"] = {"fit_seconds": getattr(result, "fit_seconds", None),
                        "total_seconds": time.perf_counter() - self.t0}
        s["peak_rss_mb"] = artifacts.peak_rss_mb()
        artifacts.write_json(folder / artifacts.SUMMARY, s)
        n_warnings = len(s.get("warnings", []))
        self._safe(self.logger.finish, s, folder)
        if len(s.get("warnings", [])) != n_warnings:
            artifacts.write_json(folder / artifacts.SUMMARY, s)
        return s


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _post_training(spec: config.RunSpec, folder: Path, dataset: data.Dataset, history: pd.DataFrame, result) -> None:
    if spec.trainer.plots:
        _run_plots(spec, folder, history)
    if result is None or (result.model is None and result.model_factory is None):
        return
    if dataset.input_dim == 2 and spec.trainer.plots:  # the grid feeds only plots (this run's, comparisons')
        panel = boundary_panel(result, dataset)
        artifacts.write_npz(folder / "decision_grid.npz", **{k: panel[k] for k in ("xx", "yy", "classes")})
        artifacts.save_figure(folder / artifacts.PLOTS / "decision_boundary.png",
                              plots.decision_boundaries([{**panel, "title": f"{spec.variant} (seed {spec.seed})"}]))
    if spec.trainer.probes:
        _probes(spec, folder, dataset, result)


def _run_plots(spec: config.RunSpec, folder: Path, history: pd.DataFrame) -> None:
    out = folder / artifacts.PLOTS
    if len(history):
        artifacts.save_figure(out / "learning_curves.png", plots.learning_curves({spec.variant: history}))
    stats = _read_csv(folder / artifacts.LAYER_STATS)
    if len(stats):
        artifacts.save_figure(out / "dead_units.png", plots.dead_units(stats))
        artifacts.save_figure(out / "gradient_norms.png", plots.gradient_norms(stats))


def _probes(spec: config.RunSpec, folder: Path, dataset: data.Dataset, result) -> None:
    from dlexp.train import probes

    cut = data.validation_cut(len(dataset.x_train), spec.trainer.validation_split)
    train_reps = result.representations(dataset.x_train[:cut])
    test_reps = result.representations(dataset.x_test)
    table = probes.probe_table(train_reps, dataset.y_train[:cut], test_reps, dataset.y_test, seed=spec.seed)
    artifacts.write_dataframe(folder / "probes.csv", table)
    if not spec.trainer.tsne:
        return
    idx = probes.sample_indices(len(dataset.x_test), 500, seed=spec.seed)
    emb = probes.tsne_embeddings({k: v[idx] for k, v in test_reps.items()}, seed=42)
    dims = {k: int(v.shape[1]) for k, v in test_reps.items()}
    acc = dict(zip(table["representation"], table["probe_accuracy"]))
    artifacts.save_figure(folder / artifacts.PLOTS / "tsne.png", plots.tsne_panels(emb, dataset.y_test[idx], dims, acc))


def boundary_panel(result, dataset: data.Dataset) -> dict:
    xx, yy, points = dataset.decision_grid
    classes = result.classes(points).reshape(xx.shape)
    return {"xx": xx, "yy": yy, "classes": classes, "x": dataset.x_test, "y": dataset.y_test}
