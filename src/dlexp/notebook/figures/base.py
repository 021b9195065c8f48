"""What every exercise's figures share: saving one, building each on its own, the captions' common
phrases and the bar chart of a metric per variant."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Callable, Optional

import pandas as pd

from dlexp import artifacts
from dlexp.notebook.exercises import Exercise
from dlexp.notebook.figures.runs import Run, chance_level, load_runs, metric_frame, seeds_range, variant_order
from dlexp.report import aggregate, charts

FigureList = list[tuple[Path, str]]
FIGURES_DIR = "figures"
ACCURACY_METRICS = ("test_accuracy", "final_val_accuracy", "best_val_accuracy")


def skipped(what: str, err: BaseException) -> None:
    print(f"[dlexp] report figure {what} skipped: {type(err).__name__}: {err}", file=sys.stderr)


def save(ex_dir: Path, name: str, fig) -> Path:
    path = Path(ex_dir) / FIGURES_DIR / f"{name}.png"
    artifacts.save_figure(path, fig)
    return path


class Collector:
    """Builds figures one by one; a figure that raises is skipped (with a note on stderr), the others stay."""

    def __init__(self, ex_name: str) -> None:
        self.ex_name, self.items = ex_name, []

    def add(self, name: str, build: Callable[[], Optional[tuple[Path, str]]]) -> None:
        try:
            item = build()
        except Exception as err:
            skipped(f"{self.ex_name}/{name}", err)
            return
        if item is not None:
            self.items.append(item)


def seeds_note(frame: pd.DataFrame) -> str:
    lo, hi = seeds_range(frame)
    return f"{hi} seeds per variant" if lo == hi else f"{lo}-{hi} seeds per variant"


def bar_caption(frame: pd.DataFrame, what: str) -> str:
    lo, _ = seeds_range(frame)
    if lo >= 2:
        ci = ("error bars are 95% bootstrap intervals over seeds (within the seeds' values; with few seeds "
              "they are too narrow, the claims' tests decide); a triangle at the edge of the axis marks an "
              "interval that runs off it")
    else:
        ci = "error bars need at least 2 seeds per variant and are missing where there is one"
    return f"{what}: bar = mean over seeds ({seeds_note(frame)}), {ci}; black dots are the individual seeds."


def epoch_note(history: pd.DataFrame) -> str:
    if history.empty:
        return ""
    last = history.groupby(["variant", "seed"])["epoch"].max()
    if last.nunique() > 1:
        return (" Runs that stopped early (early stopping) end earlier; later epochs average the seeds still training.")
    return ""


def spread_words(spread: str, n: int) -> str:
    """What ``charts.lines_vs`` drew around the mean: a band, a dot per seed, or nothing (one seed)."""
    if n <= 1:
        return "one seed, so no spread to show"
    return "shaded: 95% confidence band" if spread == aggregate.BAND else "dots: the individual seeds"


def bars_figure(ex_dir: Path, runs: list[Run], order: list[str], name: str, title: str, metric: str = "test_accuracy",
                ylabel: str = "Test accuracy", what: str = "Test accuracy per variant") -> Optional[tuple[Path, str]]:
    """Bars of ``metric`` per variant, saved as ``name``; None when no run has it."""
    frame = metric_frame(runs, metric)
    if frame.empty:
        return None
    accuracy = metric in ACCURACY_METRICS
    fig = charts.ci_bars(frame, ylabel=ylabel, title=title, order=order, accuracy=accuracy,
                         chance=chance_level(runs) if accuracy else None)
    cap = bar_caption(frame, what)
    if accuracy and chance_level(runs):
        cap += " The dotted line is chance (1 / number of classes)."
    return save(ex_dir, name, fig), cap


def bars_for_presets(ex: Exercise, ex_dir: Path, out: Collector, title: str, what: str) -> None:
    """Test accuracy bars for each preset folder of the exercise (its presets, then any others)."""
    dirs = preset_dirs(ex, ex_dir)
    for preset_dir in dirs:
        runs = load_runs(preset_dir)
        name = preset_dir.name
        which = f" (preset {name})" if len(dirs) > 1 else ""
        out.add(f"{name}_test_accuracy", lambda runs=runs, d=preset_dir, name=name, which=which: bars_figure(
            ex_dir, runs, variant_order(d, runs), f"{name}_test_accuracy", title + which, what=what + which))


def preset_dirs(ex: Exercise, ex_dir: Path) -> list[Path]:
    """The exercise's presets that were run, then any other preset folders (e.g. real_dataset_mnist)."""
    ex_dir = Path(ex_dir)
    found = [ex_dir / p for p in ex.presets if (ex_dir / p).is_dir()]
    if ex_dir.is_dir():
        found += [d for d in sorted(ex_dir.iterdir()) if d.is_dir() and d not in found
                  and d.name not in ("analysis", FIGURES_DIR) and (d / "runs").is_dir()]
    return found
