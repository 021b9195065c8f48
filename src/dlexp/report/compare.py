"""The folder of a multi-run experiment: results table, overlaid curves, boundaries side by side.

Built from the run folders alone (summary.json, metrics.csv, decision_grid.npz),
so ``dlexp report`` can rebuild it after more seeds are added.
"""

from __future__ import annotations

import hashlib
from pathlib import Path
from typing import Optional

import numpy as np
import pandas as pd

from dlexp import artifacts
from dlexp.report import plots

# Bump when write_comparison's outputs change, so that `dlexp report` rebuilds old ones.
FORMAT = 2
# What a comparison is built from, per run folder (with the preset's config.yaml).
INPUT_FILES = (artifacts.SUMMARY, artifacts.METRICS, "decision_grid.npz")

RESULT_COLUMNS = ["variant", "seed", "status", "test_accuracy", "test_loss", "param_count", "epochs_run",
                  "best_epoch", "final_val_accuracy", "fit_seconds", "trainer", "subdir"]


def run_folders(root: Path) -> list[Path]:
    """Every run folder under ``root`` (a folder whose summary.json says kind=run), sorted."""
    out = []
    for path in sorted(Path(root).rglob(artifacts.SUMMARY)):
        if "mlartifacts" in path.relative_to(root).parts:
            continue  # MLflow's copies of run files, not runs
        try:
            if artifacts.read_json(path).get("kind") == "run":
                out.append(path.parent)
        except (OSError, ValueError):
            continue
    return out


def summary_row(summary: dict) -> dict:
    return {
        "variant": summary.get("variant"), "seed": summary.get("seed"), "status": summary.get("status"),
        "test_accuracy": summary.get("test_accuracy"), "test_loss": summary.get("test_loss"),
        "param_count": summary.get("param_count"), "epochs_run": summary.get("epochs_run"),
        "best_epoch": summary.get("best_epoch"),
        "final_val_accuracy": (summary.get("final") or {}).get("val_accuracy"),
        "fit_seconds": (summary.get("timings") or {}).get("fit_seconds"),
        "trainer": summary.get("trainer"), "subdir": summary.get("subdir"),
    }


