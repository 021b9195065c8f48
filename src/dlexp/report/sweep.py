"""``dlexp report DIR`` for a run, an experiment or a Hydra sweep folder.

One row per run folder in results.csv (its overrides, status, final metrics,
parameters, wall time), a rich table on the terminal, overlaid learning curves,
and the failed/diverged runs listed. Works when jobs failed: it reads whatever
folders exist (Hydra skips its end-of-sweep callback when a job fails).

What was swept is found by comparing the runs' configs (``sweep_keys.py``). Then, in ``plots/``:

* ``curves_by_<key>.png`` per swept key: training loss and validation accuracy
  over epochs, one colour per value (thick: mean over the runs with that
  value; thin: each run, when a value has more than one);
* ``heatmap.png`` when exactly two keys vary: mean test accuracy per pair of values.

``print_sweep_summary`` is the one table a ``-m`` sweep prints when it ends (all
jobs: folder, variant, seed, status, test accuracy, parameters, epochs), called by
the sweep callback in hydra_plugins/dlexp_launcher for every launcher.
"""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any, Optional, Sequence

import pandas as pd

from dlexp import artifacts
from dlexp.report import plots
from dlexp.report.compare import run_folders, summary_row
from dlexp.report.sweep_keys import (hashable, run_configs, short_key, swept_frame, value_label,
                                     value_sort_key, varying_keys)


def job_number(name: str) -> Optional[int]:
    """The job number a sweep's job folder starts with: "3_activation=elu" -> 3, "3" -> 3, "plots" -> None."""
    m = re.match(r"(\d+)(?:_|$)", str(name))
    return int(m.group(1)) if m else None


def natural_key(path: Any) -> tuple:
    """Sort key for folder paths with numbers in them: 2_x before 10_x (job order, not text order)."""
    return tuple((0, int(t), "") if t.isdigit() else (1, 0, t) for t in re.split(r"(\d+)", str(path)) if t)


def sweep_frame(root: Path) -> pd.DataFrame:
    rows = []
    for folder in sorted(run_folders(root), key=lambda f: natural_key(f.relative_to(root))):
        s = artifacts.read_summary(folder / artifacts.SUMMARY)
        row = summary_row(s)
        row["folder"] = str(folder.relative_to(root)) or "."
        row["overrides"] = " ".join(s.get("overrides") or [])
        row["name"] = s.get("name")
        row["wall_seconds"] = (s.get("timings") or {}).get("total_seconds")
        row["error"] = s.get("error")
        rows.append(row)
    return pd.DataFrame(rows)


def curves_by_value(root: Path, frame: pd.DataFrame, key: str) -> Optional[Any]:
    """Training loss and validation accuracy over epochs, one colour per value of ``key`` (thin: each run)."""
    from dlexp.report import charts as ep
    from dlexp.report.aggregate import SEEDS

    parts = []
    values = sorted({v for v in frame[key] if v is not None} | ({None} if frame[key].isna().any() else set()),
                    key=value_sort_key)
    order = [f"{short_key(key)}={value_label(v)}" for v in values]
    for i, (_, r) in enumerate(frame.iterrows()):
        path = Path(root) / r["folder"] / artifacts.METRICS
        try:
            h = pd.read_csv(path)
        except (FileNotFoundError, pd.errors.EmptyDataError):
            continue
        if len(h) and "epoch" in h:
            parts.append(h.assign(variant=f"{short_key(key)}={value_label(r[key])}", seed=i))
    if not parts:
        return None
    history = pd.concat(parts, ignore_index=True)
    panels = [(c, t, y) for c, t, y in (("loss", "Training loss", "Loss"),
                                        ("val_accuracy", "Validation accuracy", "Validation accuracy"))
              if c in history and history[c].notna().any()]
    if not panels:
        return None
    n_runs = len(parts)
    # thin lines are drawn only for a value with several runs (metric_curves, spread=SEEDS): say so only then
    if history.groupby("variant")["seed"].nunique().max() > 1:
        how = f"thick: mean of the runs with that value; thin: each run ({n_runs} runs)"
    else:
        how = f"one run per value ({n_runs} runs)"
    return ep.metric_curves(history, panels, spread=SEEDS, order=order,
                            title=f"{_sweep_name(root, frame)}: learning curves by {key}\n{how}")


