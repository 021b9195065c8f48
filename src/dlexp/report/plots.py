"""Functions that take data and return matplotlib figures. They never save and never show.

Figures are built on ``matplotlib.figure.Figure`` directly (no pyplot state),
so they are safe in worker processes and need no display.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

CMAP = "viridis"
DPI = 100  # drawn once at this dpi: the layout below is measured with the renderer that draws it

# Fixed margins in inches: room for tick labels and an axis label (left, bottom), an axes
# title (top; more with a suptitle), and between panels. tight_layout measures every text
# of the figure, which costs about as much as drawing it; these margins cost nothing.
LEFT, RIGHT, BOTTOM, TOP, SUPTITLE = 0.85, 0.25, 0.62, 0.42, 0.34
WSPACE, HSPACE = 0.85, 0.95


def fixed_layout(fig: Figure, *, left: float = LEFT, right: float = RIGHT, bottom: Optional[float] = None,
                 top: Optional[float] = None, wspace: float = WSPACE, hspace: float = HSPACE,
                 legend: Optional[object] = None, grow: bool = False,
                 fig_legend: Optional[object] = None) -> Figure:
    """Place the subplots with margins in inches instead of ``tight_layout``; returns ``fig``.

    ``legend``: a legend drawn outside the axes on the right (anchored at x >= 1): its
    measured width is added to the right margin (``grow``: to the figure's width, so the
    axes keep their size). ``bottom=None``: room for one line of tick labels and an axis
    label; see :func:`xtick_margin` for longer ones. ``fig_legend``: a ``fig.legend(loc="center
    left", bbox_to_anchor=(1.0, 0.5))`` just right of the figure: the figure grows to hold it.
    Titles stay where they are put (no per-draw search for overlapping tick labels), and ``artifacts.save_figure``
    saves the figure as laid out, in one draw.
    """
    fig.set_dpi(DPI)
    w, h = fig.get_size_inches()
    if top is None:
        top = TOP + (SUPTITLE if fig.get_suptitle() else 0.0)
    if bottom is None:
        bottom = BOTTOM
    if legend is not None:
        extra = legend_width(fig, legend) + 0.1
        right += extra
        if grow:  # the axes keep their size; the figure grows by the legend (as bbox_inches="tight" did)
            w += extra
            fig.set_size_inches(w, h)
    if fig_legend is not None:  # a figure legend anchored at the right edge (x = 1), "center left": move it in
        extra = legend_width(fig, fig_legend) + 0.2  # + the legend's own pad from its anchor
        w += extra
        fig.set_size_inches(w, h)
        right += extra
        fig_legend.set_bbox_to_anchor((1 - extra / w, 0.5), transform=fig.transFigure)
    axes = [ax for ax in fig.axes if ax.get_subplotspec() is not None]
    nrows, ncols = axes[0].get_subplotspec().get_gridspec().get_geometry() if axes else (1, 1)
    avg_w = max((w - left - right - (ncols - 1) * wspace) / ncols, 0.5)
    avg_h = max((h - top - bottom - (nrows - 1) * hspace) / nrows, 0.5)
    fig.subplots_adjust(left=left / w, right=1 - right / w, bottom=bottom / h, top=1 - top / h,
                        wspace=wspace / avg_w, hspace=hspace / avg_h)
    for ax in fig.axes:
        ax._autotitlepos = False  # matplotlib would re-measure the tick labels at every draw to move the title
    fig.dlexp_fixed_layout = True
    return fig


class _SharedRendererCanvas(FigureCanvasAgg):
    """An Agg canvas that draws with a renderer shared by the figures of the same pixel size (per thread).

    Matplotlib caches text measurements and parsed math text (the 10^k tick labels
    of log axes) per renderer, and a new canvas makes a new renderer, so every figure
    measured every tick label and legend entry afresh: most of its drawing time.
    Figures are drawn one after the other (the renderer is cleared before each draw
    and the pixels encoded right after), so sharing changes no pixel.
    """

    def get_renderer(self):
        w, h = self.get_width_height(physical=True)
        key = (w, h, self.figure.dpi)
        cache = _LOCAL.__dict__.setdefault("renderers", OrderedDict())
        renderer = cache.get(key)
        if renderer is None:
            renderer = RendererAgg(w, h, self.figure.dpi)
            cache[key] = renderer
            while len(cache) > 8:  # each renderer holds a whole figure's pixels
                cache.popitem(last=False)
        else:
            cache.move_to_end(key)
        renderer.mathtext_parser = _mathtext_parser()
        self.renderer, self._lastKey = renderer, key
        return renderer


_LOCAL = threading.local()


def _mathtext_parser():
    parser = getattr(_LOCAL, "mathtext", None)
    if parser is None:
        from matplotlib.mathtext import MathTextParser

        parser = _LOCAL.mathtext = MathTextParser("path")
    return parser


def _renderer(fig: Figure):
    """The Agg renderer that will draw ``fig``: text measured with it is cached for the draw."""
    if not isinstance(fig.canvas, _SharedRendererCanvas):
        _SharedRendererCanvas(fig)
    return fig.canvas.get_renderer()


def legend_width(fig: Figure, legend) -> float:
    """Width in inches of a legend (its texts are measured once; the draw reuses the measurements)."""
    return legend_size(fig, legend)[0]


def legend_size(fig: Figure, legend) -> tuple[float, float]:
    """(width, height) in inches of a legend."""
    box = legend.get_window_extent(_renderer(fig))
    return box.width / fig.dpi, box.height / fig.dpi


def xtick_margin(fig: Figure, *axes, xlabel: bool = True) -> float:
    """Bottom margin in inches for the (fixed, possibly rotated or multi-line) x tick labels of ``axes``."""
    need = 0.0
    for ax in axes:
        for t in ax.get_xticklabels():
            if not t.get_text():
                continue
            w, hh = text_extent(fig, [t.get_text()], t.get_fontsize())
            rot = np.deg2rad(t.get_rotation())
            need = max(need, w * abs(np.sin(rot)) + hh * abs(np.cos(rot)))
    has_label = xlabel and any(ax.get_xlabel() for ax in axes)
    return max(BOTTOM, need + 0.2 + (0.3 if has_label else 0.0))


def text_extent(fig: Figure, texts: Sequence[str], fontsize: float) -> tuple[float, float]:
    """(widest, tallest) of ``texts`` at ``fontsize``, in inches."""
    from matplotlib.font_manager import FontProperties

    renderer = _renderer(fig)
    prop = FontProperties(size=fontsize)
    wmax = hmax = 0.0
    for t in texts:
        for line in str(t).split("\n"):
            tw, th, _ = renderer.get_text_width_height_descent(line, prop, ismath=False)
            wmax = max(wmax, tw)
        hmax = max(hmax, th * (str(t).count("\n") + 1) * 1.2)
    return wmax / fig.dpi, hmax / fig.dpi


def _grid(ax) -> None:
    ax.grid(True, alpha=0.3)


def _integer_epochs(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


UNNAMED = ("", "default")  # run names that say nothing (a run without variants is "default")


def learning_curves(histories: dict[str, pd.DataFrame], title: str = "Learning curves") -> Figure:
    """Loss and accuracy per epoch; train solid, validation dashed (the panel titles say so); one colour per run.

    With several runs the legend names each run once (its colour, for both curves and both panels);
    a single run needs no legend: its name, unless it is the meaningless "default", goes in the title.
    """
    fig = Figure(figsize=(12, 4.2))
    ax_loss, ax_acc = fig.subplots(1, 2)
    colors = [f"C{i}" for i in range(10)]
    several = len(histories) > 1
    validation = {ax: False for ax in (ax_loss, ax_acc)}
    for i, (label, df) in enumerate(histories.items()):
        c = colors[i % 10]
        for ax, key in ((ax_loss, "loss"), (ax_acc, "accuracy")):
            if key in df:
                ax.plot(df["epoch"], df[key], color=c, lw=2, label=str(label) if several and ax is ax_acc else None)
            if f"val_{key}" in df and df[f"val_{key}"].notna().any():
                ax.plot(df["epoch"], df[f"val_{key}"], color=c, lw=2, ls="--")
                validation[ax] = True
    for ax, name in ((ax_loss, "Loss"), (ax_acc, "Accuracy")):
        ax.set_xlabel("Epoch")
        _integer_epochs(ax)
        ax.set_ylabel(name)
        ax.set_title(f"{name} (solid: train, dashed: validation)" if validation[ax] else f"Training {name.lower()}")
        _grid(ax)
    if several and len(histories) <= 8:  # beyond that a legend hides the curves; the report's own figures name them
        ax_acc.legend(fontsize=8)
    if not several and histories:
        (only,) = histories
        if str(only) not in UNNAMED and str(only) not in title:
            title = f"{title}: {only}"
    fig.suptitle(title)
    fixed_layout(fig)
    return fig


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
    fixed_layout(fig)
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
    fixed_layout(fig)
    return fig


def gradient_norms(layer_stats: pd.DataFrame, title: str = "Gradient norm per layer") -> Figure:
    """L2 norm of each hidden layer's kernel gradient over epochs, on a log axis."""
    fig = Figure(figsize=(8, 4.5))
    ax = fig.subplots()
    for i, (layer, df) in enumerate(layer_stats.groupby("layer")):
        df = df[df["grad_norm"].notna()]  # no value: measured without gradients (trainer.grad_norm_every), or diverged
        vals = df["grad_norm"].clip(lower=1e-30)
        ax.plot(df["epoch"], vals, color=f"C{i % 10}", lw=2, marker="o", ms=3, label=f"layer {layer}")
    ax.set_yscale("log")
    ax.set_xlabel("Epoch (0 = initialization)")
    _integer_epochs(ax)
    ax.set_ylabel("||dL/dW|| (log)")
    ax.set_title(title)
    ax.legend(fontsize=8, ncol=2)
    _grid(ax)
    fixed_layout(fig)
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
    fixed_layout(fig, bottom=xtick_margin(fig, ax))
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
    fixed_layout(fig, top=TOP + SUPTITLE + 0.2)
    return fig
