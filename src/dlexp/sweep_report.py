"""``dlexp report DIR`` for a run, an experiment or a Hydra sweep folder.

One row per run folder in results.csv (its overrides, status, final metrics,
parameters, wall time), a rich table on the terminal, overlaid learning curves,
and the failed/diverged runs listed. Works when jobs failed: it reads whatever
folders exist (Hydra skips its end-of-sweep callback when a job fails).
"""

from __future__ import annotations

from pathlib import Path

import pandas as pd

from dlexp import artifacts, plots
from dlexp.compare import run_folders, summary_row


def sweep_frame(root: Path) -> pd.DataFrame:
    rows = []
    for folder in run_folders(root):
        s = artifacts.read_json(folder / artifacts.SUMMARY)
        row = summary_row(s)
        row["folder"] = str(folder.relative_to(root)) or "."
        row["overrides"] = " ".join(s.get("overrides") or [])
        row["name"] = s.get("name")
        row["wall_seconds"] = (s.get("timings") or {}).get("total_seconds")
        row["error"] = s.get("error")
        rows.append(row)
    return pd.DataFrame(rows)


def write_sweep_report(root: Path) -> int:
    from rich.console import Console
    from rich.table import Table

    root = Path(root)
    frame = sweep_frame(root)
    console = Console()
    if frame.empty:
        console.print(f"no run folders (with summary.json) under {root}")
        return 1
    artifacts.write_dataframe(root / "results.csv", frame)
    table = Table(title=f"{root}: {len(frame)} runs")
    cols = ["folder", "overrides", "status", "test_accuracy", "param_count", "epochs_run", "wall_seconds"]
    for c in cols:
        table.add_column(c)
    for _, r in frame.iterrows():
        table.add_row(*("-" if pd.isna(r[c]) else (f"{r[c]:.3f}" if isinstance(r[c], float) else str(r[c])) for c in cols))
    console.print(table)
    histories = {}
    for _, r in frame.iterrows():
        path = root / r["folder"] / artifacts.METRICS
        if path.exists() and path.stat().st_size:
            df = pd.read_csv(path)
            if len(df):
                histories[r["overrides"] or r["folder"]] = df
    if histories:
        artifacts.save_figure(root / artifacts.PLOTS / "learning_curves.png", plots.learning_curves(histories))
    bad = frame[~frame["status"].isin(["completed"])]
    for _, r in bad.iterrows():
        console.print(f"[bold]{r['status']}[/bold]: {r['folder']} {r['overrides']} {r['error'] or ''}")
    console.print(f"results: {root / 'results.csv'}")
    return 0
