"""What the charts draw on one matplotlib Axes: a mean line with its spread over seeds, a panel of
bars with intervals and seeds, the chance line, axis limits and the legend's entries."""

from __future__ import annotations

import math
from typing import Callable, Iterable, Mapping, Optional, Sequence

import numpy as np
import pandas as pd
from matplotlib.ticker import MaxNLocator

from dlexp.report.aggregate import BAND, SEEDS, identical_to, n_seeds, ordered, summarize


def grid(ax) -> None:
    ax.grid(True, alpha=0.3)


def integer_x(ax) -> None:
    ax.xaxis.set_major_locator(MaxNLocator(integer=True))


def epoch_axis(ax, ylabel: str, title: str) -> None:
    """Labels and grid of a panel drawn over epochs."""
    ax.set_xlabel("Epoch")
    integer_x(ax)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    grid(ax)


def chance_line(ax, chance: Optional[float]) -> None:
    if chance is not None and 0 < chance < 1:
        ax.axhline(chance, color="0.35", ls=":", lw=1.2, label=f"chance ({chance:.2f})", zorder=1)


def legend(ax, **kw):
    handles, labels = ax.get_legend_handles_labels()
    if handles:
        return ax.legend(**{"fontsize": 8, **kw})
    return None


def legend_entries(axes) -> tuple[list, list[str]]:
    """The handles and labels of all ``axes`` for one legend: each label once, with its first handle."""
    handles, labels = [], []
    for ax in axes:
        for h, l in zip(*ax.get_legend_handles_labels()):
            if l not in labels:
                handles.append(h)
                labels.append(l)
    return handles, labels


def same_label(v, same: dict) -> str:
    """A variant's legend label, saying when its line lies under an earlier variant's (``identical_to``)."""
    if v not in same:
        return str(v)
    u, exact = same[v]
    return f"{v} ({'=' if exact else '≈'} {u}, dotted)"


def spread_line(ax, frame: pd.DataFrame, x: str, y: str, *, color, label: str, spread: str,
                ls: str = "-", marker: Optional[str] = None, log: bool = False, lw: float = 2.0,
                zorder: float = 2) -> None:
    """The mean of ``y`` over seeds against ``x``, with the seeds' spread drawn as ``spread`` says."""
    s = summarize(frame, [x], y, log=log).sort_values(x)
    if s.empty or s["mean"].isna().all():
        return
    if spread == SEEDS and n_seeds(frame) > 1:
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


def variant_curves(ax, history: pd.DataFrame, variants: Sequence, column: str, *, spread: str, same: dict,
                   log: bool = False, label: Callable = str) -> None:
    """``column`` over epochs, a colour per variant; a line that would hide under an earlier variant's
    (``same``) is dotted and drawn on top."""
    for i, v in enumerate(variants):
        g = history[history["variant"] == v]
        if column in g and g[column].notna().any():
            spread_line(ax, g, "epoch", column, color=f"C{i % 10}", label=label(v), spread=spread, log=log,
                        ls=":" if v in same else "-", zorder=3 if v in same else 2)


def bar_panel(ax, frame: pd.DataFrame, *, ylabel: str, title: str = "", order: Optional[Sequence] = None,
              chance: Optional[float] = None, ylim: Optional[tuple] = None, fmt: str = "{:.3f}",
              colors: Optional[Mapping[str, str]] = None):
    """Bars of the mean ``value`` per ``variant``, 95% CI error bars, one black dot per seed; returns the
    panel's legend (None without entries)."""
    labels = ordered(frame, "variant", order)
    s = summarize(frame, ["variant"], "value").set_index("variant")
    means, lo, hi = ([s.loc[v, c] if v in s.index else math.nan for v in labels] for c in ("mean", "ci_low", "ci_high"))
    xs = np.arange(len(labels))
    _bars_and_seeds(ax, frame, labels, xs, means, lo, hi, colors)
    chance_line(ax, chance)
    if ylim is None:  # bars start at 0; room for the seeds and for intervals that are not far longer
        ylim = bar_ylim(frame["value"], hi, lo)
    ax.set_ylim(*ylim)
    lo_y, hi_y = ax.get_ylim()
    _bar_ticks(ax, frame, labels, xs, means, fmt)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.set_ylim(lo_y, hi_y)
    _mark_off_axis(ax, xs, lo, hi, lo_y, hi_y)
    grid(ax)
    return legend(ax, loc="upper left", bbox_to_anchor=(1.01, 1.0))


def _bars_and_seeds(ax, frame, labels, xs, means, lo, hi, colors) -> None:
    err = np.array([[m - l if np.isfinite(l) else 0.0 for m, l in zip(means, lo)],
                    [h - m if np.isfinite(h) else 0.0 for m, h in zip(means, hi)]])
    bar_colors = [(colors or {}).get(v, f"C{i % 10}") for i, v in enumerate(labels)]
    ax.bar(xs, np.nan_to_num(means), color=bar_colors, alpha=0.8, zorder=2)
    ax.errorbar(xs, np.nan_to_num(means), yerr=err, fmt="none", ecolor="black", capsize=5, lw=1.3, zorder=3)
    for i, v in enumerate(labels):
        pts = frame.loc[frame["variant"] == v, "value"].astype(float)
        pts = pts[np.isfinite(pts)]
        jitter = np.linspace(-0.12, 0.12, len(pts)) if len(pts) > 1 else np.zeros(len(pts))
        ax.scatter(xs[i] + jitter, pts, s=14, color="black", zorder=4,
                   label="one seed" if i == 0 and len(pts) else None)


def _bar_ticks(ax, frame, labels, xs, means, fmt) -> None:
    """Each variant's name with its mean under it, where neither error bars nor dots can cover it."""
    ax.set_xticks(xs)
    long = max((len(str(v)) for v in labels), default=0) > 8 or len(labels) > 6
    sep = " " if long else "\n"  # one line when rotated, two when upright
    same = identical_to(frame, labels, "value", key=("seed",), close=0.0)  # the same value for every seed
    ticks = [f"{v}{sep}({fmt.format(m)}{', = ' + same[v][0] if v in same else ''})" if np.isfinite(m)
             else f"{v}{sep}(no value)" for v, m in zip(labels, means)]
    ax.set_xticklabels(ticks, rotation=30 if long else 0, ha="right" if long else "center",
                       rotation_mode="anchor" if long else "default")


def _mark_off_axis(ax, xs, lo, hi, lo_y: float, hi_y: float) -> None:
    """A triangle at the axis' edge for each interval longer than the axis: the bar goes on."""
    off = False
    for i in range(len(xs)):
        for bound, edge, mk in ((hi[i], hi_y, "^"), (lo[i], lo_y, "v")):
            if np.isfinite(bound) and (bound > edge if mk == "^" else bound < edge):
                pad = 0.015 * (hi_y - lo_y)
                ax.plot(xs[i], edge - pad if mk == "^" else edge + pad, marker=mk, color="black", ms=7,
                        ls="", zorder=6, clip_on=False, label=None if off else "95% CI runs off the axis")
                off = True


def bar_ylim(values, ci_high, ci_low) -> tuple[float, float]:
    """From 0 (or below, for negative values) to above the highest value, and an interval's end when it is near."""
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


def accuracy_ylim(values: Iterable[float], chance: Optional[float] = None) -> tuple[float, float]:
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
