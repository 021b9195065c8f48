"""Figures the report adds per exercise, drawn from the run folders (e.g. dead units per initializer).

``FIGURES`` maps an exercise's name to a function (exercise, exercise_dir) -> list of (png path,
caption); it writes ``<exercise_dir>/figures/<name>.png``. The functions are grouped by what they
show: ``curves.py`` (metrics over epochs), ``layers.py`` (inside the network, layer by layer),
``accuracy.py`` (test accuracy against what was varied). ``runs.py`` reads the run folders into long
DataFrames (one row per run, epoch or layer, with ``variant`` and ``seed`` columns), the charts of
``report/charts.py`` draw them, and ``base.py`` saves each figure and holds the captions' common words.
Missing data means no figure: a preset that was not run, a metric the runs did not record, too few
epochs for a statistic. Each figure is built on its own, so one that fails costs only itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dlexp.notebook.exercises import Exercise
from dlexp.notebook.figures.accuracy import (custom_activation, deep_activations, deepest_network,
                                                 hyperparameter_study, real_dataset, shallow_vs_deep)
from dlexp.notebook.figures.base import FigureList, skipped
from dlexp.notebook.figures.curves import activation_comparison, batch_norm, gradient_clipping
from dlexp.notebook.figures.layers import dead_relu, representations, vanishing_gradients

FIGURES: dict[str, Callable[[Exercise, Path], FigureList]] = {
    "shallow_vs_deep": shallow_vs_deep,
    "vanishing_gradients": vanishing_gradients,
    "activation_comparison": activation_comparison,
    "representations": representations,
    "dead_relu": dead_relu,
    "gradient_clipping": gradient_clipping,
    "batch_norm": batch_norm,
    "deep_activations": deep_activations,
    "custom_activation": custom_activation,
    "hyperparameter_study": hyperparameter_study,
    "real_dataset": real_dataset,
    "deepest_network": deepest_network,
}


def exercise_figures(ex: Exercise, ex_dir: Path) -> FigureList:
    """The exercise's figures as (png path, caption); [] for an exercise without any, or when they fail."""
    fn = FIGURES.get(ex.name)
    if fn is None:
        return []
    try:
        return fn(ex, ex_dir)
    except Exception as err:  # a figure must never cost the report
        skipped(ex.name, err)
        return []
