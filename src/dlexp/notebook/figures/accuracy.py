"""Figures of test accuracy against what was varied: shallow vs deep, depth and width (Exercise 1),
the activation of a deep net (Practice 1), learning rate x batch size (Practice 4), depth per
architecture (Practice 5), and the networks of the real-data and custom-activation exercises."""

from __future__ import annotations

import math
from pathlib import Path

import pandas as pd

from dlexp.notebook.exercises import Exercise
from dlexp.notebook.figures.base import (Collector, FigureList, bar_caption, bars_figure, bars_for_presets, save,
                                             spread_words)
from dlexp.notebook.figures.runs import Run, chance_level, metric_frame, preset, variant_order
from dlexp.notebook.metrics import measure
from dlexp.report import aggregate, charts

DEPTH_PANEL, WIDTH_PANEL = "vs depth (100 units per layer)", "vs width (3 hidden layers)"
# deepest_network's lines: plain MLPs solid, residual dashed; BatchNorm blue, none red
ARCHITECTURE_STYLES = {"plain, no BN": {"color": "C3", "ls": "-", "marker": "o"},
                       "plain, BN": {"color": "C0", "ls": "-", "marker": "s"},
                       "residual, no BN": {"color": "C3", "ls": "--", "marker": "o"},
                       "residual, BN": {"color": "C0", "ls": "--", "marker": "s"}}


def shallow_vs_deep(ex: Exercise, ex_dir: Path) -> FigureList:
    """Exercise 1: shallow vs deep bars, and accuracy against depth and against width (Your Turn 1-2)."""
    out = Collector(ex.name)
    main_dir, main_runs = preset(ex_dir, "shallow_vs_deep")
    out.add("test_accuracy", lambda: bars_figure(ex_dir, main_runs, variant_order(main_dir, main_runs),
                                                 "test_accuracy", "Shallow [1000] vs deep [100, 100, 100]",
                                                 what="Test accuracy, shallow vs deep"))
    out.add("accuracy_vs_depth_and_width", lambda: _depth_and_width(ex_dir))
    return out.items


def _depth_and_width(ex_dir: Path):
    rows, chance = [], None
    for name, panel, x_of in (("shallow_vs_deep_depth", DEPTH_PANEL, len),
                              ("shallow_vs_deep_width", WIDTH_PANEL, lambda h: int(h[0]))):
        _, runs = preset(ex_dir, name)
        chance = chance or chance_level(runs)
        for r in runs:
            hidden, acc = r.get("model.hidden") or [], measure(r.record, "test_accuracy")
            if hidden and not math.isnan(acc):
                rows.append({"panel": panel, "x": x_of(hidden), "seed": r.seed, "value": acc})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return None
    n, spread = aggregate.n_seeds(frame), aggregate.spread_for(aggregate.n_seeds(frame))
    fig = charts.lines_vs(frame, x="x", xlabel="", ylabel="Test accuracy", panel="panel", spread=spread, accuracy=True,
                          chance=chance, sharex=False, logx={WIDTH_PANEL},
                          title="Exercise 1, Your Turn: test accuracy vs depth and vs width",
                          xlabels={DEPTH_PANEL: "Hidden layers", WIDTH_PANEL: "Units per hidden layer"})
    cap = (f"Test accuracy (mean over {n} seed{'s' if n != 1 else ''}; {spread_words(spread, n)}) against the "
           "number of hidden layers of 100 units (left, preset shallow_vs_deep_depth) and against the width of 3 "
           "hidden layers (right, preset shallow_vs_deep_width; log axis). Depth and width read from each run's "
           "config.yaml; the dotted line is chance.")
    return save(ex_dir, "accuracy_vs_depth_and_width", fig), cap


def deep_activations(ex: Exercise, ex_dir: Path) -> FigureList:
    """Practice 1: final test accuracy and convergence speed of a 10-layer net per activation."""
    out = Collector(ex.name)
    preset_dir, runs = preset(ex_dir, "deep_activations")
    out.add("accuracy_and_speed", lambda: _accuracy_and_speed(ex_dir, runs, variant_order(preset_dir, runs)))
    return out.items


def _accuracy_and_speed(ex_dir: Path, runs: list[Run], order: list[str]):
    acc = metric_frame(runs, "test_accuracy")
    speed = metric_frame(runs, "epochs_to_90pct_val_accuracy")
    panels = []
    if not acc.empty:
        panels.append({"frame": acc, "ylabel": "Test accuracy", "title": "Final accuracy",
                       "chance": chance_level(runs), "accuracy": True})
    if not speed.empty:
        panels.append({"frame": speed, "ylabel": "Epochs to 90% of the final validation accuracy",
                       "title": "Convergence speed (lower = faster)", "fmt": "{:.1f}"})
    if not panels:
        return None
    fig = charts.bar_panels(panels, title="A 10-layer network with each activation", order=order)
    cap = bar_caption(acc if not acc.empty else speed, "Left: test accuracy; right: the first epoch at which "
                      "validation accuracy reaches 90% of its final value (convergence speed)")
    return save(ex_dir, "accuracy_and_speed", fig), cap


