"""``train(cfg, run_dir)``: the one training entrypoint the CLI, the tests and ``reproduce`` call.

Read it top to bottom: validate and list the runs, load each data set once,
then per run: fit (callbacks collect), write its folder, plot. Failures of one
run are recorded in its ``summary.json`` and do not stop the others.
"""

from __future__ import annotations

import sys
import time
import traceback
from contextlib import ExitStack
from dataclasses import asdict
from pathlib import Path
from typing import Any, Optional

import numpy as np
import pandas as pd
from omegaconf import DictConfig, OmegaConf

from dlexp import artifacts, config, data, experiment, plots
from dlexp.errors import DlexpError
from dlexp.experiment import Job


def spec_to_dict(spec: config.RunSpec) -> dict:
    d = asdict(spec)
    d["model"]["hidden"] = list(spec.model.hidden)
    return d


def load_data(jobs: list[Job]) -> dict[Any, data.Dataset]:
    """Each distinct data set once; also the checks that need its size. Raises before anything is written."""
    cache: dict[Any, data.Dataset] = {}
    for job in jobs:
        key = data_key(job.spec)
        if key not in cache:
            t = job.spec.trainer
            cache[key] = data.load(job.spec.dataset, t.test_size, t.split_seed, t.stratify)
        config.check_against_data(job.spec, cache[key].n_samples)
    return cache


def data_key(spec: config.RunSpec):
    t = spec.trainer
    return (repr(spec.dataset), t.test_size, t.split_seed, t.stratify)


class _Progress:
    """Rich bars on a terminal, one plain line per finished run otherwise, or nothing."""

    def __init__(self, mode: str, stack: ExitStack) -> None:
        tty = sys.stderr.isatty()
        self.mode = "rich" if mode == "rich" or (mode == "auto" and tty) else ("plain" if mode == "plain" else
                                                                               "line" if mode == "auto" else "none")
        self.rich = None
        if self.mode == "rich":
            from rich.progress import BarColumn, Progress, TextColumn, TimeRemainingColumn

            self.rich = stack.enter_context(Progress(
                TextColumn("{task.description}"), BarColumn(), TextColumn("epoch {task.completed}/{task.total}"),
                TextColumn("{task.fields[metrics]}"), TimeRemainingColumn(), transient=False))

    def callbacks(self, label: str, epochs: int) -> list:
        from dlexp import callbacks as cb

        if self.mode == "rich":
            return [cb.RichProgress(self.rich, label, epochs)]
        if self.mode == "plain":
            return [cb.PlainProgress(label, epochs)]
        return []

    def finished(self, label: str, summary: dict) -> None:
        if self.mode in ("line", "plain"):
            acc = summary.get("test_accuracy")
            acc_s = f"{acc:.3f}" if isinstance(acc, float) else "n/a"
            print(f"[dlexp] {label}: {summary['status']} test_accuracy={acc_s} "
                  f"epochs={summary.get('epochs_run')} ({summary['timings']['total_seconds']:.1f}s)",
                  file=sys.stderr, flush=True)


def run_job(job: Job, dataset: data.Dataset, folder: Path, progress: _Progress, meta: dict) -> tuple[dict, Optional[dict]]:
    """Fit one run and write its complete folder. Returns its summary and decision-boundary panel (2-D data)."""
    from dlexp import training  # TensorFlow is imported only once a run really starts

    t0 = time.perf_counter()
    folder.mkdir(parents=True, exist_ok=True)
    spec = job.spec
    if job.subdir:
        artifacts.write_yaml(folder / artifacts.CONFIG, spec_to_dict(spec))
    summary = {
        "kind": "run", "name": spec.name, "variant": spec.variant, "seed": spec.seed,
        "status": "running", "trainer": "keras", "epochs_planned": spec.trainer.epochs,
        **meta,
    }
    artifacts.write_json(folder / artifacts.SUMMARY, summary)
    metrics_log = artifacts.CsvLog(folder / artifacts.METRICS, artifacts.METRICS_COLUMNS)
    layer_log = artifacts.CsvLog(folder / artifacts.LAYER_STATS, artifacts.LAYER_STATS_COLUMNS)
    result = None
    try:
        result = training.fit_one(spec, dataset, on_epoch=metrics_log.append, on_layer_rows=layer_log.extend,
                                  progress=progress.callbacks(job.label, spec.trainer.epochs))
        summary.update(status=result.status, diverged_at=result.diverged_at)
    except KeyboardInterrupt:
        summary.update(status="interrupted")
        raise
    except DlexpError:
        raise
    except Exception as err:  # one bad run must not take the sweep down; its folder says why
        summary.update(status="failed", error=f"{type(err).__name__}: {err}")
        artifacts.atomic_write_text(folder / "error.txt", traceback.format_exc())
    finally:
        metrics_log.close()
        layer_log.close()
        panel = _finish(summary, folder, dataset, result, t0)
    progress.finished(job.label, summary)
    return summary, panel


