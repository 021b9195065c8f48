"""Statistics for claims over seeds: mean, 95% t-interval, paired differences, the verdict rule. Pure.

The rule, as the report states it:
  * each claim compares a metric with a threshold, or two configurations on the
    same seeds (then the per-seed difference a - b is compared with the margin, 0 by default);
  * we compute the mean over seeds and its 95% confidence interval
    (mean +/- t(0.975, n-1) * sd / sqrt(n));
  * supported when the whole interval lies on the claimed side of the threshold;
    contradicted when the whole interval lies on the other side (or, for a value
    that does not vary between seeds, when it fails the comparison);
    inconclusive otherwise (the interval straddles the threshold, or one seed
    of a metric that varies between seeds).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Optional, Sequence

import numpy as np


def finite_or_none(value) -> Optional[float]:
    """``value`` as a float, or None when it is missing, not a number, NaN or infinite."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
OPS = (">", ">=", "<", "<=")
OPPOSITE = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}
# The reasons verdict_reason gives, and claims' notes, when there is no interval.
NO_RUNS = "no finished runs to measure"
ONE_SEED = "one seed: no interval (run with --seeds >= 2)"


@dataclass(frozen=True)
class Estimate:
    """Mean of per-seed values with a two-sided confidence interval."""

    values: tuple[float, ...]
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    level: float = 0.95

    @property
    def n(self) -> int:
        return len(self.values)


def t_quantile(p: float, df: int) -> float:
    from scipy.stats import t

    return float(t.ppf(p, df))


def mean_ci(values: Sequence[float], level: float = 0.95, deterministic: bool = False) -> Estimate:
    """Mean and t-interval of ``values`` (NaNs dropped).

    With one value the interval is unknown (NaN) unless the metric is
    ``deterministic`` (it cannot change with the seed), when it is the value itself.

    Example:
        >>> e = mean_ci([1.0, 2.0, 3.0])
        >>> round(e.mean, 3), round(e.ci_low, 3), round(e.ci_high, 3)
        (2.0, -0.484, 4.484)
    """
    v = tuple(float(x) for x in values if x is not None and not math.isnan(float(x)))
    if not v:
        return Estimate((), math.nan, math.nan, math.nan, math.nan, level)
    mean = float(np.mean(v))
    if len(v) == 1:
        lo = hi = mean if deterministic else math.nan
        return Estimate(v, mean, 0.0 if deterministic else math.nan, lo, hi, level)
    sd = float(np.std(v, ddof=1))
    half = t_quantile(0.5 + level / 2, len(v) - 1) * sd / math.sqrt(len(v))
    return Estimate(v, mean, sd, mean - half, mean + half, level)


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = 0.95,
                      deterministic: bool = False) -> tuple[Estimate, list[int]]:
    """Estimate of mean(a[s] - b[s]) over the seeds both have (finite values only)."""
    seeds = sorted(s for s in a.keys() & b.keys()
                   if a[s] is not None and b[s] is not None and math.isfinite(a[s]) and math.isfinite(b[s]))
    return mean_ci([a[s] - b[s] for s in seeds], level, deterministic), seeds


def _holds(x: float, op: str, t: float) -> bool:
    return {">": x > t, ">=": x >= t, "<": x < t, "<=": x <= t}[op]


def verdict(est: Estimate, op: str, threshold: float = 0.0) -> str:
    """Supported / contradicted / inconclusive for "mean ``op`` threshold" (see the module docstring)."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if est.n == 0 or math.isnan(est.ci_low) or math.isnan(est.ci_high):
        return INCONCLUSIVE
    if est.ci_low == est.ci_high:  # no spread: the comparison itself decides
        return SUPPORTED if _holds(est.mean, op, threshold) else CONTRADICTED
    if _holds(est.ci_low, op, threshold) and _holds(est.ci_high, op, threshold):
        return SUPPORTED
    opposite = OPPOSITE[op]
    if _holds(est.ci_low, opposite, threshold) and _holds(est.ci_high, opposite, threshold):
        return CONTRADICTED
    return INCONCLUSIVE


def short_number(x: float) -> str:
    """``x`` in at most 3 significant digits, a whole number without decimals: 14800, 0.045, 1e-06."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.3g}"


def verdict_reason(est: Estimate, op: str, threshold: float = 0.0) -> str:
    """Why ``verdict(est, op, threshold)`` is what it is, in a few words (for the reports).

    Example:
        >>> verdict_reason(mean_ci([0.1, 0.12, 0.11]), ">", 0.0)
        'whole CI > 0'
        >>> verdict_reason(mean_ci([-0.1, 0.12, 0.01]), ">", 0.0)
        'CI includes 0'
    """
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    t = short_number(threshold)
    if est.n == 0:
        return NO_RUNS
    if math.isnan(est.ci_low) or math.isnan(est.ci_high):
        return ONE_SEED
    if est.ci_low == est.ci_high:
        holds = _holds(est.mean, op, threshold)
        return f"same value on every seed: {short_number(est.mean)} {op if holds else OPPOSITE[op]} {t}"
    v = verdict(est, op, threshold)
    if v == SUPPORTED:
        return f"whole CI {op} {t}"
    if v == CONTRADICTED:
        return f"whole CI {OPPOSITE[op]} {t}"
    return f"CI includes {t}"
