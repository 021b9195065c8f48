"""``dlexp report DIR`` for a run, an experiment or a Hydra sweep folder.

One row per run folder in results.csv (its overrides, status, final metrics,
parameters, wall time), a rich table on the terminal, overlaid learning curves,
and the failed/diverged runs listed. Works when jobs failed: it reads whatever
folders exist (Hydra skips its end-of-sweep callback when a job fails).

What was swept is found by comparing the runs' config.yaml (or, without one,
their overrides): every config value that differs between runs, except the
seed (runs that differ only in seed are repeats) and bookkeeping such as the
name. A key that only follows another (``activation.alpha`` when
``activation`` is swept) is folded into it. Then, in ``plots/``:

* ``curves_by_<key>.png`` per swept key: training loss and validation accuracy
  over epochs, one colour per value (thick: mean over the runs with that
  value; thin: each run);
* ``heatmap.png`` when exactly two keys vary: mean test accuracy per pair of values.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Optional

import pandas as pd

from dlexp import artifacts, plots
from dlexp.compare import run_folders, summary_row

# Config keys that never count as swept: replicates and bookkeeping.
IGNORED_KEYS = ("trainer.seed", "seeds", "name", "variant", "description", "output_root", "trainer.progress",
                "trainer.threads")
IGNORED_PREFIXES = ("variants.", "grid.", "hydra.")


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


def flatten(cfg: Any, prefix: str = "") -> dict:
    """{"optimizer": {"learning_rate": 0.01}} -> {"optimizer.learning_rate": 0.01}; lists become tuples."""
    out = {}
    if isinstance(cfg, dict):
        for k, v in cfg.items():
            key = f"{prefix}.{k}" if prefix else str(k)
            if isinstance(v, dict) and v:
                out.update(flatten(v, key))
            else:
                out[key] = _hashable(v)
    return out


def _hashable(v: Any) -> Any:
    if isinstance(v, (list, tuple)):
        return tuple(_hashable(x) for x in v)
    if isinstance(v, dict):
        return tuple(sorted((str(k), _hashable(x)) for k, x in v.items()))
    return v


def _parse_overrides(overrides: list[str]) -> dict:
    """Hydra task overrides ("a.b=1", "+exp=x", "~c") as a flat dict of typed values."""
    import yaml

    out = {}
    for o in overrides or []:
        if "=" not in o or o.startswith("~"):
            continue
        key, value = o.split("=", 1)
        key = key.lstrip("+")
        try:
            out[key] = _hashable(yaml.safe_load(value))
        except yaml.YAMLError:
            out[key] = value
    return out


def run_configs(root: Path, frame: pd.DataFrame) -> list[dict]:
    """One flat config per row of ``frame``: the run folder's config.yaml, else its overrides."""
    import yaml

    configs = []
    for _, r in frame.iterrows():
        folder = Path(root) / r["folder"]
        cfg = {}
        try:
            cfg = flatten(yaml.safe_load((folder / artifacts.CONFIG).read_text()) or {})
        except (OSError, yaml.YAMLError):
            pass
        if not cfg:
            cfg = _parse_overrides(str(r.get("overrides") or "").split())
        configs.append(cfg)
    return configs


def _ignored(key: str) -> bool:
    return key in IGNORED_KEYS or key.startswith(IGNORED_PREFIXES)


def varying_keys(configs: list[dict]) -> list[str]:
    """The config keys whose value differs between runs (the swept ones), without seeds, bookkeeping
    and keys that merely follow another swept key (each of whose values fixes theirs).

    Example:
        >>> varying_keys([{"lr": 0.1, "bs": 8, "trainer.seed": 1}, {"lr": 0.2, "bs": 8, "trainer.seed": 2}])
        ['lr']
    """
    if len(configs) < 2:
        return []
    keys = list(dict.fromkeys(k for c in configs for k in c))
    varying = [k for k in keys if not _ignored(k) and len({repr(c.get(k)) for c in configs}) > 1]
    # most distinct values first, so a key like activation.name is kept and activation.alpha folded into it
    ranked = sorted(varying, key=lambda k: -len({repr(c.get(k)) for c in configs}))
    kept: list[str] = []
    for k in ranked:
        if not any(_follows(configs, k, a) for a in kept):
            kept.append(k)
    return [k for k in varying if k in kept]  # back in config order


