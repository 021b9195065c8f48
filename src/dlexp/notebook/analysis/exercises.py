"""Entry points the report calls for Exercises 2 and 3: tables, figures and flat metrics, no I/O.

Example:
    >>> r = vanishing_gradients_analysis(n_layers=5, n_simulations=10, depths=(2, 5))  # doctest: +SKIP
    >>> r.metrics["derivative_max.sigmoid"]  # doctest: +SKIP
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Callable, Iterator, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from dlexp.notebook.analysis import figures
from dlexp.notebook.analysis.activation_fns import EXERCISE3_NAMES, derivative_extremes, values_at
from dlexp.notebook.analysis.gradient_flow import (CLASSIC, Seed, gradient_flow_table, init_variants,
                                          init_variants_table, input_gradient_vs_depth)


class LazyFigures(Mapping):
    """Figures by name, each drawn the first time it is asked for.

    A reproduction with several seeds computes the tables and metrics for every
    seed but saves the figures of the first only: the others are never drawn.
    """

    def __init__(self, builders: dict[str, Callable[[], Figure]]) -> None:
        self._builders, self._built = dict(builders), {}

    def __getitem__(self, name: str) -> Figure:
        if name not in self._built:
            self._built[name] = self._builders[name]()
        return self._built[name]

    def __iter__(self) -> Iterator[str]:
        return iter(self._builders)

    def __len__(self) -> int:
        return len(self._builders)


@dataclass
class AnalysisResult:
    """What an analysis returns: ``tables`` and ``figures`` by name, ``metrics`` as flat named numbers.

    ``result["metrics"]`` works too, for callers that treat it as a dict.
    """

    tables: dict[str, pd.DataFrame] = field(default_factory=dict)
    figures: Mapping[str, Figure] = field(default_factory=dict)
    metrics: dict[str, float] = field(default_factory=dict)

    def __getitem__(self, key: str):
        return getattr(self, key)


def _slug(variant: str) -> str:
    # "z_std=0.5" -> "z_std_0p5": metric names use "." only between the metric and the activation.
    return variant.replace("=", "_").replace(".", "p")


def _per_activation(df: pd.DataFrame, prefix: str, column: str) -> dict[str, float]:
    return {f"{prefix}.{a}": float(v) for a, v in zip(df["activation"], df[column])}


def vanishing_gradients_analysis(n_layers: int = 20, n_simulations: int = 100, seed: Seed = 42,
                                 depths: Sequence[int] = (5, 10, 20, 30, 50),
                                 init_std: Sequence[float] = (0.5, 1.0, 2.0),
                                 activations: Sequence[str] = CLASSIC,
                                 weight_stds: Sequence[float] = (float(np.sqrt(2.0)),),
                                 weight_gains: Sequence[float] = (2.0,)) -> AnalysisResult:
    """Exercise 2 and its "Your Turn": derivatives, gradient flow, depth and initialization.

    The main simulation is the notebook's (z ~ N(0, 1), no weights). Variants:
    pre-activation std ``init_std``; at z_std = 1, random weights w ~ N(0, s^2)
    for s in ``weight_stds`` (sqrt 2 keeps E[g^2] = 1 for ReLU, He's argument)
    and constant gains (2 keeps E|g| = 1 for ReLU).

    Metrics (per activation ``<a>``): ``derivative_max.<a>``; after ``n_layers``:
    ``input_gradient.<a>`` (simulated mean |g|), ``input_gradient_expected.<a>``,
    ``input_gradient_median.<a>``, ``input_gradient_fraction_zero.<a>``;
    ``input_gradient_depth<d>.<a>`` per depth; ``input_gradient_<variant>.<a>``
    per variant, e.g. ``input_gradient_z_std_0p5.sigmoid``, ``input_gradient_weight_gain_2.relu``.
    """
    deriv = derivative_extremes(activations)
    flow = gradient_flow_table(activations, n_layers, n_simulations, seed)
    by_depth = input_gradient_vs_depth(activations, depths, n_simulations, seed)
    variants = init_variants_table(init_variants(init_std, weight_stds, weight_gains), activations,
                                   n_layers, n_simulations, seed)

    last = flow[flow["layer"] == n_layers]
    metrics = _per_activation(deriv, "derivative_max", "max_derivative")
    metrics.update(_per_activation(last, "input_gradient", "mean_abs_gradient"))
    metrics.update(_per_activation(last, "input_gradient_expected", "expected_mean_abs_gradient"))
    metrics.update(_per_activation(last, "input_gradient_median", "q50"))
    metrics.update(_per_activation(last, "input_gradient_fraction_zero", "fraction_zero"))
    for depth, df in by_depth.groupby("depth"):
        metrics.update(_per_activation(df, f"input_gradient_depth{depth}", "mean_abs_gradient"))
    for variant, df in variants.groupby("variant", sort=False):
        metrics.update(_per_activation(df, f"input_gradient_{_slug(variant)}", "mean_abs_gradient"))

    return AnalysisResult(
        tables={"derivative_max": deriv, "gradient_flow": flow, "input_gradient_vs_depth": by_depth,
                "init_variants": variants},
        figures=LazyFigures({
            "activations": lambda: figures.activation_grid(activations),
            "gradient_flow": lambda: figures.gradient_flow_figure(
                flow, f"Gradient flow through {n_layers} layers (seed {seed})"),
            "gradient_vs_depth": lambda: figures.depth_figure(by_depth),
            "init_variants": lambda: figures.init_variants_figure(variants)}),
        metrics=metrics,
    )


def modern_activations_analysis(names: Sequence[str] = figures.MODERN, x: float = -1.0) -> AnalysisResult:
    """Exercise 3: modern activations against ReLU, their values at x = -1, derivative ranges.

    The derivative table adds ``xtanh_sqrt`` (the practice exercise's custom activation).

    Metrics: ``value_at_minus1.<a>`` and ``derivative_at_minus1.<a>`` for the notebook's
    table (relu, leaky_relu, elu, selu, swish, gelu, mish); ``derivative_max.<a>`` and
    ``derivative_min.<a>`` on x in [-5, 5] (a negative minimum means non-monotone).
    """
    table = values_at(x, EXERCISE3_NAMES)
    deriv = derivative_extremes(list(names) + ["xtanh_sqrt"])
    tag = "minus1" if x == -1.0 else f"{x:g}".replace("-", "minus").replace(".", "p")
    metrics = _per_activation(table, f"value_at_{tag}", "value")
    metrics.update(_per_activation(table, f"derivative_at_{tag}", "derivative"))
    metrics.update(_per_activation(deriv, "derivative_max", "max_derivative"))
    metrics.update(_per_activation(deriv, "derivative_min", "min_derivative"))
    grid = np.linspace(-3.0, 3.0, 1000)
    return AnalysisResult(
        tables={f"values_at_{tag}": table, "derivative_extremes": deriv},
        figures=LazyFigures({
            "modern_activations": lambda: figures.modern_activations_figure(names, grid),
            "modern_derivatives": lambda: figures.activation_grid(
                names, grid, "Modern activation functions and their derivatives")}),
        metrics=metrics,
    )
