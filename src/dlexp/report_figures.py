"""Figures the report adds per exercise, drawn from the run folders (e.g. dead units per initializer).

Registry: exercise name -> function(exercise, exercise_dir) -> list of (png path, caption).
The functions draw with ``plots`` and save through ``artifacts``; missing data means no figure.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from dlexp.exercises import Exercise

FigureList = list[tuple[Path, str]]
FIGURES: dict[str, Callable[[Exercise, Path], FigureList]] = {}


def exercise_figures(ex: Exercise, ex_dir: Path) -> FigureList:
    fn = FIGURES.get(ex.name)
    if fn is None:
        return []
    try:
        return fn(ex, ex_dir)
    except Exception as err:  # a figure must never cost the report
        import sys

        print(f"[dlexp] report figure for {ex.name} skipped: {type(err).__name__}: {err}", file=sys.stderr)
        return []