def _sweep_name(root: Path, frame: pd.DataFrame) -> str:
    """The experiment's name when all runs share one (Hydra's sweep folder is only a time stamp), else the folder."""
    names = set(frame["name"].dropna()) if "name" in frame else set()
    return f"{names.pop()} sweep" if len(names) == 1 else Path(root).name


def heatmap(frame: pd.DataFrame, keys: list[str], root: Path) -> Optional[Any]:
    """Mean test accuracy per pair of values of the two swept ``keys``; cells whose runs all failed
    (or diverged without a test accuracy) say so instead of vanishing."""
    from dlexp.report import charts as ep

    row_key, col_key = keys
    rows = sorted({hashable(v) for v in frame[row_key]}, key=value_sort_key)
    cols = sorted({hashable(v) for v in frame[col_key]}, key=value_sort_key)
    if len(rows) * len(cols) == 0:
        return None
    # heatmaps sorts what it is given: pass positions, label them with the values
    pos = pd.DataFrame({"panel": "all", "row": [rows.index(hashable(v)) for v in frame[row_key]],
                        "col": [cols.index(hashable(v)) for v in frame[col_key]], "seed": range(len(frame)),
                        "value": pd.to_numeric(frame["test_accuracy"], errors="coerce").to_numpy(),
                        "status": frame["status"].astype(str).to_numpy()})
    ok = pos[pos["status"].isin(["completed", "diverged"]) & pos["value"].notna()]
    if ok.empty:
        return None
    notes = {("all", r, c): "\n".join(f"{n} {s}" for s, n in g["status"].value_counts().items())
             for (r, c), g in pos.groupby(["row", "col"])}
    fig = ep.heatmaps(ok, panel="panel", row="row", col="col", row_label=row_key, col_label=col_key,
                      title=f"{_sweep_name(root, frame)}: mean test accuracy over the runs of each cell",
                      panel_label=lambda _: f"{row_key} x {col_key}", fmt="{:.3f}",
                      rows=range(len(rows)), cols=range(len(cols)), notes=notes)
    ax = fig.axes[0]
    ax.set_yticks(range(len(rows)))
    ax.set_yticklabels([value_label(v) for v in rows])
    ax.set_xticks(range(len(cols)))
    ax.set_xticklabels([value_label(v) for v in cols])
    return fig


def write_sweep_plots(root: Path, frame: pd.DataFrame) -> list[Path]:
    """curves_by_<key>.png per swept key and heatmap.png for exactly two; returns what was written."""
    import sys

    configs = run_configs(root, frame)
    keys = varying_keys(configs)
    if not keys:
        return []
    swept = swept_frame(frame, configs, keys)
    written = []
    jobs = [(f"curves_by_{k.replace('.', '_')}", lambda k=k: curves_by_value(root, swept, k)) for k in keys]
    if len(keys) == 2:
        jobs.append(("heatmap", lambda: heatmap(swept, keys, root)))
    for name, build in jobs:
        try:
            fig = build()
        except Exception as err:  # a plot must never cost the results table
            print(f"[dlexp] sweep plot {name} skipped: {type(err).__name__}: {err}", file=sys.stderr)
            continue
        if fig is not None:
            path = root / artifacts.PLOTS / f"{name}.png"
            artifacts.save_figure(path, fig)
            written.append(path)
    return written


def split_overrides(overrides: Sequence[Sequence[str]]) -> tuple[list[str], list[list[str]]]:
    """(the overrides every run shares, each run's others): what a table column needs to show.

    With one run nothing is "shared": its overrides stay in its row.
    """
    lists = [list(o or []) for o in overrides]
    if len(lists) < 2:
        return [], lists
    shared = [o for o in lists[0] if all(o in other for other in lists[1:])]
    return shared, [[o for o in row if o not in shared] for row in lists]


def _cell(v: Any, fmt: str = "{:.3f}") -> str:
    """A table cell: numbers with ``fmt``, missing values as "-", the rest as text."""
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "-"
    if isinstance(v, (str, bool)):
        return str(v)
    try:
        return fmt.format(v)
    except (TypeError, ValueError):
        return str(v)


