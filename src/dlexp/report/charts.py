"""The notebook's exercise figures, aggregated over seeds. Pure: DataFrames in, Figure out.

Every function takes *long* frames with one row per run (and per epoch or layer
where that applies), with a ``seed`` column, and does the aggregation itself,
so the report's glue (``report_figures``) only reads folders.

How seeds are shown (``spread``):

* ``"band"``: the mean line with a shaded 95% bootstrap interval over seeds
  (as in the claims; it stays within the seeds' values);
* ``"seeds"``: the mean line with one thin line per seed. With two or three seeds
  an interval says little, so the seeds themselves are shown;
* ``"mean"``: the mean line only.

``spread_for(n_seeds)`` picks "band" from three seeds on and "seeds" below;
``spread_caption`` says in words what was drawn, for the figure's caption.
Values drawn on a log axis (gradient norms) are averaged in log space: the
line is the geometric mean and the band a bootstrap interval of log10 values.
"""

from __future__ import annotations

import math
from typing import Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from dlexp.report import stats
from dlexp.report.plots import BOTTOM, DPI, RIGHT, WSPACE, fixed_layout, legend_size, legend_width, xtick_margin

BAND, SEEDS, MEAN = "band", "seeds", "mean"
CMAP = "viridis"


# --------------------------------------------------------------------------- aggregation


def spread_for(n_seeds: int) -> str:
    """How to show the spread over ``n_seeds`` seeds: a 95% band from 3 seeds on, the seeds below."""
    return BAND if n_seeds >= 3 else SEEDS


def spread_caption(spread: str, n_seeds: int) -> str:
    """Words for a caption: what the lines and shading are."""
    n = f"{n_seeds} seed{'s' if n_seeds != 1 else ''}"
    if n_seeds <= 1:
        return f"one seed ({n}): no interval can be computed"
    if spread == BAND:
        return f"mean over {n} (thick line) with a shaded 95% confidence band"
    if spread == SEEDS:
        return f"mean over {n} (thick line); thin lines are the individual seeds"
    return f"mean over {n}"


