"""Comparison charts: long DataFrames of runs in, a matplotlib Figure out. They never write files.

A chart is one function here; callers save the figure with ``artifacts.save_figure``. Every
function takes *long* frames with one row per run (and per epoch or layer where that applies),
with a ``seed`` column, and aggregates over seeds itself (``aggregate.py``: the mean, its 95%
interval and how the spread is shown), so that its callers (``notebook/figures/``, ``sweep.py``)
only read folders. ``chart_parts.py`` holds what the charts draw on one Axes.
"""

from __future__ import annotations

from typing import Callable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D

from dlexp.report.aggregate import BAND, MEAN, SEEDS, identical_to, n_seeds, ordered, spread_for, summarize
from dlexp.report.chart_parts import (accuracy_ylim, bar_panel, chance_line, epoch_axis, grid, integer_x, legend,
                                      legend_entries, same_label, spread_line, variant_curves)
from dlexp.report.plots import BOTTOM, DPI, RIGHT, WSPACE, fixed_layout, legend_size, legend_width, xtick_margin

CMAP = "viridis"


def metric_curves(history: pd.DataFrame, panels: Sequence[tuple[str, str, str]], *, title: str,
                  spread: Optional[str] = None, order: Optional[Sequence] = None,
                  ylims: Optional[Mapping[str, tuple]] = None, logy: Sequence[str] = (),
                  chance: Optional[float] = None, figsize: Optional[tuple] = None) -> Figure:
    """One panel per (column, panel title, y label) of ``history`` over epochs, one colour per variant.

    history: columns variant, seed, epoch and the panel columns.
    """
    spread = spread or spread_for(n_seeds(history))
    fig = Figure(figsize=figsize or (6.2 * len(panels), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    variants = ordered(history, "variant", order)
    same_in = {col: identical_to(history, variants, col) for col, _, _ in panels}
    for ax, (col, sub, ylabel) in zip(axes, panels):
        variant_curves(ax, history, variants, col, spread=spread, same=same_in[col], log=col in logy)
        if "accuracy" in col:
            chance_line(ax, chance)
        if col in logy:
            ax.set_yscale("log")
        if ylims and col in ylims and ylims[col] is not None:
            ax.set_ylim(*ylims[col])
        epoch_axis(ax, ylabel, sub)
    handles, labels = legend_entries(axes)  # one entry per variant, saying where its line hides under another's
    shown = [_hidden_note(label, same_in, panels) for label in labels]
    leg = None
    if handles:
        leg = axes[-1].legend(handles, shown, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.suptitle(title)
    return fixed_layout(fig, legend=leg, grow=True)


def _hidden_note(label: str, same_in: Mapping[str, dict], panels: Sequence[tuple[str, str, str]]) -> str:
    """A variant's legend label, saying which line its own hides under (in which panel, when not in all)."""
    marks = [(same_in[col][label], sub) for col, sub, _ in panels if label in same_in[col]]
    if not marks:
        return label
    (u, exact), where = marks[0]
    note = f"{'=' if exact else '≈'} {u}" + ("" if len(marks) == len(panels) or len(panels) == 1
                                           else f" in {where.lower() or 'one panel'}")
    return f"{label} ({note}, dotted)"


def ci_bars(frame: pd.DataFrame, *, ylabel: str, title: str, order: Optional[Sequence] = None,
            chance: Optional[float] = None, ylim: Optional[tuple] = None, fmt: str = "{:.3f}",
            accuracy: bool = False) -> Figure:
    """Mean per variant with 95% CI error bars and a dot per seed. frame: variant, seed, value.

    accuracy: the values are accuracies (the axis shows 0..1, or zooms in when all are high).
    """
    n = max(1, frame["variant"].nunique() if "variant" in frame else 1)
    fig = Figure(figsize=(max(5.0, 1.1 * n + 1.5), 4.4))
    ax = fig.subplots()
    if ylim is None and accuracy:
        ylim = accuracy_ylim(frame["value"], chance)
    leg = bar_panel(ax, frame, ylabel=ylabel, title=title, order=order, chance=chance, ylim=ylim, fmt=fmt)
    return fixed_layout(fig, bottom=xtick_margin(fig, ax), legend=leg, grow=True)


def bar_panels(panels: Sequence[dict], *, title: str, order: Optional[Sequence] = None) -> Figure:
    """Several bar panels side by side; each dict: frame, ylabel, title, and optionally chance, ylim, fmt,
    accuracy (bool, see ``ci_bars``)."""
    n = max(1, max((p["frame"]["variant"].nunique() for p in panels), default=1))
    fig = Figure(figsize=(len(panels) * max(5.0, 0.75 * n + 1.5), 4.6))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    legends = []
    for ax, p in zip(axes, panels):
        ylim = p.get("ylim")
        if ylim is None and p.get("accuracy"):
            ylim = accuracy_ylim(p["frame"]["value"], p.get("chance"))
        legends.append(bar_panel(ax, p["frame"], ylabel=p["ylabel"], title=p.get("title", ""), order=order,
                                  chance=p.get("chance"), ylim=ylim, fmt=p.get("fmt", "{:.3f}")))
    fig.suptitle(title)
    # each panel's legend sits right of it: the figure grows by them, the panels keep their width
    lw = max((legend_width(fig, leg) + 0.1 for leg in legends if leg is not None), default=0.0)
    w, h = fig.get_size_inches()
    fig.set_size_inches(w + lw * len(panels), h)
    return fixed_layout(fig, bottom=xtick_margin(fig, *axes), right=RIGHT + lw, wspace=WSPACE + lw)


def curves_and_bars(history: pd.DataFrame, column: str, ylabel: str, bars_frame: pd.DataFrame, bars_ylabel: str, *,
                    title: str, order: Optional[Sequence] = None, spread: Optional[str] = None,
                    chance: Optional[float] = None, curve_title: str = "", bar_title: str = "",
                    bars_accuracy: bool = True) -> Figure:
    """Exercise 8's layout: a metric over epochs per variant (left), bars of a final metric with CI (right)."""
    spread = spread or spread_for(n_seeds(history))
    fig = Figure(figsize=(13, 4.8))
    ax_c, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    variants = ordered(pd.concat([history[["variant"]], bars_frame[["variant"]]]), "variant", order)
    colors = {v: f"C{i % 10}" for i, v in enumerate(variants)}
    same = identical_to(history, variants, column)
    variant_curves(ax_c, history, variants, column, spread=spread, same=same, label=lambda v: same_label(v, same))
    chance_line(ax_c, chance)
    epoch_axis(ax_c, ylabel, curve_title)
    below = legend(ax_c, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(4, len(variants)))
    right = bar_panel(ax_b, bars_frame, ylabel=bars_ylabel, title=bar_title, order=variants, chance=chance,
                      ylim=accuracy_ylim(bars_frame["value"], chance) if bars_accuracy else None,
                      colors=colors)
    ax_b.set_xlabel("Configuration")
    fig.suptitle(title)
    bottom = xtick_margin(fig, ax_b)
    if below is not None:  # under the epoch axis: its labels, then the legend
        lh = legend_size(fig, below)[1]
        bottom = max(bottom, BOTTOM + 0.1 + lh)
    fixed_layout(fig, bottom=bottom, legend=right, grow=True)
    if below is not None:
        axes_h = fig.get_size_inches()[1] * (fig.subplotpars.top - fig.subplotpars.bottom)
        below.set_bbox_to_anchor((0.5, -(BOTTOM + 0.05) / axes_h), transform=ax_c.transAxes)
    return fig


def layer_profiles(panels: Mapping[str, pd.DataFrame], *, title: str, value: str = "grad_norm",
                   ylabel: str = "||dL/dW|| of the layer's kernel (log scale)",
                   styles: Optional[Mapping[str, dict]] = None, spread: Optional[str] = None,
                   order: Optional[Sequence] = None) -> Figure:
    """A per-layer quantity against the layer index (1 = next to the input), log y, one panel per
    moment (e.g. initialization, last epoch), one line per variant. Geometric mean over seeds.

    panels: panel title -> frame with variant, seed, layer, ``value``.
    styles: variant -> matplotlib line kwargs (color, ls, marker).
    """
    frames = [f for f in panels.values() if not f.empty]
    spread = spread or spread_for(max((n_seeds(f) for f in frames), default=0))
    fig = Figure(figsize=(6.0 * len(panels) + 1.8, 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    variants = ordered(pd.concat([f[["variant"]] for f in frames]) if frames else pd.DataFrame({"variant": []}),
                      "variant", order)
    for ax, (sub, frame) in zip(axes, panels.items()):
        for i, v in enumerate(variants):
            g = frame[frame["variant"] == v]
            if g.empty:
                continue
            st = dict((styles or {}).get(v, {}))
            spread_line(ax, g, "layer", value, color=st.get("color", f"C{i % 10}"), ls=st.get("ls", "-"),
                        marker=st.get("marker", "o"), label=str(v), spread=spread, log=True)
        ax.set_yscale("log")
        ax.set_xlabel("Hidden layer (1 = next to the input)")
        integer_x(ax)
        ax.set_title(sub)
        grid(ax)
    axes[0].set_ylabel(ylabel)
    handles, labels = legend_entries(axes)
    leg = None
    if handles:
        leg = fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9, title="variant")
    fig.suptitle(title)
    return fixed_layout(fig, fig_legend=leg)


def probe_accuracy_vs_depth(probes: pd.DataFrame, *, title: str, chance: Optional[float] = None) -> Figure:
    """Linear-probe test accuracy of each representation (Input, Layer 1, ...): the mean thick, and a thin
    line per seed when there are several (one seed's line would be the mean's).

    probes: seed, depth, representation, probe_accuracy (and optionally dims).
    """
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    n = n_seeds(probes)
    for i, (seed, g) in enumerate(probes.groupby("seed", sort=True) if n > 1 else ()):
        g = g.sort_values("depth")
        ax.plot(g["depth"], g["probe_accuracy"], color="0.55", lw=1, marker=".", alpha=0.8,
                label="one seed" if i == 0 else None)
    s = summarize(probes, ["depth"], "probe_accuracy").sort_values("depth")
    if n >= 3:
        ax.fill_between(s["depth"], s["ci_low"], s["ci_high"], color="C0", alpha=0.18, lw=0, label="95% CI")
    ax.plot(s["depth"], s["mean"], color="C0", lw=2.5, marker="o", label=f"mean of {n} seed{'s' if n != 1 else ''}")
    names = (probes.drop_duplicates("depth").sort_values("depth"))
    ticks = []
    for _, r in names.iterrows():
        dims = f"\n({int(r['dims'])} dims)" if "dims" in r and pd.notna(r.get("dims")) else ""
        ticks.append(f"{r['representation']}{dims}")
    ax.set_xticks(names["depth"].tolist())
    ax.set_xticklabels(ticks)
    chance_line(ax, chance)
    ax.set_ylim(*accuracy_ylim(probes["probe_accuracy"], chance))
    ax.set_xlabel("Representation")
    ax.set_ylabel("Linear-probe test accuracy")
    ax.set_title(title)
    grid(ax)
    legend(ax, loc="lower right")
    return fixed_layout(fig, bottom=xtick_margin(fig, ax))


def dead_units_by_init(frame: pd.DataFrame, *, title: str, order: Optional[Sequence] = None,
                       spread: Optional[str] = None) -> Figure:
    """Exercise 6's figure: % dead hidden units per epoch, one colour per initializer;
    solid = on activations (output 0 for every training input), dashed = the notebook's
    weight proxy (all incoming weights <= 0). Mean over seeds.

    frame: variant, seed, epoch, dead_fraction, weight_proxy_dead_fraction (fractions, 0..1).
    """
    spread = spread or (BAND if n_seeds(frame) >= 3 else MEAN)
    fig = Figure(figsize=(12, 5.5))
    ax = fig.subplots()
    f = frame.copy()
    f["dead_pct"] = 100 * f["dead_fraction"].astype(float)
    f["proxy_pct"] = 100 * f["weight_proxy_dead_fraction"].astype(float)
    variants = ordered(f, "variant", order)
    for i, v in enumerate(variants):
        g = f[f["variant"] == v]
        c = f"C{i % 10}"
        spread_line(ax, g, "epoch", "dead_pct", color=c, label=str(v), spread=spread, marker="o")
        spread_line(ax, g, "epoch", "proxy_pct", color=c, label=None, spread=spread, ls="--", marker="x", lw=1.6,
                    zorder=3)
    ax.set_xlabel("Epoch (0 = initialization)")
    integer_x(ax)
    ax.set_ylabel("Percentage of dead neurons (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    grid(ax)
    color_handles = [Line2D([], [], color=f"C{i % 10}", lw=2.5, label=_coincide_label(f, v))
                     for i, v in enumerate(variants)]
    style_handles = [Line2D([], [], color="0.2", lw=2, marker="o", label="on activations"),
                     Line2D([], [], color="0.2", lw=1.6, ls="--", marker="x", label="weight proxy (notebook)")]
    fixed_layout(fig, right=0.26 * fig.get_size_inches()[0])
    fig.legend(handles=color_handles, title="initializer", loc="upper left", bbox_to_anchor=(0.745, 0.93), fontsize=9)
    fig.legend(handles=style_handles, title="measure", loc="upper left", bbox_to_anchor=(0.745, 0.5), fontsize=9)
    return fig


def _coincide_label(f: pd.DataFrame, v) -> str:
    """A dashed line exactly on top of the solid one would be invisible: the label says so."""
    g = f[f["variant"] == v].groupby("epoch")[["dead_pct", "proxy_pct"]].mean()
    same = len(g) and float((g["dead_pct"] - g["proxy_pct"]).abs().max()) < 0.5
    return f"{v} (both measures coincide)" if same else str(v)


def heatmaps(frame: pd.DataFrame, *, panel: str, row: str, col: str, title: str,
             value_label: str = "Mean test accuracy", row_label: Optional[str] = None,
             col_label: Optional[str] = None, panel_label=lambda v: str(v), fmt: str = "{:.2f}",
             rows: Optional[Sequence] = None, cols: Optional[Sequence] = None,
             notes: Optional[Mapping[tuple, str]] = None) -> Figure:
    """One heatmap per value of ``panel`` (mean of ``value`` over seeds per cell), a shared colour scale.

    frame: panel, row, col columns, seed, value.
    rows, cols: all row and column values to show (default: those in ``frame``), bottom to top / left to right.
    notes: (panel, row, col) -> text for cells without a value (default "no run"), e.g. "failed".
    """
    agg = summarize(frame, [panel, row, col], "value")
    panels = sorted(agg[panel].unique().tolist())
    rows = list(rows) if rows is not None else sorted(agg[row].unique().tolist())
    cols = list(cols) if cols is not None else sorted(agg[col].unique().tolist())
    vmin, vmax = float(np.nanmin(agg["mean"])), float(np.nanmax(agg["mean"]))
    if not np.isfinite(vmin) or vmin == vmax:
        vmin, vmax = (vmin - 0.05, vmax + 0.05) if np.isfinite(vmin) else (0.0, 1.0)
    fig = Figure(figsize=(4.3 * len(panels) + 1.2, 4.2), layout="constrained")
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    im = None
    for ax, p in zip(axes, panels):
        means = np.full((len(rows), len(cols)), np.nan)
        for _, r in agg[agg[panel] == p].iterrows():
            means[rows.index(r[row]), cols.index(r[col])] = r["mean"]
        im = ax.imshow(means, cmap=CMAP, vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
        _cell_texts(ax, means, (vmin, vmax), fmt, lambda i, j: (notes or {}).get((p, rows[i], cols[j]), "no run"))
        ax.set_xticks(range(len(cols)))
        ax.set_xticklabels([f"{c:g}" if isinstance(c, (int, float)) else str(c) for c in cols])
        ax.set_yticks(range(len(rows)))
        ax.set_yticklabels([f"{r:g}" if isinstance(r, (int, float)) else str(r) for r in rows])
        ax.set_xlabel(col_label or col)
        ax.set_title(panel_label(p))
    axes[0].set_ylabel(row_label or row)
    if im is not None:
        cbar = fig.colorbar(im, ax=list(axes), fraction=0.05, pad=0.02)
        cbar.set_label(value_label)
    fig.suptitle(title)
    fig.set_dpi(DPI)
    fig.dlexp_fixed_layout = True  # constrained layout places everything inside the figure when it draws
    return fig


def _cell_texts(ax, means: np.ndarray, scale: tuple[float, float], fmt: str, note: Callable[[int, int], str]) -> None:
    """Each cell's mean, dark on light colours; a cell without one says ``note(row, column)``."""
    vmin, vmax = scale
    for i in range(means.shape[0]):
        for j in range(means.shape[1]):
            if np.isfinite(means[i, j]):
                frac = (means[i, j] - vmin) / (vmax - vmin)
                ax.text(j, i, fmt.format(means[i, j]), ha="center", va="center", fontsize=9,
                        color="black" if frac > 0.6 else "white")
            else:
                ax.text(j, i, note(i, j), ha="center", va="center", fontsize=8, color="0.3")


def lines_vs(frame: pd.DataFrame, *, x: str, xlabel: str, ylabel: str, title: str, line: Optional[str] = None,
             panel: Optional[str] = None, spread: Optional[str] = None, logx=False,
             chance: Optional[float] = None, styles: Optional[Mapping[str, dict]] = None,
             line_order: Optional[Sequence] = None, panel_order: Optional[Sequence] = None,
             sharex: bool = True, xlabels: Optional[Mapping[str, str]] = None, accuracy: bool = False) -> Figure:
    """Mean ``value`` against a numeric ``x``, one line per ``line`` value, one panel per ``panel`` value.

    frame: x, seed, value, and the ``line``/``panel`` columns when given.
    With spread "seeds", each seed's value is a small black-edged dot instead of a line (when there are
    several seeds: one seed's dot would sit on the mean).
    logx: True, or the panel values whose x axis is logarithmic.
    """
    f = frame.copy()
    f["_line"] = f[line] if line else "mean"
    f["_panel"] = f[panel] if panel else ""
    spread = spread or spread_for(n_seeds(f))
    dots = spread == SEEDS and n_seeds(f) > 1
    sharex = sharex and isinstance(logx, bool)  # a log axis on some panels only cannot be shared
    panels = ordered(f, "_panel", panel_order)
    lines = ordered(f, "_line", line_order)
    fig = Figure(figsize=(5.8 * len(panels) + (2.2 if line else 0), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, sharex=sharex))
    for ax, p in zip(axes, panels):
        sub = f[f["_panel"] == p]
        _mean_lines(ax, sub, lines, x, spread=spread, dots=dots, styles=styles or {}, named=bool(line))
        chance_line(ax, chance)
        if logx is True or (not isinstance(logx, bool) and p in logx):
            ax.set_xscale("log")
        xs = sorted(sub[x].unique().tolist())
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{v:g}" for v in xs])
        ax.minorticks_off()
        ax.set_xlabel((xlabels or {}).get(p, xlabel))
        if panel:
            ax.set_title(str(p))
        grid(ax)
    axes[0].set_ylabel(ylabel)
    if accuracy:
        axes[0].set_ylim(*accuracy_ylim(f["value"], chance))
    handles, labels = legend_entries(axes)
    if dots:
        handles.append(Line2D([], [], ls="", marker="o", mfc="0.65", mec="black", mew=0.4, ms=5))
        labels.append("one seed" + (" (colour of its line)" if line else ""))
    fig_legend = None
    if line:
        fig_legend = fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9)
    elif handles:
        axes[0].legend(handles, labels, loc="best", fontsize=8)
    fig.suptitle(title)
    return fixed_layout(fig, fig_legend=fig_legend, bottom=xtick_margin(fig, *axes))


def _mean_lines(ax, frame: pd.DataFrame, lines: Sequence, x: str, *, spread: str, dots: bool,
                styles: Mapping[str, dict], named: bool) -> None:
    """``lines_vs``'s lines in one panel: the mean over seeds, its band or (``dots``) each seed's value."""
    for i, l in enumerate(lines):
        g = frame[frame["_line"] == l]
        if g.empty:
            continue
        st = dict(styles.get(l, {}))
        color = st.get("color", f"C{i % 10}")
        s = summarize(g, [x], "value").sort_values(x)
        if spread == BAND:
            ok = s["ci_low"].notna()
            ax.fill_between(s.loc[ok, x], s.loc[ok, "ci_low"], s.loc[ok, "ci_high"], color=color, alpha=0.15, lw=0)
        ax.plot(s[x], s["mean"], color=color, ls=st.get("ls", "-"), marker=st.get("marker", "o"), lw=2,
                ms=7, mfc="white", mew=1.8, label=str(l) if named else "mean", zorder=4)
        if dots:
            ax.scatter(g[x], g["value"], color=color, edgecolors="black", linewidths=0.4, s=16, zorder=5)