# How the tables print each number column.
FORMATS = {"seed": "{:.0f}", "test_accuracy": "{:.3f}", "param_count": "{:,.0f}", "epochs_run": "{:.0f}",
           "wall_seconds": "{:.1f}"}


def _overrides_of(summary: dict) -> list[str]:
    return [str(o) for o in summary.get("overrides") or []]


def job_folders(sweep_dir: Path) -> list[Path]:
    """A Hydra sweep folder's job folders (``.hydra/`` or a summary.json inside), in job order."""
    sweep_dir = Path(sweep_dir)
    if not sweep_dir.is_dir():
        return []
    jobs = [p for p in sweep_dir.iterdir()
            if p.is_dir() and ((p / ".hydra").is_dir() or (p / artifacts.SUMMARY).is_file())]
    return sorted(jobs, key=lambda p: (job_number(p.name) is None, job_number(p.name) or 0, natural_key(p.name)))


def sweep_rows(sweep_dir: Path) -> list[dict]:
    """One row per run of the sweep's jobs (an experiment job has a run per variant and seed)."""
    rows = []
    for job in job_folders(sweep_dir):
        runs = sorted(run_folders(job), key=lambda f: natural_key(f.relative_to(job)))
        if not runs:  # the job failed before it trained anything
            s = artifacts.read_summary(job / artifacts.SUMMARY) if (job / artifacts.SUMMARY).is_file() else {}
            rows.append({"job": job.name, "variant": None, "seed": None, "status": s.get("status", "no result"),
                         "test_accuracy": None, "param_count": None, "epochs_run": None, "overrides": []})
            continue
        for folder in runs:
            s = artifacts.read_summary(folder / artifacts.SUMMARY)
            rows.append({"job": job.name, **summary_row(s), "name": s.get("name"), "overrides": _overrides_of(s)})
    return rows


def sweep_summary_table(rows: list[dict], title: str = "sweep"):
    """The end-of-sweep table: a row per run (job folder, variant when there are any, seed, status, test
    accuracy, parameters, epochs). Long folder names wrap instead of being cut at the terminal's width."""
    from rich.table import Table

    shared, _ = split_overrides([r.get("overrides") for r in rows])
    table = Table(title=title, caption=f"shared by every job: {' '.join(shared)}" if shared else None)
    show_variant = any(r.get("variant") not in (None, "default") for r in rows)
    table.add_column("job", overflow="fold", min_width=12)
    if show_variant:
        table.add_column("variant", overflow="fold", min_width=8)
    cols = [("seed", "seed"), ("status", "status"), ("test_accuracy", "test acc"), ("param_count", "params"),
            ("epochs_run", "epochs")]
    for c, header in cols:
        table.add_column(header, justify="left" if c == "status" else "right", no_wrap=True)
    for r in rows:
        cells = [r["job"]] + ([_cell(r.get("variant"))] if show_variant else [])
        table.add_row(*cells, *(_cell(r.get(c), FORMATS.get(c, "{}")) for c, _ in cols))
    return table


def print_sweep_summary(sweep_dir: Path, console=None) -> list[str]:
    """Print one table of all the jobs of the sweep in ``sweep_dir`` (read from their folders), then the
    folder. Returns the runs' statuses."""
    from rich.console import Console

    sweep_dir = Path(sweep_dir)
    console = console or Console()
    rows = sweep_rows(sweep_dir)
    if not rows:
        return []
    jobs = len({r["job"] for r in rows})
    counts: dict = {}
    for r in rows:
        counts[r["status"]] = counts.get(r["status"], 0) + 1
    names = {r.get("name") for r in rows} - {None}
    name = names.pop() if len(names) == 1 else None
    what = f"{jobs} job{'s' if jobs != 1 else ''}" + (f", {len(rows)} runs" if len(rows) != jobs else "")
    title = (f"{name} sweep" if name else "sweep") + f": {what} ({', '.join(f'{n} {s}' for s, n in counts.items())})"
    console.print(sweep_summary_table(rows, title))
    console.print(f"outputs: {sweep_dir}\nreport:  dlexp report {sweep_dir}")
    return [str(r["status"]) for r in rows]


