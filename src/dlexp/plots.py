"""Functions that take data and return matplotlib figures. They never save and never show.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state),
so they are safe in worker processes and need no display.
"""

from __future__ import annotations

from typing import Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CMAP = "viridis"


def _grid(ax) -> None:
    ax.grid(True, alpha=0.3)


def _integer_epochs(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def learning_curves(histories: dict[str, pd.DataFrame], title: str = "Learning curves") -> Figure:
    """Loss and accuracy per epoch; train solid, validation dashed; one colour per run."""
    fig = Figure(figsize=(12, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    for i, (label, df) in enumerate(histories.items()):
        c = colors[i % 10]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            ax.plot(df["epoch"], df[key], color=c, lw=2, label=f"{label} - train")
            if f"val_{key}" in df and df[f"val_{key}"].notna().any():
                ax.plot(df["epoch"], df[f"val_{key}"], color=c, lw=2, ls="--", label=f"{label} - val")
    for ax, name in ((ax_loss, "Loss"), (ax_acc, "Accuracy")):
        ax.set_xlabel("Epoch")
        _integer_epochs(ax)
        ax.set_ylabel(name)
        ax.set_title(f"Training {name.lower()}")
        if len(histories) <= 8:  # beyond that a legend hides the curves; the report's own figures name them
            ax.legend(fontsize=8)
        _grid(ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def decision_grid(x: np.ndarray, steps: int = 200, margin: float = 0.5) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """A mesh over the 2-D data's bounding box: (xx, yy, points) with points of shape (steps*steps, 2)."""
    lo = x.min(axis=0) - margin
    hi = x.max(axis=0) + margin
    xx, yy = np.meshgrid(np.linspace(lo[0], hi[0], steps), np.linspace(lo[1], hi[1], steps))
    return xx, yy, np.c_[xx.ravel(), yy.ravel()].astype("float32")


def decision_boundaries(panels: Sequence[dict], title: str = "Decision boundaries") -> Figure:
    """Side-by-side decision regions.

    Each panel: ``title``, ``xx``, ``yy``, ``classes`` (predicted class per grid point,
    shaped like xx), ``x``, ``y`` (the points to overlay).
    """
    n = len(panels)
    cols = min(n, 4)
    rows = int(np.ceil(n / cols))
    fig = Figure(figsize=(4.2 * cols, 4 * rows))
    axes = np.atleast_1d(fig.subplots(rows, cols)).ravel()
    for ax, p in zip(axes, panels):
        n_classes = int(max(p["y"].max(), p["classes"].max()) + 1)
        levels = np.arange(n_classes + 1) - 0.5
        ax.contourf(p["xx"], p["yy"], p["classes"], levels=levels, cmap=CMAP, alpha=0.35)
        ax.scatter(p["x"][:, 0], p["x"][:, 1], c=p["y"], cmap=CMAP, vmin=0, vmax=n_classes - 1,
                   s=12, edgecolors="black", linewidths=0.3)
        ax.set_title(p["title"], fontsize=10)
        ax.set_xlabel("Feature 1")
        ax.set_ylabel("Feature 2")
    for ax in axes[n:]:
        ax.set_visible(False)
    fig.suptitle(title)
    fig.tight_layout()
    return fig


def dead_units(layer_stats: pd.DataFrame, title: str = "Dead units per layer") -> Figure:
    """Per layer over epochs: dead fraction on activations (solid) and the weight proxy (dashed)."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for i, (layer, df) in enumerate(layer_stats.groupby("layer")):
        c = f"C{i % 10}"
        ax.plot(df["epoch"], 100 * df["dead_fraction"], color=c, lw=2, marker="o", ms=3, label=f"layer {layer} (activations)")
        ax.plot(df["epoch"], 100 * df["weight_proxy_dead_fraction"], color=c, lw=1.5, ls="--", label=f"layer {layer} (weight proxy)")
    ax.set_xlabel("Epoch (0 = initialization)")
    _integer_epochs(ax)
    ax.set_ylabel("Dead units (%)")
    ax.set_ylim(-2, 102)
    ax.set_title(title)
    ax.legend(fontsize=7, ncol=2)
    _grid(ax)
    fig.tight_layout()
    return fig


def gradient_norms(layer_stats: pd.DataFrame, title: str = "Gradient norm per layer") -> Figure:
    """L2 norm of each hidden layer's kernel gradient over epochs, on a log axis."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for i, (layer, df) in enumerate(layer_stats.groupby("layer")):
        vals = df["grad_norm"].clip(lower=1e-30)
        ax.plot(df["epoch"], vals, color=f"C{i % 10}", lw=2, marker="o", ms=3, label=f"layer {layer}")
    ax.set_yscale("log")
    ax.set_xlabel("Epoch (0 = initialization)")
    _integer_epochs(ax)
    ax.set_ylabel("||dL/dW|| (log)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    _grid(ax)
    fig.tight_layout()
    return fig


def bars(labels: Sequence[str], values: Sequence[float], errors: Optional[Sequence[float]] = None,
         ylabel: str = "Test accuracy", title: str = "") -> Figure:
    """A bar chart, with error bars (e.g. 95% CI half-widths) when given."""
    fig = Figure(figsize=(max(5, 1.3 * len(labels)), 4.2))
    ax = fig.subplots()
    ax.bar(range(len(labels)), values, yerr=errors, capsize=4, color=[f"C{i % 10}" for i in range(len(labels))])
    ax.set_xticks(range(len(labels)))
    ax.set_xticklabels(labels, rotation=30, ha="right")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    _grid(ax)
    fig.tight_layout()
    return fig


def tsne_panels(embeddings: dict[str, np.ndarray], y: np.ndarray, dims: dict[str, int],
                probe_acc: Optional[dict[str, float]] = None,
                title: str = "Hierarchical feature learning: layer-wise representations") -> Figure:
    """One scatter per representation (input, then each hidden layer), coloured by class."""
    n = len(embeddings)
    fig = Figure(figsize=(4 * n, 4))
    axes = np.atleast_1d(fig.subplots(1, n))
    for ax, (name, emb) in zip(axes, embeddings.items()):
        ax.scatter(emb[:, 0], emb[:, 1], c=y, cmap=CMAP, alpha=0.6, s=15)
        sub = f"{name}\n({dims[name]} dims"
        sub += f", probe acc {probe_acc[name]:.3f})" if probe_acc and name in probe_acc else ")"
        ax.set_title(sub, fontsize=10)
        ax.set_xlabel("Component 1")
        ax.set_ylabel("Component 2")
        _grid(ax)
    fig.suptitle(title)
    fig.tight_layout()
    return fig
