"""The folder of a multi-run experiment: results table, overlaid curves, boundaries side by side.

Built from the run folders alone (summary.json, metrics.csv, decision_grid.npz),
so ``dlexp report`` can rebuild it after more seeds are added.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd

from dlexp import artifacts, plots

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
    rows = [summary_row(artifacts.read_json(f / artifacts.SUMMARY)) for f in run_folders(run_dir)]
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def _variant_order(cfg: dict, frame: pd.DataFrame) -> list[str]:
    declared = list((cfg.get("variants") or {}).keys())
    seen = list(dict.fromkeys(frame["variant"]))
    return [v for v in declared if v in seen] + [v for v in seen if v not in declared]


def write_comparison(cfg: dict, jobs, run_dir: Path) -> dict:
    """results.csv, overlaid learning curves and side-by-side boundaries (first seed of each variant)."""
    run_dir = Path(run_dir)
    frame = results_frame(run_dir)
    artifacts.write_dataframe(run_dir / "results.csv", frame)
    histories, panels = {}, []
    for variant in _variant_order(cfg, frame):
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
    if histories:
        artifacts.save_figure(out / "learning_curves.png", plots.learning_curves(histories, title=f"{name}: learning curves"))
    if panels:
        test_points = _test_points(cfg)
        if test_points is not None:
            for p in panels:
                p["x"], p["y"] = test_points
            artifacts.save_figure(out / "decision_boundaries.png",
                                  plots.decision_boundaries(panels, title=f"{name}: decision boundaries"))
    by_variant = (frame.groupby("variant", sort=False)
                  .agg(runs=("seed", "size"), test_accuracy_mean=("test_accuracy", "mean"),
                       param_count=("param_count", "first")).reset_index().to_dict(orient="records"))
    statuses = set(frame["status"])
    summary = {
        "kind": "experiment", "name": name,
        "status": "completed" if statuses == {"completed"} else ",".join(sorted(map(str, statuses))),
        "runs": frame.to_dict(orient="records"), "variants": by_variant,
    }
    artifacts.write_json(run_dir / artifacts.SUMMARY, summary)
    return summary


def _test_points(cfg: dict):
    """The test points to overlay on boundaries: the data set is rebuilt from the config (cheap for 2-D sets)."""
    from dlexp import data, experiment

    try:
        spec = experiment.expand(cfg)[0].spec
    except Exception:
        return None
    t = spec.trainer
    ds = data.load(spec.dataset, t.test_size, t.split_seed, t.stratify)
    return ds.x_test, ds.y_test