def hyperparameter_study(ex: Exercise, ex_dir: Path) -> FigureList:
    """Practice 4: heatmaps of mean test accuracy, learning rate x batch size, one panel per depth."""
    out = Collector(ex.name)
    _, runs = preset(ex_dir, "hyperparameter_study")
    out.add("heatmaps", lambda: _heatmaps(ex_dir, runs))
    return out.items


def _heatmaps(ex_dir: Path, runs: list[Run]):
    rows = []
    for r in runs:
        lr, bs, hidden = r.get("optimizer.learning_rate"), r.get("trainer.batch_size"), r.get("model.hidden")
        acc = measure(r.record, "test_accuracy")
        if lr is None or bs is None or not hidden or math.isnan(acc):
            continue
        rows.append({"depth": len(hidden), "learning_rate": float(lr), "batch_size": int(bs),
                     "seed": r.seed, "value": acc})
    frame = pd.DataFrame(rows)
    if frame.empty:
        return None
    fig = charts.heatmaps(frame, panel="depth", row="learning_rate", col="batch_size",
                          title="Hyperparameter study: mean test accuracy", row_label="Learning rate",
                          col_label="Batch size", panel_label=lambda d: f"{d} hidden layer{'s' if d != 1 else ''}")
    per_cell = frame.groupby(["depth", "learning_rate", "batch_size"])["seed"].nunique()
    seeds = f"{per_cell.max()}" if per_cell.min() == per_cell.max() else f"{per_cell.min()}-{per_cell.max()}"
    cap = (f"Mean test accuracy over seeds ({seeds} per cell) for each learning rate x batch size, "
           "one panel per depth (hidden layers of 64); "
           "values read from each run's config.yaml. One colour scale for all panels, spanning the observed "
           "means (not 0 to 1: read the numbers). The cells are means only: see the results table for the "
           "spread over seeds.")
    return save(ex_dir, "heatmaps", fig), cap


def deepest_network(ex: Exercise, ex_dir: Path) -> FigureList:
    """Practice 5: mean test accuracy against depth per architecture, normalization and initializer."""
    out = Collector(ex.name)
    _, runs = preset(ex_dir, "deepest_network")
    out.add("accuracy_vs_depth", lambda: _accuracy_vs_depth(ex_dir, runs))
    return out.items


def _accuracy_vs_depth(ex_dir: Path, runs: list[Run]):
    frame = pd.DataFrame([row for row in map(_architecture_row, runs) if row is not None])
    if frame.empty:
        return None
    inits = sorted(frame["init"].unique().tolist(), key=lambda s: (not s.startswith("glorot"), s))
    n, spread = aggregate.n_seeds(frame), aggregate.spread_for(aggregate.n_seeds(frame))
    widths = sorted(frame["width"].unique())
    xlabel = "Hidden layers" + (f" (width {widths[0]})" if len(widths) == 1 else "")
    fig = charts.lines_vs(frame, x="depth", xlabel=xlabel,
                          ylabel="Test accuracy", title="How deep can we train? Test accuracy vs depth", accuracy=True,
                          line="line", panel="init", spread=spread, chance=chance_level(runs),
                          styles=ARCHITECTURE_STYLES, line_order=list(ARCHITECTURE_STYLES), panel_order=inits)
    cap = (f"Mean test accuracy over {n} seed{'s' if n != 1 else ''} against the number of hidden layers, "
           "one line per architecture (plain MLP solid, residual dashed; BatchNorm blue, none red), one panel per "
           f"initializer; {spread_words(spread, n)}. Depth and settings read from each run's config.yaml. "
           "The dotted line is chance.")
    return save(ex_dir, "accuracy_vs_depth", fig), cap


def _architecture_row(r: Run):
    """A run's depth, architecture line, initializer panel and test accuracy; None without them."""
    hidden, acc = r.get("model.hidden") or [], measure(r.record, "test_accuracy")
    if not hidden or math.isnan(acc):
        return None
    kind = "residual" if r.get("model.kind") == "residual" else "plain"
    bn = "BN" if r.get("normalization.kind", "none") != "none" else "no BN"
    return {"depth": len(hidden), "line": f"{kind}, {bn}", "init": f"{r.get('initializer.name')} initialization",
            "seed": r.seed, "value": acc, "width": "/".join(map(str, sorted(set(hidden))))}


def real_dataset(ex: Exercise, ex_dir: Path) -> FigureList:
    out = Collector(ex.name)
    bars_for_presets(ex, ex_dir, out, "Real data set: test accuracy", "Test accuracy per network")
    return out.items


def custom_activation(ex: Exercise, ex_dir: Path) -> FigureList:
    out = Collector(ex.name)
    bars_for_presets(ex, ex_dir, out, "Custom activation: test accuracy", "Test accuracy per activation")
    return out.items
