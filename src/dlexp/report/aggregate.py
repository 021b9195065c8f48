"""Long frames of runs aggregated over seeds, for the charts. Pure: DataFrames in, DataFrames out.

The frames have one row per run (and per epoch or layer where that applies) and a ``seed``
column. How a chart shows the seeds' spread (``spread``):

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
from typing import Optional, Sequence

import numpy as np
import pandas as pd

from dlexp.report import stats

BAND, SEEDS, MEAN = "band", "seeds", "mean"


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
    keys, samples = [], []
    for key, g in frame.groupby(by, sort=False, dropna=False):
        v = pd.to_numeric(g[value], errors="coerce").to_numpy(dtype=float)
        v = v[np.isfinite(v)]
        keys.append(key if isinstance(key, tuple) else (key,))
        samples.append(np.log10(v[v > 0]) if log else v)
    rows = []
    # Inside the values' range, as the claims'; no interval for one value.
    for key, v, e in zip(keys, samples, stats.mean_cis(samples)):
        m, lo, hi = e.mean, e.ci_low, e.ci_high
        if log:
            m, lo, hi = (10.0 ** x if not math.isnan(x) else math.nan for x in (m, lo, hi))
        rows.append(dict(zip(by, key), mean=m, ci_low=lo, ci_high=hi, n=len(v)))
    return pd.DataFrame(rows, columns=cols)


def ordered(frame: pd.DataFrame, column: str, order: Optional[Sequence] = None) -> list:
    """The distinct values of ``column``: those of ``order`` first (in its order), then the rest as they come."""
    seen = list(dict.fromkeys(frame[column].tolist())) if column in frame else []
    if order is None:
        return seen
    return [v for v in order if v in seen] + [v for v in seen if v not in order]


def n_seeds(frame: pd.DataFrame) -> int:
    return int(frame["seed"].nunique()) if "seed" in frame and len(frame) else 0


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
