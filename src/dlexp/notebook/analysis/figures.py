"""Figures for the no-training exercises, after the notebook's pictures. They never save and never show.

Built on ``matplotlib.figure.Figure`` (no pyplot state), like ``dlexp.report.plots``.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dlexp.notebook.analysis.activation_fns import DERIVATIVE_GRID, get, label, relu
from dlexp.report.plots import fixed_layout, xtick_margin

MODERN: tuple[str, ...] = ("leaky_relu", "elu", "selu", "swish", "gelu", "mish")


def _grid(ax) -> None:
    ax.grid(True, alpha=0.3)


def activation_grid(names: Sequence[str] = ("sigmoid", "tanh", "relu", "leaky_relu"),
                    x: np.ndarray = DERIVATIVE_GRID,
                    title: str = "Activation functions and their derivatives") -> Figure:
    """A 2 x len(names) grid: functions on top, derivatives below (Exercise 2's first figure)."""
    n = len(names)
    fig = Figure(figsize=(3.6 * n, 6.5))
    axes = np.asarray(fig.subplots(2, n, squeeze=False))
    for j, name in enumerate(names):
        fn, d = get(name)
        top, bottom = axes[0, j], axes[1, j]
        top.plot(x, fn(x), color=f"C{j}", lw=2)
        bottom.plot(x, d(x), color=f"C{j}", lw=2)
        top.set_title(label(name))
        bottom.set_title(f"{label(name)} derivative (max {np.max(d(x)):.3f})", fontsize=10)
        top.set_ylabel("f(x)")
        bottom.set_ylabel("f'(x)")
        for ax in (top, bottom):
            ax.set_xlabel("x")
            _grid(ax)
    fig.suptitle(title)
    return fixed_layout(fig)


def _zero_note(values: np.ndarray, xs: np.ndarray) -> str:
    # A log axis cannot show 0; say where the simulated mean becomes exactly 0.
    zero = np.flatnonzero(values <= 0)
    return f" (exactly 0 from {xs[zero[0]]})" if zero.size else ""


def _lines_with_expectation(ax, table: pd.DataFrame, x_col: str) -> None:
    for i, (name, df) in enumerate(table.groupby("activation", sort=False)):
        xs, mean = df[x_col].to_numpy(), df["mean_abs_gradient"].to_numpy()
        c = f"C{i % 10}"
        ax.plot(xs, np.where(mean > 0, mean, np.nan), color=c, lw=2.5, marker="o", ms=4,
                label=label(name) + _zero_note(mean, xs))
        ax.plot(xs, df["expected_mean_abs_gradient"], color=c, lw=1.2, ls="--")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="gray", lw=1.2, ls="--"))
    labels.append("expected value (dashed)")
    ax.legend(handles, labels, fontsize=8)
    ax.set_yscale("log")
    _grid(ax)


def gradient_flow_figure(flow: pd.DataFrame, title: str = "Gradient flow through deep networks") -> Figure:
    """Mean |gradient| vs layer (output -> input) on a log axis, one line per activation.

    Args:
        flow: a :func:`dlexp.notebook.analysis.gradient_flow.gradient_flow_table`.
    """
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    _lines_with_expectation(ax, flow, "layer")
    n_sims = int(flow["n_simulations"].iloc[0])
    ax.set_xlabel("Layer (from output to input)")
    ax.set_ylabel(f"Mean |gradient| over {n_sims} paths (log)")
    ax.set_title(title)
    return fixed_layout(fig)


def depth_figure(by_depth: pd.DataFrame, title: str = "Gradient at the input layer vs depth") -> Figure:
    """Mean |gradient| at the input layer vs number of layers, log axis.

    Args:
        by_depth: a :func:`dlexp.notebook.analysis.gradient_flow.input_gradient_vs_depth` table.
    """
    fig = Figure(figsize=(8, 5))
    ax = fig.subplots()
    _lines_with_expectation(ax, by_depth, "depth")
    ax.set_xlabel("Number of layers")
    ax.set_ylabel("Mean |gradient| at the input (log)")
    ax.set_title(title)
    return fixed_layout(fig)


def init_variants_figure(table: pd.DataFrame, title: str = "Input-layer gradient by initialization") -> Figure:
    """Simulated (markers) and expected (x) mean |gradient| at the input per variant, log axis.

    Args:
        table: a :func:`dlexp.notebook.analysis.gradient_flow.init_variants_table`.
    """
    variants = list(dict.fromkeys(table["variant"]))
    pos = {v: i for i, v in enumerate(variants)}
    fig = Figure(figsize=(max(7, 1.6 * len(variants)), 5))
    ax = fig.subplots()
    n = table["activation"].nunique()
    for i, (name, df) in enumerate(table.groupby("activation", sort=False)):
        xs = df["variant"].map(pos).to_numpy() + 0.1 * (i - (n - 1) / 2)  # offsets keep markers apart
        mean = df["mean_abs_gradient"].to_numpy()
        ax.plot(xs, np.where(mean > 0, mean, np.nan), ls="none", marker="o", color=f"C{i % 10}", label=label(name))
        ax.plot(xs, df["expected_mean_abs_gradient"], ls="none", marker="x", ms=8, color=f"C{i % 10}")
    handles, labels = ax.get_legend_handles_labels()
    handles.append(Line2D([], [], color="gray", ls="none", marker="x"))
    labels.append("expected value (x); simulated 0 not shown")
    ax.legend(handles, labels, fontsize=8)
    ax.set_xticks(range(len(variants)))
    ax.set_xticklabels(variants, rotation=20, ha="right")
    ax.set_yscale("log")
    ax.set_xlabel("Initialization variant")
    n_layers = int(table["layer"].iloc[0])
    ax.set_ylabel(f"Mean |gradient| after {n_layers} layers (log)")
    ax.set_title(title)
    _grid(ax)
    return fixed_layout(fig, bottom=xtick_margin(fig, ax))


def modern_activations_figure(names: Sequence[str] = MODERN, x: np.ndarray = np.linspace(-3, 3, 1000),
                              title: str = "Modern activation functions (ReLU dashed gray)") -> Figure:
    """Exercise 3's grid: each activation against ReLU, three per row."""
    cols = min(3, len(names))
    rows = int(np.ceil(len(names) / cols))
    fig = Figure(figsize=(4.2 * cols, 3.6 * rows))
    axes = np.asarray(fig.subplots(rows, cols, squeeze=False)).ravel()
    for i, (ax, name) in enumerate(zip(axes, names)):
        ax.plot(x, get(name).fn(x), color=f"C{i % 10}", lw=2.5, label=label(name))
        ax.plot(x, relu(x), color="gray", lw=1.2, ls="--", label="ReLU")
        ax.set_title(label(name))
        ax.set_xlabel("x")
        ax.set_ylabel("f(x)")
        ax.legend(fontsize=8)
        _grid(ax)
    for ax in axes[len(names):]:
        ax.set_visible(False)
    fig.suptitle(title)
    return fixed_layout(fig)
