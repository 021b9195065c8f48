"""The folder of a multi-run experiment: results table, overlaid curves, boundaries side by side."""

from __future__ import annotations

from pathlib import Path
from typing import Optional

import pandas as pd

from dlexp import artifacts, plots
from dlexp.experiment import Job

RESULT_COLUMNS = ["variant", "seed", "status", "test_accuracy", "test_loss", "param_count", "epochs_run",
                  "best_epoch", "fit_seconds", "subdir"]


def results_frame(summaries: list[dict]) -> pd.DataFrame:
    rows = []
    for s in summaries:
        rows.append({
            "variant": s.get("variant"), "seed": s.get("seed"), "status": s.get("status"),
            "test_accuracy": s.get("test_accuracy"), "test_loss": s.get("test_loss"),
            "param_count": s.get("param_count"), "epochs_run": s.get("epochs_run"),
            "best_epoch": s.get("best_epoch"), "fit_seconds": (s.get("timings") or {}).get("fit_seconds"),
            "subdir": s.get("subdir"),
        })
    return pd.DataFrame(rows, columns=RESULT_COLUMNS)


def write_comparison(cfg: dict, jobs: list[Job], summaries: list[dict], panels: list[Optional[dict]],
                     run_dir: Path) -> dict:
    run_dir = Path(run_dir)
    frame = results_frame(summaries)
    artifacts.write_dataframe(run_dir / "results.csv", frame)

    # Overlaid learning curves: the first seed of each variant, as in the notebook's figures.
    histories, shown_panels, seen = {}, [], set()
    for job, panel in zip(jobs, panels):
        if job.spec.variant in seen:
            continue
        seen.add(job.spec.variant)
        path = run_dir / job.subdir / artifacts.METRICS
        if path.exists() and path.stat().st_size:
            df = pd.read_csv(path)
            if len(df):
                histories[job.spec.variant] = df
        if panel is not None:
            acc = next((s.get("test_accuracy") for j, s in zip(jobs, summaries) if j is job), None)
            title = job.spec.variant + (f" (test acc {acc:.3f})" if isinstance(acc, float) else "")
            shown_panels.append({**panel, "title": title})
    out = run_dir / artifacts.PLOTS
    if histories:
        artifacts.save_figure(out / "learning_curves.png",
                              plots.learning_curves(histories, title=f"{cfg.get('name')}: learning curves"))
    if shown_panels:
        artifacts.save_figure(out / "decision_boundaries.png",
                              plots.decision_boundaries(shown_panels, title=f"{cfg.get('name')}: decision boundaries"))
    by_variant = (frame.groupby("variant", sort=False)
                  .agg(runs=("seed", "size"), test_accuracy_mean=("test_accuracy", "mean"),
                       param_count=("param_count", "first"))
                  .reset_index().to_dict(orient="records"))
    statuses = set(frame["status"])
    summary = {
        "kind": "experiment",
        "name": cfg.get("name"),
        "status": "completed" if statuses == {"completed"} else ",".join(sorted(statuses)),
        "runs": frame.to_dict(orient="records"),
        "variants": by_variant,
    }
    artifacts.write_json(run_dir / artifacts.SUMMARY, summary)
    return summary