def write_sweep_report(root: Path) -> int:
    """results.csv, the table on the terminal, Optuna's best trials, the learning curves and the sweep plots
    of the run folders under ``root``; 1 when there are none."""
    from rich.console import Console

    from dlexp.report import optuna as optuna_results

    root = Path(root)
    frame = sweep_frame(root)
    console = Console()
    if frame.empty:
        _refuse_unreadable_summaries(root)
        console.print(f"no run folders (with summary.json) under {root}")
        return 1
    artifacts.write_dataframe(root / "results.csv", frame)  # every run's full overrides
    shared, own = split_overrides([str(o).split() for o in frame["overrides"].fillna("")])
    console.print(results_table(root, frame, shared, own))
    optuna_results.report(root, console)  # best trials, when an Optuna sweeper ran; nothing otherwise
    _write_learning_curves(root, frame, own)
    for path in write_sweep_plots(root, frame):
        console.print(f"plot: {path}")
    bad = frame[~frame["status"].isin(["completed"])]
    for _, r in bad.iterrows():
        console.print(f"[bold]{r['status']}[/bold]: {r['folder']} {r['overrides']} {r['error'] or ''}")
    console.print(f"results: {root / 'results.csv'}")
    return 0


def _refuse_unreadable_summaries(root: Path) -> None:
    """No run found because a summary.json is cut off: say which, rather than that there are no runs."""
    for path in sorted(Path(root).rglob(artifacts.SUMMARY)):
        try:
            artifacts.read_json(path)
        except (OSError, ValueError):
            from dlexp.errors import ConfigError

            raise ConfigError(str(path), "unreadable JSON", "a summary.json as dlexp writes it "
                              "(the run may have been cut off: run it again, or remove its folder)") from None


def results_table(root: Path, frame: pd.DataFrame, shared: list[str], own: list[list[str]]):
    """The runs' table on the terminal: the overrides all runs share are said once, under it; long folder
    names and overrides wrap (fold) instead of being cut at the terminal's width."""
    from rich.table import Table

    table = Table(title=f"{root}: {len(frame)} runs",
                  caption=f"shared by every run: {' '.join(shared)}" if shared else None)
    # A sweep's job folders are named by their overrides (0_activation=elu): then a column of them says it twice.
    named = all(all(o in str(folder) for o in mine) for folder, mine in zip(frame["folder"], own))
    cols = [("folder", "folder")] + ([] if named else [("overrides", "overrides")]) + [
        ("status", "status"), ("test_accuracy", "test acc"), ("param_count", "params"), ("epochs_run", "epochs"),
        ("wall_seconds", "wall s")]
    for c, header in cols:
        if c in ("folder", "overrides"):
            table.add_column(header, overflow="fold", min_width=6 if c == "folder" else 10)
        else:
            table.add_column(header, justify="left" if c == "status" else "right", no_wrap=True)
    for (_, r), mine in zip(frame.iterrows(), own):
        values = {**r.to_dict(), "overrides": " ".join(mine) or "-"}
        table.add_row(*(str(values[c]) if c in ("folder", "overrides") else _cell(values[c], FORMATS.get(c, "{}"))
                        for c, _ in cols))
    return table


def _write_learning_curves(root: Path, frame: pd.DataFrame, own: list[list[str]]) -> None:
    """plots/learning_curves.png: every run's curves, each named by what it changes."""
    histories = {}
    for (_, r), mine in zip(frame.iterrows(), own):
        path = root / r["folder"] / artifacts.METRICS
        if path.exists() and path.stat().st_size:
            df = pd.read_csv(path)
            if len(df):
                histories[_curve_label(r, mine, histories)] = df
    if histories:
        artifacts.save_figure(root / artifacts.PLOTS / "learning_curves.png",
                              plots.learning_curves(histories, title=f"{_sweep_name(root, frame)}: learning curves"))


def _curve_label(row: Any, own_overrides: list[str], taken: dict) -> str:
    """A run's name in the learning-curve legend: what it changes (and its variant), not the shared overrides."""
    parts = list(own_overrides)
    variant = row.get("variant")
    if isinstance(variant, str) and variant not in ("", "default"):
        parts.append(variant)
    label = " ".join(parts) or str(row["folder"])
    if label in taken and pd.notna(row.get("seed")):
        label = f"{label} seed={row['seed']}"
    return label if label not in taken else str(row["folder"])