def summarize(frame: pd.DataFrame, by: Sequence[str], value: str, log: bool = False) -> pd.DataFrame:
    """Per group of ``by``: mean, 95% CI (bootstrap over the rows, as the claims') and n of ``value``.

    With ``log``, non-positive values are dropped and the statistics are taken on
    log10 values and mapped back (geometric mean, multiplicative interval).
    """
    by = list(by)
    cols = by + ["mean", "ci_low", "ci_high", "n"]
    if frame.empty or value not in frame:
        return pd.DataFrame(columns=cols)
    rows = []
    for key, g in frame.groupby(by, sort=False, dropna=False):
        key = key if isinstance(key, tuple) else (key,)
        v = pd.to_numeric(g[value], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        if log:
            v = np.log10(v[v > 0])
        m, lo, hi = _mean_ci(v)
        if log:
            m, lo, hi = (10.0 ** x if not math.isnan(x) else math.nan for x in (m, lo, hi))
        rows.append(dict(zip(by, key), mean=m, ci_low=lo, ci_high=hi, n=len(v)))
    return pd.DataFrame(rows, columns=cols)


def _mean_ci(v: np.ndarray) -> tuple[float, float, float]:
    """``stats.mean_ci``: mean and 95% bootstrap interval (inside the values' range, as the claims'); no interval
    for one value."""
    e = stats.mean_ci(v)
    return e.mean, e.ci_low, e.ci_high


def _order(frame: pd.DataFrame, column: str, order: Optional[Sequence] = None) -> list:
    seen = list(dict.fromkeys(frame[column].tolist())) if column in frame else []
    if order is None:
        return seen
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def _n_seeds(frame: pd.DataFrame) -> int:
    return int(frame["seed"].nunique()) if "seed" in frame and len(frame) else 0


# --------------------------------------------------------------------------- small drawing helpers


def _grid(ax) -> None:
    ax.grid(True, alpha=0.3)


def _integer_x(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def _chance_line(ax, chance: Optional[float]) -> None:
    if chance is not None and 0 < chance < 1:
        ax.axhline(chance, color="0.35", ls=":", lw=1.2, label=f"chance ({chance:.2f})", zorder=1)


def _spread_line(ax, frame: pd.DataFrame, x: str, y: str, *, color, label: str, spread: str,
                 ls: str = "-", marker: Optional[str] = None, log: bool = False, lw: float = 2.0,
                 zorder: float = 2) -> None:
    """The mean of ``y`` over seeds against ``x``, with the seeds' spread drawn as ``spread`` says."""
    s = summarize(frame, [x], y, log=log).sort_values(x)
    if s.empty or s["mean"].isna().all():
        return
    if spread == SEEDS and _n_seeds(frame) > 1:
        for _, g in frame.groupby("seed", sort=True):
            g = g.sort_values(x)
            vals = g[y].astype(float)
            if log:
                vals = vals.where(vals > 0)
            ax.plot(g[x], vals, color=color, lw=0.8, ls=ls, alpha=0.45)
    elif spread == BAND:
        ok = s["ci_low"].notna() & s["ci_high"].notna()
        if ok.any():
            ax.fill_between(s.loc[ok, x], s.loc[ok, "ci_low"], s.loc[ok, "ci_high"], color=color, alpha=0.12, lw=0)
    ax.plot(s[x], s["mean"], color=color, lw=lw, ls=ls, marker=marker, ms=4, label=label, zorder=zorder)


def identical_to(frame: pd.DataFrame, variants: Sequence, column: str, key: Sequence[str] = ("seed", "epoch"),
                 close: float = 0.002) -> dict[str, tuple[str, bool]]:
    """variant -> (an earlier variant, exact?) whose ``column`` matches at every (seed, epoch), so that its
    line would hide under the other one: exactly (to float precision), or within ``close`` x the column's range.

    E.g. clipping that never triggers trains exactly like no clipping (same seeds).
    """
    key = list(key)
    series = {}
    for v in variants:
        g = frame[frame["variant"] == v]
        if column in g and len(g) and g[column].notna().any():
            series[v] = g.set_index(key)[column].astype(float).sort_index()
    vals = pd.to_numeric(frame[column], errors="coerce") if column in frame else pd.Series(dtype=float)
    vals = vals[np.isfinite(vals)]
    span = float(vals.max() - vals.min()) if len(vals) else 0.0
    out: dict[str, tuple[str, bool]] = {}
    for i, v in enumerate(variants):
        if v not in series:
            continue
        for u in variants[:i]:
            if u not in series or u in out or not series[u].index.equals(series[v].index):
                continue
            a, b = series[u].to_numpy(), series[v].to_numpy()
            if np.allclose(a, b, rtol=1e-9, atol=0, equal_nan=True):
                out[v] = (u, True)
                break
            if span > 0 and np.allclose(a, b, rtol=0, atol=close * span, equal_nan=True):
                out[v] = (u, False)
                break
    return out


def _same_label(v, same: dict) -> str:
    if v not in same:
        return str(v)
    u, exact = same[v]
    return f"{v} ({'=' if exact else '≈'} {u}, dotted)"


def _legend(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        return ax.legend(**{"fontsize": 8, **kw})
    return None


def _bar_panel(ax, frame: pd.DataFrame, *, ylabel: str, title: str = "", order: Optional[Sequence] = None,
               chance: Optional[float] = None, ylim: Optional[tuple] = None, fmt: str = "{:.3f}",
               colors: Optional[Mapping[str, str]] = None) -> None:
    """Bars of the mean ``value`` per ``variant``, 95% CI error bars, one black dot per seed."""
    labels = _order(frame, "variant", order)
    s = summarize(frame, ["variant"], "value").set_index("variant")
    means = [s.loc[v, "mean"] if v in s.index else math.nan for v in labels]
    lo = [s.loc[v, "ci_low"] if v in s.index else math.nan for v in labels]
    hi = [s.loc[v, "ci_high"] if v in s.index else math.nan for v in labels]
    err = np.array([[m - l if np.isfinite(l) else 0.0 for m, l in zip(means, lo)],
                    [h - m if np.isfinite(h) else 0.0 for m, h in zip(means, hi)]])
    xs = np.arange(len(labels))
    bar_colors = [(colors or {}).get(v, f"C{i % 10}") for i, v in enumerate(labels)]
    ax.bar(xs, np.nan_to_num(means), color=bar_colors, alpha=0.8, zorder=2)
    ax.errorbar(xs, np.nan_to_num(means), yerr=err, fmt="none", ecolor="black", capsize=5, lw=1.3, zorder=3)
    for i, v in enumerate(labels):
        pts = frame.loc[frame["variant"] == v, "value"].astype(float)
        pts = pts[np.isfinite(pts)]
        jitter = np.linspace(-0.12, 0.12, len(pts)) if len(pts) > 1 else np.zeros(len(pts))
        ax.scatter(xs[i] + jitter, pts, s=14, color="black", zorder=4,
                   label="one seed" if i == 0 and len(pts) else None)
    _chance_line(ax, chance)
    if ylim is None:  # bars start at 0; room for the seeds and for intervals that are not far longer
        ylim = _bar_ylim(frame["value"], hi, lo)
    ax.set_ylim(*ylim)
    lo_y, hi_y = ax.get_ylim()
    ax.set_xticks(xs)
    long = max((len(str(v)) for v in labels), default=0) > 8 or len(labels) > 6
    # the mean is written under the name, where neither error bars nor dots can cover it
    sep = " " if long else "\n"  # one line when rotated, two when upright
    same = identical_to(frame, labels, "value", key=("seed",), close=0.0)  # the same value for every seed
    ticks = [f"{v}{sep}({fmt.format(m)}{', = ' + same[v][0] if v in same else ''})" if np.isfinite(m)
             else f"{v}{sep}(no value)" for v, m in zip(labels, means)]
    ax.set_xticklabels(ticks, rotation=30 if long else 0, ha="right" if long else "center",
                       rotation_mode="anchor" if long else "default")
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(lo_y, hi_y)
    off = False  # intervals longer than the axis: a triangle at the edge says the bar goes on
    for i in range(len(labels)):
        for bound, edge, mk in ((hi[i], hi_y, "^"), (lo[i], lo_y, "v")):
            if np.isfinite(bound) and (bound > edge if mk == "^" else bound < edge):
                pad = 0.015 * (hi_y - lo_y)
                ax.plot(xs[i], edge - pad if mk == "^" else edge + pad, marker=mk, color="black", ms=7,
                        ls="", zorder=6, clip_on=False, label=None if off else "95% CI runs off the axis")
                off = True
    _grid(ax)
    return _legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _bar_ylim(values, ci_high, ci_low) -> tuple[float, float]:
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return (0.0, 1.0)
    top, bottom = max(float(v.max()), 0.0), min(float(v.min()), 0.0)
    span = (top - bottom) or 1.0
    for h in ci_high:  # an interval only a little above the data is shown whole; longer ones get an arrow
        if np.isfinite(h) and h <= top + 0.5 * span:
            top = max(top, h)
    for l in ci_low:
        if bottom < 0 and np.isfinite(l) and l >= bottom - 0.5 * span:
            bottom = min(bottom, l)
    pad = 0.1 * ((top - bottom) or 1.0)
    return (bottom - pad if bottom < 0 else 0.0, top + pad)


def _accuracy_ylim(values: Iterable[float], chance: Optional[float] = None) -> tuple[float, float]:
    """0..1 for accuracies, unless everything sits high: then zoom, but keep the chance line in view."""
    v = np.asarray([x for x in values if x is not None and np.isfinite(x)], dtype=float)
    if not len(v):
        return (0.0, 1.02)
    low = float(v.min())
    if chance is not None:
        low = min(low, chance)
    if low > 0.5:
        return (max(0.0, math.floor((low - 0.05) * 10) / 10), 1.02)
    return (0.0, 1.02)


# --------------------------------------------------------------------------- figures


def metric_curves(history: pd.DataFrame, panels: Sequence[tuple[str, str, str]], *, title: str,
                  spread: Optional[str] = None, order: Optional[Sequence] = None,
                  ylims: Optional[Mapping[str, tuple]] = None, logy: Sequence[str] = (),
                  chance: Optional[float] = None, figsize: Optional[tuple] = None) -> Figure:
    """One panel per (column, panel title, y label) of ``history`` over epochs, one colour per variant.

    history: columns variant, seed, epoch and the panel columns.
    """
    spread = spread or spread_for(_n_seeds(history))
    fig = Figure(figsize=figsize or (6.2 * len(panels), 4.4))
    axes = np.atleast_1d(fig.subplots(1, len(panels)))
    variants = _order(history, "variant", order)
    same_in = {col: identical_to(history, variants, col) for col, _, _ in panels}
    for ax, (col, sub, ylabel) in zip(axes, panels):
        same = same_in[col]
        for i, v in enumerate(variants):
            g = history[history["variant"] == v]
            if col in g and g[col].notna().any():
                _spread_line(ax, g, "epoch", col, color=f"C{i % 10}", label=str(v), spread=spread,
                             log=col in logy, ls=":" if v in same else "-", zorder=3 if v in same else 2)
        if "accuracy" in col:
            _chance_line(ax, chance)
        if col in logy:
            ax.set_yscale("log")
        if ylims and col in ylims and ylims[col] is not None:
            ax.set_ylim(*ylims[col])
        ax.set_xlabel("Epoch")
        _integer_x(ax)
        ax.set_ylabel(ylabel)
        ax.set_title(sub)
        _grid(ax)
    handles, labels = [], []  # one entry per variant, saying where its line hides under another's
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    shown = []
    for l in labels:
        marks = [(same_in[col][l], sub) for col, sub, _ in panels if l in same_in[col]]
        if not marks:
            shown.append(l)
            continue
        (u, exact), where = marks[0]
        note = f"{'=' if exact else '≈'} {u}" + ("" if len(marks) == len(panels) or len(panels) == 1
                                               else f" in {where.lower() or 'one panel'}")
        shown.append(f"{l} ({note}, dotted)")
    legend = None
    if handles:
        legend = axes[-1].legend(handles, shown, loc="upper left", bbox_to_anchor=(1.01, 1.0), fontsize=8)
    fig.suptitle(title)
    return fixed_layout(fig, legend=legend, grow=True)


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
        ylim = _accuracy_ylim(frame["value"], chance)
    legend = _bar_panel(ax, frame, ylabel=ylabel, title=title, order=order, chance=chance, ylim=ylim, fmt=fmt)
    return fixed_layout(fig, bottom=xtick_margin(fig, ax), legend=legend, grow=True)


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
            ylim = _accuracy_ylim(p["frame"]["value"], p.get("chance"))
        legends.append(_bar_panel(ax, p["frame"], ylabel=p["ylabel"], title=p.get("title", ""), order=order,
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
    spread = spread or spread_for(_n_seeds(history))
    fig = Figure(figsize=(13, 4.8))
    ax_c, ax_b = fig.subplots(1, 2, gridspec_kw={"width_ratios": [1.25, 1]})
    variants = _order(pd.concat([history[["variant"]], bars_frame[["variant"]]]), "variant", order)
    colors = {v: f"C{i % 10}" for i, v in enumerate(variants)}
    same = identical_to(history, variants, column)
    for v in variants:
        g = history[history["variant"] == v]
        if column in g and g[column].notna().any():
            _spread_line(ax_c, g, "epoch", column, color=colors[v], spread=spread,
                         label=_same_label(v, same),
                         ls=":" if v in same else "-", zorder=3 if v in same else 2)
    _chance_line(ax_c, chance)
    ax_c.set_xlabel("Epoch")
    _integer_x(ax_c)
    ax_c.set_ylabel(ylabel)
    ax_c.set_title(curve_title)
    _grid(ax_c)
    below = _legend(ax_c, loc="upper center", bbox_to_anchor=(0.5, -0.2), ncol=min(4, len(variants)))
    right = _bar_panel(ax_b, bars_frame, ylabel=bars_ylabel, title=bar_title, order=variants, chance=chance,
                       ylim=_accuracy_ylim(bars_frame["value"], chance) if bars_accuracy else None,
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
    n_seeds = max((_n_seeds(f) for f in frames), default=0)
    spread = spread or spread_for(n_seeds)
    fig = Figure(figsize=(6.0 * len(panels) + 1.8, 4.8))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True))
    variants = _order(pd.concat([f[["variant"]] for f in frames]) if frames else pd.DataFrame({"variant": []}),
                      "variant", order)
    for ax, (sub, frame) in zip(axes, panels.items()):
        for i, v in enumerate(variants):
            g = frame[frame["variant"] == v]
            if g.empty:
                continue
            st = dict((styles or {}).get(v, {}))
            _spread_line(ax, g, "layer", value, color=st.get("color", f"C{i % 10}"), ls=st.get("ls", "-"),
                         marker=st.get("marker", "o"), label=str(v), spread=spread, log=True)
        ax.set_yscale("log")
        ax.set_xlabel("Hidden layer (1 = next to the input)")
        _integer_x(ax)
        ax.set_title(sub)
        _grid(ax)
    axes[0].set_ylabel(ylabel)
    handles, labels = axes[0].get_legend_handles_labels()
    for ax in axes[1:]:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    legend = None
    if handles:
        legend = fig.legend(handles, labels, loc="center left", bbox_to_anchor=(1.0, 0.5), fontsize=9,
                            title="variant")
    fig.suptitle(title)
    return fixed_layout(fig, fig_legend=legend)


def probe_accuracy_vs_depth(probes: pd.DataFrame, *, title: str, chance: Optional[float] = None) -> Figure:
    """Linear-probe test accuracy of each representation (Input, Layer 1, ...): the mean thick, and a thin
    line per seed when there are several (one seed's line would be the mean's).

    probes: seed, depth, representation, probe_accuracy (and optionally dims).
    """
    fig = Figure(figsize=(7, 4.5))
    ax = fig.subplots()
    n = _n_seeds(probes)
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
    _chance_line(ax, chance)
    ax.set_ylim(*_accuracy_ylim(probes["probe_accuracy"], chance))
    ax.set_xlabel("Representation")
    ax.set_ylabel("Linear-probe test accuracy")
    ax.set_title(title)
    _grid(ax)
    _legend(ax, loc="lower right")
    return fixed_layout(fig, bottom=xtick_margin(fig, ax))


def dead_units_by_init(frame: pd.DataFrame, *, title: str, order: Optional[Sequence] = None,
                       spread: Optional[str] = None) -> Figure:
    """Exercise 6's figure: % dead hidden units per epoch, one colour per initializer;
    solid = on activations (output 0 for every training input), dashed = the notebook's
    weight proxy (all incoming weights <= 0). Mean over seeds.

    frame: variant, seed, epoch, dead_fraction, weight_proxy_dead_fraction (fractions, 0..1).
    """
    spread = spread or (BAND if _n_seeds(frame) >= 3 else MEAN)
    fig = Figure(figsize=(12, 5.5))
    ax = fig.subplots()
    f = frame.copy()
    f["dead_pct"] = 100 * f["dead_fraction"].astype(float)
    f["proxy_pct"] = 100 * f["weight_proxy_dead_fraction"].astype(float)
    variants = _order(f, "variant", order)
    for i, v in enumerate(variants):
        g = f[f["variant"] == v]
        c = f"C{i % 10}"
        _spread_line(ax, g, "epoch", "dead_pct", color=c, label=str(v), spread=spread, marker="o")
        _spread_line(ax, g, "epoch", "proxy_pct", color=c, label=None, spread=spread, ls="--", marker="x", lw=1.6,
                     zorder=3)
    ax.set_xlabel("Epoch (0 = initialization)")
    _integer_x(ax)
    ax.set_ylabel("Percentage of dead neurons (%)")
    ax.set_ylim(-3, 103)
    ax.set_title(title)
    _grid(ax)
    def _label(v) -> str:  # a dashed line exactly on top of the solid one would be invisible: say so
        g = f[f["variant"] == v].groupby("epoch")[["dead_pct", "proxy_pct"]].mean()
        same = len(g) and float((g["dead_pct"] - g["proxy_pct"]).abs().max()) < 0.5
        return f"{v} (both measures coincide)" if same else str(v)

    color_handles = [Line2D([], [], color=f"C{i % 10}", lw=2.5, label=_label(v)) for i, v in enumerate(variants)]
    style_handles = [Line2D([], [], color="0.2", lw=2, marker="o", label="on activations"),
                     Line2D([], [], color="0.2", lw=1.6, ls="--", marker="x", label="weight proxy (notebook)")]
    fixed_layout(fig, right=0.26 * fig.get_size_inches()[0])
    fig.legend(handles=color_handles, title="initializer", loc="upper left", bbox_to_anchor=(0.745, 0.93), fontsize=9)
    fig.legend(handles=style_handles, title="measure", loc="upper left", bbox_to_anchor=(0.745, 0.5), fontsize=9)
    return fig


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
        sub = agg[agg[panel] == p]
        grid = np.full((len(rows), len(cols)), np.nan)
        counts = np.zeros((len(rows), len(cols)), dtype=int)
        for _, r in sub.iterrows():
            grid[rows.index(r[row]), cols.index(r[col])] = r["mean"]
            counts[rows.index(r[row]), cols.index(r[col])] = int(r["n"])
        im = ax.imshow(grid, cmap=CMAP, vmin=vmin, vmax=vmax, aspect="auto", origin="lower")
        for i in range(len(rows)):
            for j in range(len(cols)):
                if np.isfinite(grid[i, j]):
                    frac = (grid[i, j] - vmin) / (vmax - vmin)
                    ax.text(j, i, fmt.format(grid[i, j]), ha="center", va="center", fontsize=9,
                            color="black" if frac > 0.6 else "white")
                else:
                    ax.text(j, i, (notes or {}).get((p, rows[i], cols[j]), "no run"), ha="center", va="center",
                            fontsize=8, color="0.3")
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
    spread = spread or spread_for(_n_seeds(f))
    dots = spread == SEEDS and _n_seeds(f) > 1
    sharex = sharex and isinstance(logx, bool)  # a log axis on some panels only cannot be shared
    panels = _order(f, "_panel", panel_order)
    lines = _order(f, "_line", line_order)
    fig = Figure(figsize=(5.8 * len(panels) + (2.2 if line else 0), 4.5))
    axes = np.atleast_1d(fig.subplots(1, len(panels), sharey=True, sharex=sharex))
    for ax, p in zip(axes, panels):
        sub = f[f["_panel"] == p]
        for i, l in enumerate(lines):
            g = sub[sub["_line"] == l]
            if g.empty:
                continue
            st = dict((styles or {}).get(l, {}))
            color = st.get("color", f"C{i % 10}")
            s = summarize(g, [x], "value").sort_values(x)
            if spread == BAND:
                ok = s["ci_low"].notna()
                ax.fill_between(s.loc[ok, x], s.loc[ok, "ci_low"], s.loc[ok, "ci_high"], color=color, alpha=0.15, lw=0)
            ax.plot(s[x], s["mean"], color=color, ls=st.get("ls", "-"), marker=st.get("marker", "o"), lw=2,
                    ms=7, mfc="white", mew=1.8, label=str(l) if line else "mean", zorder=4)
            if dots:
                ax.scatter(g[x], g["value"], color=color, edgecolors="black", linewidths=0.4, s=16, zorder=5)
        _chance_line(ax, chance)
        if logx is True or (not isinstance(logx, bool) and p in logx):
            ax.set_xscale("log")
        xs = sorted(sub[x].unique().tolist())
        ax.set_xticks(xs)
        ax.set_xticklabels([f"{v:g}" for v in xs])
        ax.minorticks_off()
        ax.set_xlabel((xlabels or {}).get(p, xlabel))
        if panel:
            ax.set_title(str(p))
        _grid(ax)
    axes[0].set_ylabel(ylabel)
    if accuracy:
        axes[0].set_ylim(*_accuracy_ylim(f["value"], chance))
    handles, labels = [], []
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
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