def results_frame(run_dir: Path) -> pd.DataFrame:
    rows = [summary_row(artifacts.read_summary(f / artifacts.SUMMARY)) for f in run_folders(run_dir)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _variant_order(cfg: dict, frame: pd.DataFrame) -> list[str]:
    declared = list((cfg.get("variants") or {}).keys())
    seen = list(dict.fromkeys(frame["variant"]))
    return [v for v in declared if v in seen] + [v for v in seen if v not in declared]


def inputs_fingerprint(run_dir: Path, folders: Optional[list[Path]] = None) -> str:
    """A hash of the name, size and modification time of every file a comparison reads.

    It changes when a run is added, removed, resumed or rewritten, or the preset's
    config.yaml changes; ``summary.json`` of the comparison records it.
    """
    run_dir = Path(run_dir)
    h = hashlib.sha256(f"format {FORMAT}\n".encode())
    paths = [run_dir / artifacts.CONFIG]
    for folder in (run_folders(run_dir) if folders is None else folders):
        paths += [folder / name for name in INPUT_FILES]
    for path in paths:
        try:
            st = path.stat()
            h.update(f"{path.relative_to(run_dir)} {st.st_size} {st.st_mtime_ns}\n".encode())
        except OSError:
            h.update(f"{path.relative_to(run_dir)} -\n".encode())
    return h.hexdigest()


def is_current(run_dir: Path) -> bool:
    """Whether the comparison in ``run_dir`` was built from the run folders as they are now."""
    run_dir = Path(run_dir)
    try:
        summary = artifacts.read_json(run_dir / artifacts.SUMMARY)
    except (OSError, ValueError):
        return False
    if summary.get("kind") != "experiment" or not (run_dir / "results.csv").exists():
        return False
    plots_dir = run_dir / artifacts.PLOTS
    if any(not (plots_dir / name).exists() for name in summary.get("plots") or []):
        return False
    return summary.get("inputs") == inputs_fingerprint(run_dir)


def write_comparison(cfg: dict, jobs, run_dir: Path) -> dict:
    """results.csv, overlaid learning curves and side-by-side boundaries (first seed of each variant).

    The figures follow the experiment's ``trainer.plots`` (reproduce turns them off: its report
    draws its own figures from the runs).
    """
    run_dir = Path(run_dir)
    folders = run_folders(run_dir)
    fingerprint = inputs_fingerprint(run_dir, folders)  # before reading: a run written meanwhile makes it stale
    rows = [summary_row(artifacts.read_summary(f / artifacts.SUMMARY)) for f in folders]
    frame = pd.DataFrame(rows, columns=RESULT_COLUMNS)
    artifacts.write_dataframe(run_dir / "results.csv", frame)
    histories, panels = {}, []
    draw = bool((cfg.get("trainer") or {}).get("plots", True))
    for variant in (_variant_order(cfg, frame) if draw else []):
        first = frame[frame["variant"] == variant].sort_values("seed").iloc[0]
        folder = run_dir / str(first["subdir"])
        metrics = folder / artifacts.METRICS
        if metrics.exists() and metrics.stat().st_size:
            df = pd.read_csv(metrics)
            if len(df):
                histories[variant] = df
        grid = folder / "decision_grid.npz"
        if grid.exists():
            g = np.load(grid)
            acc = first["test_accuracy"]
            title = variant + (f" (test acc {acc:.3f})" if pd.notna(acc) else f" ({first['status']})")
            panels.append({"xx": g["xx"], "yy": g["yy"], "classes": g["classes"], "title": title})
    out = run_dir / artifacts.PLOTS
    name = cfg.get("name")
    written = []
    if histories:
        artifacts.save_figure(out / "learning_curves.png", plots.learning_curves(histories, title=f"{name}: learning curves"))
        written.append("learning_curves.png")
    if panels:
        test_points = _test_points(cfg)
        if test_points is not None:
            for p in panels:
                p["x"], p["y"] = test_points
            artifacts.save_figure(out / "decision_boundaries.png",
                                  plots.decision_boundaries(panels, title=f"{name}: decision boundaries"))
            written.append("decision_boundaries.png")
    by_variant = (frame.groupby("variant", sort=False)
                  .agg(runs=("seed", "size"), test_accuracy_mean=("test_accuracy", "mean"),
                       param_count=("param_count", "first")).reset_index().to_dict(orient="records"))
    statuses = set(frame["status"])
    summary = {
        "kind": "experiment", "name": name,
        "status": "completed" if statuses == {"completed"} else ",".join(sorted(map(str, statuses))),
        "runs": frame.to_dict(orient="records"), "variants": by_variant,
        "plots": written, "inputs": fingerprint,
    }
    artifacts.write_json(run_dir / artifacts.SUMMARY, summary)
    return summary


_TEST_POINTS: dict = {}


def _test_points(cfg: dict):
    """The test points to overlay on boundaries: the data set is rebuilt from the config (cheap for 2-D sets).

    They are those of the first run (the first variant): only that run's config is
    built, and a data set built once is kept for the presets that share it.
    """
    from dlexp.data import datasets as data

    try:
        spec = _first_spec(cfg)
    except Exception:
        return None
    t = spec.trainer
    key = (spec.dataset, t.test_size, t.split_seed, t.stratify)
    try:
        hash(key)
    except TypeError:
        key = None
    if key is None or key not in _TEST_POINTS:
        ds = data.load(spec.dataset, t.test_size, t.split_seed, t.stratify)
        if key is None:
            return ds.x_test, ds.y_test
        _TEST_POINTS.clear()  # one data set at a time: presets in a row share one
        _TEST_POINTS[key] = (ds.x_test, ds.y_test)
    return _TEST_POINTS[key]


def _first_spec(cfg: dict):
    """``experiment.expand(cfg)[0].spec`` without building (and validating) every other variant."""
    from dlexp.config import experiment

    cfg = experiment.plain_config(cfg)
    variants = cfg.get("variants") or {}
    if cfg.get("grid"):
        variants = {**variants, **experiment.grid_variants(cfg["grid"])}
    base = {k: v for k, v in cfg.items() if k not in experiment.EXPERIMENT_KEYS and k != "hydra"}
    if not variants:
        return experiment.to_spec(base).with_seed(experiment.seeds_of(cfg)[0])
    vname, delta = next(iter(variants.items()))
    return experiment.to_spec(experiment.variant_config(base, delta), variant=str(vname)).with_seed(experiment.seeds_of(cfg)[0])