def _follows(configs: list[dict], key: str, leader: str) -> bool:
    """True when every value of ``leader`` comes with a single value of ``key``."""
    seen: dict[str, str] = {}
    for c in configs:
        a, b = repr(c.get(leader)), repr(c.get(key))
        if seen.setdefault(a, b) != b:
            return False
    return True


def short_key(key: str) -> str:
    """"optimizer.learning_rate" -> "learning_rate"; "activation.name" stays whole (a bare "name" says nothing)."""
    parts = key.split(".")
    return ".".join(parts[-2:]) if parts[-1] in ("name", "kind", "value", "enabled") and len(parts) > 1 else parts[-1]


def value_label(v: Any) -> str:
    """How a swept value is printed: lists of widths as 64-64-64, numbers in short form."""
    if isinstance(v, tuple):
        return "-".join(value_label(x) for x in v)
    if isinstance(v, float):
        return f"{v:g}"
    return str(v)


def _sort_key(v: Any):
    if isinstance(v, bool) or v is None:
        return (0, str(v))
    if isinstance(v, (int, float)):
        return (1, float(v), "")
    if isinstance(v, tuple):
        return (2, len(v), str(v))
    return (3, str(v))


def swept_frame(frame: pd.DataFrame, configs: list[dict], keys: list[str]) -> pd.DataFrame:
    """``frame`` plus one column per swept key (the raw value) and its label (``<key> label``)."""
    out = frame.copy()
    for k in keys:
        out[k] = [c.get(k) for c in configs]
    return out


def curves_by_value(root: Path, frame: pd.DataFrame, key: str) -> Optional[Any]:
    """Training loss and validation accuracy over epochs, one colour per value of ``key`` (thin: each run)."""
    from dlexp import exercise_plots as ep

    parts = []
    values = sorted({v for v in frame[key] if v is not None} | ({None} if frame[key].isna().any() else set()),
                    key=_sort_key)
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
    return ep.metric_curves(history, panels, spread=ep.SEEDS, order=order,
                            title=f"{_sweep_name(root, frame)}: learning curves by {key}\n"
                                  f"thick: mean of the runs with that value; thin: each of the {n_runs} runs")


def _sweep_name(root: Path, frame: pd.DataFrame) -> str:
    """The experiment's name when all runs share one (Hydra's sweep folder is only a time stamp), else the folder."""
    names = set(frame["name"].dropna()) if "name" in frame else set()
    return f"{names.pop()} sweep" if len(names) == 1 else Path(root).name


def heatmap(frame: pd.DataFrame, keys: list[str], root: Path) -> Optional[Any]:
    """Mean test accuracy per pair of values of the two swept ``keys``; cells whose runs all failed
    (or diverged without a test accuracy) say so instead of vanishing."""
    from dlexp import exercise_plots as ep

    row_key, col_key = keys
    rows = sorted({_hashable(v) for v in frame[row_key]}, key=_sort_key)
    cols = sorted({_hashable(v) for v in frame[col_key]}, key=_sort_key)
    if len(rows) * len(cols) == 0:
        return None
    # heatmaps sorts what it is given: pass positions, label them with the values
    pos = pd.DataFrame({"panel": "all", "row": [rows.index(_hashable(v)) for v in frame[row_key]],
                        "col": [cols.index(_hashable(v)) for v in frame[col_key]], "seed": range(len(frame)),
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
    from dlexp import optuna_results

    optuna_results.report(root, console)  # best trials, when an Optuna sweeper ran; nothing otherwise
    histories = {}
    for _, r in frame.iterrows():
        path = root / r["folder"] / artifacts.METRICS
        if path.exists() and path.stat().st_size:
            df = pd.read_csv(path)
            if len(df):
                histories[r["overrides"] or r["folder"]] = df
    if histories:
        artifacts.save_figure(root / artifacts.PLOTS / "learning_curves.png", plots.learning_curves(histories))
    for path in write_sweep_plots(root, frame):
        console.print(f"plot: {path}")
    bad = frame[~frame["status"].isin(["completed"])]
    for _, r in bad.iterrows():
        console.print(f"[bold]{r['status']}[/bold]: {r['folder']} {r['overrides']} {r['error'] or ''}")
    console.print(f"results: {root / 'results.csv'}")
    return 0
