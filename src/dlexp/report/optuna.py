"""Optimizing sweeps (Optuna): the number a trial returns, and the best trials of a sweep folder.

A trial is one ``dlexp train`` job. Its objective is the final validation
accuracy (the mean over its runs when the job is an experiment with several
variants or seeds); the test split is kept out of the search so that the
test accuracy of the best trial stays an honest estimate. A failed trial
returns NaN, which Optuna records as a failed trial.

The sweeper writes ``optimization_results.yaml`` (best params and value) when
the sweep ends; ``WriteTrials`` (a Hydra callback the preset installs) and
``report`` (``dlexp report SWEEP_DIR``) read it together with every job folder
and write ``optuna_trials.csv`` (all trials, best first) next to it. Pure
reading: no TensorFlow, no Optuna import.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any, Optional

import pandas as pd
import yaml

from dlexp.report.stats import finite_or_none

OBJECTIVE = "final_val_accuracy"
RESULTS_FILE = "optimization_results.yaml"
TRIALS_FILE = "optuna_trials.csv"
# Sweepers that optimize a number returned by the task function (Hydra's basic sweeper ignores it).
OPTIMIZING_SWEEPERS = ("optuna", "nevergrad", "hydra_ax_sweeper")




def _trial_number(name: str) -> Optional[int]:
    """A job folder's trial number: "3" or "3_optimizer.learning_rate=0.01,..." -> 3 (other folders: None)."""
    m = re.match(r"(\d+)(?:_|$)", name)
    return int(m.group(1)) if m else None

def wants_objective(sweeper_target: Optional[str]) -> bool:
    """True when the sweeper running this job needs a float back (see ``cli._train_task``)."""
    target = (sweeper_target or "").lower()
    return any(name in target for name in OPTIMIZING_SWEEPERS)


def objective(summary: dict) -> float:
    """Final validation accuracy of a run summary; for an experiment summary the mean over its runs; NaN if none."""
    if summary.get("kind") == "experiment":
        values = [finite_or_none(r.get(OBJECTIVE)) for r in summary.get("runs") or []]
    else:
        values = [finite_or_none((summary.get("final") or {}).get("val_accuracy"))]
    values = [v for v in values if v is not None]
    return float(sum(values) / len(values)) if values else float("nan")


def _read_yaml(path: Path) -> Any:
    try:
        return yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return None


def sweep_settings(root: Path) -> dict:
    """The sweeper node of the sweep's multirun.yaml ({} when there is none)."""
    cfg = _read_yaml(Path(root) / "multirun.yaml") or {}
    return ((cfg.get("hydra") or {}).get("sweeper") or {}) if isinstance(cfg, dict) else {}


def is_optuna_sweep(root: Path) -> bool:
    root = Path(root)
    return (root / RESULTS_FILE).exists() or "optuna" in str(sweep_settings(root).get("_target_", "")).lower()


def _job_overrides(job: Path) -> dict[str, str]:
    items = _read_yaml(job / ".hydra" / "overrides.yaml") or []
    out = {}
    for item in items:
        key, sep, value = str(item).partition("=")
        if sep:
            out[key.lstrip("+~")] = value
    return out


def _number_or_text(value: Optional[str]) -> Any:
    """"0.01" -> 0.01, "16" -> 16; anything else (e.g. "[64,64]") stays the override's text."""
    if value is None:
        return None
    try:
        loaded = yaml.safe_load(value)
    except yaml.YAMLError:
        return value
    return loaded if isinstance(loaded, (int, float)) and not isinstance(loaded, bool) else value


def trials_frame(root: Path) -> pd.DataFrame:
    """One row per trial (job folder): trial, the searched params, objective, status, test accuracy; best first."""
    root = Path(root)
    results = _read_yaml(root / RESULTS_FILE) or {}
    settings = sweep_settings(root)
    keys = list((results.get("best_params") or {}).keys()) or list((settings.get("params") or {}).keys())
    rows = []
    jobs = (p for p in root.iterdir() if p.is_dir() and _trial_number(p.name) is not None)
    for job in sorted(jobs, key=lambda p: _trial_number(p.name)):
        overrides = _job_overrides(job)
        try:
            summary = json.loads((job / "summary.json").read_text(encoding="utf-8"))
        except (OSError, ValueError):
            summary = {}
        row: dict[str, Any] = {"trial": _trial_number(job.name)}
        row.update({k: _number_or_text(overrides.get(k)) for k in keys})
        row.update({"objective": objective(summary) if summary else float("nan"),
                    "status": summary.get("status", "missing"),
                    "test_accuracy": summary.get("test_accuracy"), "folder": job.name})
        rows.append(row)
    frame = pd.DataFrame(rows, columns=["trial", *keys, "objective", "status", "test_accuracy", "folder"])
    descending = str(settings.get("direction", "maximize")).lower() != "minimize"
    frame = frame.sort_values("objective", ascending=not descending, na_position="last", kind="stable")
    frame.insert(0, "rank", range(1, len(frame) + 1))
    return frame.reset_index(drop=True)


def report(root: Path, console=None, top: int = 5) -> Optional[pd.DataFrame]:
    """For an Optuna sweep folder: write optuna_trials.csv and print the best trials. Otherwise do nothing.

    ``dlexp report SWEEP_DIR`` calls this (sweep_report.write_sweep_report).
    """
    root = Path(root)
    if not is_optuna_sweep(root):
        return None
    from rich.console import Console
    from rich.table import Table

    from dlexp import artifacts

    console = console or Console()
    frame = trials_frame(root)
    artifacts.write_dataframe(root / TRIALS_FILE, frame)
    results = _read_yaml(root / RESULTS_FILE) or {}
    if "best_value" in results:
        params = ", ".join(f"{k}={v}" for k, v in (results.get("best_params") or {}).items())
        console.print(f"optuna: best {OBJECTIVE} {float(results['best_value']):.4f} with {params} ({RESULTS_FILE})")
    else:
        console.print(f"optuna: no {RESULTS_FILE} (the sweep did not finish); ranking the trials found")
    table = Table(title=f"best {min(top, len(frame))} of {len(frame)} trials ({OBJECTIVE})")
    cols = [c for c in frame.columns if c != "folder"]
    for c in cols:
        table.add_column(c.split(".")[-1])  # learning_rate, batch_size, hidden: the full keys are in the CSV
    for _, r in frame.head(top).iterrows():
        table.add_row(*("-" if pd.isna(r[c]) else (f"{r[c]:.4g}" if isinstance(r[c], float) else str(r[c]))
                        for c in cols))
    console.print(table)
    console.print(f"trials: {root / TRIALS_FILE}")
    return frame


try:
    from hydra.experimental.callback import Callback as _HydraCallback
except ImportError:  # pragma: no cover - hydra is a dependency; keep this module importable anyway
    _HydraCallback = object


class WriteTrials(_HydraCallback):
    """Hydra callback: when an Optuna sweep ends, rank its trials into ``<sweep>/optuna_trials.csv``.

    Hydra skips ``on_multirun_end`` when a job raised (hydra #2284); ``dlexp report SWEEP_DIR`` writes the same file.
    """

    def on_multirun_end(self, config, **kwargs) -> None:
        from dlexp import artifacts

        root = Path(str(config.hydra.sweep.dir))
        try:
            artifacts.write_dataframe(root / TRIALS_FILE, trials_frame(root))
        except Exception as err:  # a summary table must never turn a finished search into an error
            print(f"[dlexp] {TRIALS_FILE} not written: {type(err).__name__}: {err}")