def _finish(summary: dict, folder: Path, dataset: data.Dataset, result, t0: float) -> Optional[dict]:
    """Fill in the summary from what was measured and draw the run's plots (best effort)."""
    history = _read_csv(folder / artifacts.METRICS)
    summary["epochs_run"] = int(len(history))
    if result is not None:
        summary.update(
            test_loss=result.test_loss, test_accuracy=result.test_accuracy, param_count=result.param_count,
            best_epoch=result.best_epoch,
        )
    if len(history):
        last = history.iloc[-1]
        summary["final"] = {k: float(last[k]) for k in ("loss", "accuracy", "val_loss", "val_accuracy")}
    panel = None
    try:
        panel = _run_plots(folder, dataset, history, result)
    except Exception as err:  # a plot must never cost the run its summary
        summary.setdefault("warnings", []).append(f"plots: {type(err).__name__}: {err}")
    summary["timings"] = {"fit_seconds": getattr(result, "fit_seconds", None),
                          "total_seconds": time.perf_counter() - t0}
    summary["peak_rss_mb"] = artifacts.peak_rss_mb()
    artifacts.write_json(folder / artifacts.SUMMARY, summary)
    return panel


def _read_csv(path: Path) -> pd.DataFrame:
    try:
        return pd.read_csv(path)
    except (FileNotFoundError, pd.errors.EmptyDataError):
        return pd.DataFrame()


def _run_plots(folder: Path, dataset: data.Dataset, history: pd.DataFrame, result) -> Optional[dict]:
    out = folder / artifacts.PLOTS
    if len(history):
        artifacts.save_figure(out / "learning_curves.png", plots.learning_curves({"run": history}))
    stats = _read_csv(folder / artifacts.LAYER_STATS)
    if len(stats):
        artifacts.save_figure(out / "dead_units.png", plots.dead_units(stats))
        artifacts.save_figure(out / "gradient_norms.png", plots.gradient_norms(stats))
    if result is not None and result.model is not None and dataset.input_dim == 2:
        panel = boundary_panel(result.model, dataset, "decision boundary")
        artifacts.save_figure(out / "decision_boundary.png", plots.decision_boundaries([panel]))
        return panel
    return None


def boundary_panel(model, dataset: data.Dataset, title: str) -> dict:
    from dlexp.training import predict_classes

    x_all = np.vstack([dataset.x_train, dataset.x_test])
    xx, yy, points = plots.decision_grid(x_all)
    classes = predict_classes(model, points).reshape(xx.shape)
    return {"title": title, "xx": xx, "yy": yy, "classes": classes, "x": dataset.x_test, "y": dataset.y_test}


def train(cfg: Any, run_dir: Path, *, overrides: Optional[list[str]] = None, progress: Optional[str] = None) -> dict:
    """Run every job of the experiment ``cfg`` into ``run_dir``; return the experiment summary.

    Raises ConfigError/DataError before writing anything when the config or data is bad.
    """
    plain = experiment.plain_config(cfg)
    jobs = experiment.expand(plain)
    datasets = load_data(jobs)
    run_dir = Path(run_dir)
    run_dir.mkdir(parents=True, exist_ok=True)
    artifacts.write_yaml(run_dir / artifacts.CONFIG, plain)
    meta = {"overrides": list(overrides or []), "provenance": artifacts.provenance()}
    summaries: list[dict] = []
    panels: list[Optional[dict]] = []
    with ExitStack() as stack:
        prog = _Progress(progress or jobs[0].spec.trainer.progress, stack)
        for job in jobs:
            ds = datasets[data_key(job.spec)]
            summary, panel = run_job(job, ds, run_dir / job.subdir, prog,
                                     {**meta, "dataset": ds.name, "subdir": job.subdir})
            summaries.append(summary)
            panels.append(panel)
    if len(jobs) > 1:
        from dlexp.compare import write_comparison

        return write_comparison(plain, jobs, summaries, panels, run_dir)
    return summaries[0]
