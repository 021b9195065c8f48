"""Statistics for claims over seeds: bootstrap intervals, the exact sign-flip test, Holm's correction. Pure.

The rule, as the report states it:
  * a claim compares a metric with a threshold, or two configurations on the same seeds
    (then the per-seed difference a - b is compared with the margin, 0 by default);
  * the interval shown is the mean over seeds with its 95% paired bootstrap percentile interval
    (10,000 resamples of the seeds, fixed random seed: the same runs give the same interval).
    It lies between the smallest and the largest per-seed value, so an accuracy's interval
    stays in [0, 1]. It describes the spread (with few seeds it is too narrow); the test decides;
  * the test is the exact sign-flip permutation test of the mean of (value - threshold):
    one-sided p-values for the claimed side and for the opposite side over all 2^n sign
    patterns of n seeds (beyond 32 seeds, 100,000 random patterns, fixed seed). It assumes no
    normal distribution, only that a seed is as likely to land a given distance above the
    threshold as below it when the mean sits on it. No p is below 2^-n: 5 seeds give 0.031 at best;
  * Holm's step-down correction over every tested claim holds the family-wise error (the chance
    of any false verdict among them) at 0.05: each claim enters with the p of the side its data
    favour, and the k-th smallest p of m needs p <= 0.05 / (m - k + 1), as does every smaller p;
  * supported when the corrected p of the claimed side is <= 0.05, contradicted when the corrected
    p of the opposite side is <= 0.05, inconclusive otherwise (the reason gives the p, the
    threshold it missed and the seeds that could reach it) or with one seed of a varying metric;
  * a value that cannot vary with the seed (declared deterministic: parameter counts, function
    values) is decided by the comparison itself, at any number of seeds, even 1; not tested;
  * undecidable here: these data cannot pass or fail the claim (for example, an accuracy above
    the best any classifier can reach on the data set); not tested, not counted in Holm.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import NamedTuple, Optional, Sequence

import numpy as np

SUPPORTED, CONTRADICTED, INCONCLUSIVE = "supported", "contradicted", "inconclusive"
UNDECIDABLE = "undecidable here"
VERDICTS = (SUPPORTED, CONTRADICTED, INCONCLUSIVE, UNDECIDABLE)
OPS = (">", ">=", "<", "<=")
OPPOSITE = {">": "<=", ">=": "<", "<": ">=", "<=": ">"}
ALPHA = 0.05  # family-wise error of all claims of a report together
LEVEL = 0.95  # the bootstrap interval's coverage
RESAMPLES = 10_000
EXACT_UP_TO = 32  # two halves of 2**16 sums take a few ms; beyond, Monte Carlo
PATTERNS = 100_000


def finite_or_none(value) -> Optional[float]:
    """``value`` as a float, or None when it is missing, not a number, NaN or infinite."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        return None
    return v if math.isfinite(v) else None


def short_number(x: float) -> str:
    """``x`` in at most 3 significant digits, a whole number without decimals: 14800, 0.045, 1e-06."""
    return str(int(x)) if float(x).is_integer() and abs(x) < 1e15 else f"{x:.3g}"


def min_p(n: int) -> float:
    """The smallest one-sided p the sign-flip test can give with ``n`` seeds: 2**-n."""
    return 2.0 ** -n


def seeds_needed(alpha: float) -> int:
    """The fewest seeds whose smallest possible p, 2**-n, is <= ``alpha``.

    >>> seeds_needed(0.05), seeds_needed(0.05 / 20)
    (5, 9)
    """
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    n = 0
    while min_p(n) > alpha:
        n += 1
    return n


# The reasons given, and claims' notes, when there is nothing to test.
NO_RUNS = "no finished runs to measure"
ONE_SEED = (f"one seed of a metric that varies with the seed: no interval, no test "
            f"(run with --seeds >= {seeds_needed(ALPHA)})")


@dataclass(frozen=True)
class Estimate:
    """Mean of per-seed values with a two-sided interval (bootstrap percentile; [min, max] when deterministic)."""

    values: tuple[float, ...]
    mean: float
    sd: float
    ci_low: float
    ci_high: float
    level: float = LEVEL
    deterministic: bool = False

    @property
    def n(self) -> int:
        return len(self.values)


def bootstrap_ci(values: Sequence[float], level: float = LEVEL, resamples: int = RESAMPLES,
                 seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of the mean: the same inputs give the same interval, inside [min, max].

    >>> bootstrap_ci([0.49, 1.0, 1.0, 0.5, 1.0])
    (0.594, 1.0)
    """
    return bootstrap_intervals([values], level, resamples, seed)[0]


def bootstrap_intervals(samples: Sequence[Sequence[float]], level: float = LEVEL, resamples: int = RESAMPLES,
                        seed: int = 0) -> list[tuple[float, float]]:
    """``bootstrap_ci`` of each sample, with the same results as one call each.

    A fresh Generator per sample size keeps reports reproducible and the module free of state;
    samples of one size share that draw of indices, so a figure's band (one interval per epoch)
    draws once instead of once per point (drawing is most of an interval's cost).
    """
    arrays = [np.asarray(v, dtype=float) for v in samples]
    out = [(math.nan, math.nan)] * len(arrays)
    by_size: dict[int, list[int]] = {}
    for i, v in enumerate(arrays):
        if v.size:
            by_size.setdefault(v.size, []).append(i)
    q = [(1 - level) / 2, (1 + level) / 2]
    for n, members in by_size.items():
        draw = np.random.default_rng(seed).integers(0, n, (resamples, n))
        for i in members:
            v = arrays[i]
            lo, hi = np.quantile(v[draw].mean(axis=1), q)
            # Clipping only removes rounding of the mean of equal values (e.g. 0.1 * 3 / 3).
            out[i] = (float(np.clip(lo, v.min(), v.max())), float(np.clip(hi, v.min(), v.max())))
    return out


def mean_ci(values: Sequence[float], level: float = LEVEL, deterministic: bool = False,
            resamples: int = RESAMPLES, seed: int = 0) -> Estimate:
    """Mean and bootstrap interval of ``values`` (None and NaN dropped).

    With one value the interval is unknown (NaN) unless the metric is ``deterministic``
    (it cannot change with the seed); a deterministic metric's interval is [min, max].

    >>> e = mean_ci([1.0, 2.0, 3.0])
    >>> e.mean, e.ci_low, e.ci_high
    (2.0, 1.0, 3.0)
    """
    return mean_cis([values], level, deterministic, resamples, seed)[0]


def mean_cis(samples: Sequence[Sequence[float]], level: float = LEVEL, deterministic: bool = False,
             resamples: int = RESAMPLES, seed: int = 0) -> list[Estimate]:
    """``mean_ci`` of each sample, the intervals drawn together (``bootstrap_intervals``)."""
    kept = [tuple(float(x) for x in values if x is not None and not math.isnan(float(x))) for values in samples]
    varying = [i for i, v in enumerate(kept) if not deterministic and len(v) > 1]
    intervals = dict(zip(varying, bootstrap_intervals([kept[i] for i in varying], level, resamples, seed)))
    out = []
    for i, v in enumerate(kept):
        if not v:
            out.append(Estimate((), math.nan, math.nan, math.nan, math.nan, level, deterministic))
            continue
        mean = float(np.mean(v))
        if deterministic:
            out.append(Estimate(v, mean, float(np.std(v, ddof=1)) if len(v) > 1 else 0.0, min(v), max(v), level, True))
        elif len(v) == 1:
            out.append(Estimate(v, mean, math.nan, math.nan, math.nan, level, False))
        else:
            out.append(Estimate(v, mean, float(np.std(v, ddof=1)), *intervals[i], level, False))
    return out


def paired_difference(a: dict[int, float], b: dict[int, float], level: float = LEVEL,
                      deterministic: bool = False, **bootstrap) -> tuple[Estimate, list[int]]:
    """Estimate of mean(a[s] - b[s]) over the seeds both have with finite values, and those seeds."""
    seeds = sorted(s for s in a.keys() & b.keys()
                   if finite_or_none(a[s]) is not None and finite_or_none(b[s]) is not None)
    return mean_ci([a[s] - b[s] for s in seeds], level, deterministic, **bootstrap), seeds


def _centred(values: Sequence[float], threshold: float) -> np.ndarray:
    """values - threshold, with rounding noise (0.3 - 0.2 - 0.1) set to 0 so it is no evidence of a side."""
    v = np.asarray(values, dtype=float)
    d = v - threshold
    d[np.abs(d) <= 1e-12 * np.maximum(np.abs(v), abs(threshold))] = 0.0
    return d


def _check(op: str) -> None:
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")


def _holds(x: float, op: str, t: float) -> bool:
    return {">": x > t, ">=": x >= t, "<": x < t, "<=": x <= t}[op]


def _pattern_sums(d: np.ndarray) -> np.ndarray:
    """The sums of ``d`` under all 2**len(d) sign patterns."""
    sums = np.zeros(1)
    for x in d:  # doubling: O(2**n), not O(n * 2**n)
        sums = np.concatenate((sums + x, sums - x))
    return sums


def _sign_flip(d: np.ndarray, patterns: int, seed: int) -> tuple[float, float]:
    """One-sided p-values (P(sum >= observed), P(sum <= observed)) of sum(d) under random signs."""
    n = d.size
    observed = float(d.sum())
    tol = 1e-12 * max(float(np.abs(d).sum()), 1e-300)  # sums of the same terms in another order
    if n <= EXACT_UP_TO:
        # Meet in the middle: every pattern is a left-half sum plus a right-half sum, so counting
        # the right sums beyond (observed - left) over the sorted right half counts all 2**n patterns
        # in O(2**(n/2) log) instead of listing them.
        left, right = _pattern_sums(d[: n // 2]), np.sort(_pattern_sums(d[n // 2:]))
        total = float(left.size) * right.size
        ge = total - float(np.searchsorted(right, observed - tol - left, side="left").sum())
        le = float(np.searchsorted(right, observed + tol - left, side="right").sum())
        return ge / total, le / total
    rng = np.random.default_rng(seed)
    ge = le = 0
    for start in range(0, patterns, 10_000):  # chunks bound the memory at many seeds
        sums = (1.0 - 2.0 * rng.integers(0, 2, (min(10_000, patterns - start), n), dtype=np.int8)) @ d
        ge, le = ge + int(np.sum(sums >= observed - tol)), le + int(np.sum(sums <= observed + tol))
    # The +1 counts the observed pattern, so a Monte Carlo p is never 0.
    return (ge + 1) / (patterns + 1), (le + 1) / (patterns + 1)


def sign_flip_p(values: Sequence[float], op: str, threshold: float = 0.0, *,
                patterns: int = PATTERNS, seed: int = 0) -> float:
    """One-sided p-value of the sign-flip test for "mean of ``values`` ``op`` ``threshold``".

    >>> sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5], ">", 0.0), sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5], "<=", 0.0)
    (0.03125, 1.0)
    """
    _check(op)
    d = _centred(values, threshold)
    if d.size == 0:
        return math.nan
    ge, le = _sign_flip(d, patterns, seed)
    return ge if op in (">", ">=") else le


def favoured_side(values: Sequence[float], op: str, threshold: float = 0.0, **test) -> tuple[float, str]:
    """The smaller one-sided p of the claimed side ``op`` and of its opposite, and that side's operator.

    This is the p a claim brings to Holm's family: the sign-flip p-values of the two
    sides add up to at least 1, so only the side the data favour can be small.
    """
    claimed, opposite = sign_flip_p(values, op, threshold, **test), sign_flip_p(values, OPPOSITE[op], threshold, **test)
    return (claimed, op) if claimed <= opposite else (opposite, OPPOSITE[op])


def holm(pvalues: Sequence[Optional[float]], alpha: float = ALPHA) -> list[tuple[Optional[float], Optional[float]]]:
    """Holm's step-down correction: per p, (adjusted p, the threshold alpha / (m - rank + 1) for the p itself).

    None entries are outside the family (m counts the others) and get (None, None).
    Tied p-values share the threshold of their first rank. A claim is rejected when its
    adjusted p is <= alpha, which can fail although p <= its threshold: Holm stops at the
    first p (in increasing order) above its threshold.

    >>> [(round(a, 3), round(t, 4)) for a, t in holm([0.01, 0.04, 0.03, 0.005])]
    [(0.03, 0.0167), (0.06, 0.05), (0.06, 0.025), (0.02, 0.0125)]
    """
    family = sorted((p, i) for i, p in enumerate(pvalues) if p is not None and not math.isnan(p))
    m = len(family)
    out: list[tuple[Optional[float], Optional[float]]] = [(None, None)] * len(pvalues)
    running, first_rank = 0.0, {}
    for rank, (p, i) in enumerate(family, start=1):
        running = max(running, min(1.0, (m - rank + 1) * p))
        first_rank.setdefault(p, rank)
        out[i] = (running, alpha / (m - first_rank[p] + 1))
    return out


@dataclass(frozen=True)
class Judgement:
    """A claim's verdict and why; p is the one-sided p of ``side`` (the side the data favour), None when not tested."""

    verdict: str
    reason: str
    p: Optional[float] = None
    p_adjusted: Optional[float] = None
    threshold: Optional[float] = None  # Holm's threshold for p
    side: Optional[str] = None
    family: int = 0  # how many claims Holm corrected over


class Comparison(NamedTuple):
    """One claim for ``judge_all``: "mean of ``estimate`` ``op`` ``threshold``"; ``undecidable``: the reason, if so."""

    estimate: Estimate
    op: str
    threshold: float = 0.0
    deterministic: Optional[bool] = None
    undecidable: Optional[str] = None


def judge(est: Estimate, op: str, threshold: float = 0.0, *, deterministic: Optional[bool] = None,
          holm_rank: Optional[tuple[Optional[float], Optional[float]]] = None, family: int = 1,
          alpha: float = ALPHA, undecidable: Optional[str] = None) -> Judgement:
    """The verdict on "mean ``op`` ``threshold``" (the module docstring's rule), with its reason.

    ``holm_rank`` is this claim's entry of ``holm`` over a ``family`` of claims; without it
    the claim is a family of one. ``deterministic`` defaults to ``est.deterministic``.

    >>> judge(mean_ci([0.1, 0.2, 0.3, 0.4, 0.5]), ">", 0.0, holm_rank=(0.5, 0.0025), family=20).reason
    'exact sign-flip test p(> 0) = 0.031 > Holm threshold 0.0025 (20 claims): 5 seeds cannot reach it, at least 9 are needed'
    >>> judge(mean_ci([3.0], deterministic=True), "<", 5).reason
    'does not vary with the seed: 3 < 5'
    """
    _check(op)
    deterministic = est.deterministic if deterministic is None else deterministic
    t = short_number(threshold)
    if undecidable:
        return Judgement(UNDECIDABLE, undecidable)
    if est.n == 0:
        return Judgement(INCONCLUSIVE, NO_RUNS)
    if deterministic:
        holds = [_holds(x, op, threshold) for x in est.values]
        if len(set(est.values)) > 1:  # a value declared deterministic that varies is reported, not averaged
            verdict = SUPPORTED if all(holds) else CONTRADICTED if not any(holds) else INCONCLUSIVE
            return Judgement(verdict, f"declared deterministic but varies with the seed: "
                                      f"{short_number(min(est.values))} to {short_number(max(est.values))}, {op} {t} "
                                      f"on {sum(holds)} of {est.n} seeds")
        said = "same value on every seed" if est.n > 1 else "does not vary with the seed"
        return Judgement(SUPPORTED if holds[0] else CONTRADICTED,
                         f"{said}: {short_number(est.mean)} {op if holds[0] else OPPOSITE[op]} {t}")
    if est.n == 1:
        return Judgement(INCONCLUSIVE, ONE_SEED)
    p, side = favoured_side(est.values, op, threshold)
    p_adj, holm_threshold = holm([p], alpha)[0] if holm_rank is None else holm_rank
    if p_adj is None or holm_threshold is None:
        raise ValueError("a tested claim needs its Holm rank (it was left out of the family)")
    test = "exact sign-flip test" if est.n <= EXACT_UP_TO else f"sign-flip test ({PATTERNS:,} random patterns)"
    # Two significant digits are all a p-value means: 0.031, 0.0025.
    where = f"Holm threshold {holm_threshold:.2g} ({family} claims)" if family > 1 else f"alpha {alpha:.2g} (1 claim)"
    said = f"{test} p({side} {t}) = {p:.2g}"
    kw = dict(p=p, p_adjusted=p_adj, threshold=holm_threshold, side=side, family=family)
    if p_adj <= alpha:
        return Judgement(SUPPORTED if side == op else CONTRADICTED, f"{said} <= {where}", **kw)
    if p <= holm_threshold:
        return Judgement(INCONCLUSIVE, f"{said} <= {where}, but Holm stopped at a smaller p above its threshold", **kw)
    nonzero = int(np.count_nonzero(_centred(est.values, threshold)))
    reason = f"{said} > {where}"
    if min_p(nonzero) > holm_threshold:
        seeds = f"{est.n} seeds cannot reach it" if nonzero == est.n else f"only {nonzero} of {est.n} seeds differ from {t}"
        reason += f": {seeds}, at least {seeds_needed(holm_threshold)} are needed"
    return Judgement(INCONCLUSIVE, reason, **kw)


def judge_all(comparisons: Sequence[Comparison], alpha: float = ALPHA) -> list[Judgement]:
    """Judge claims together: Holm over the tested ones (not deterministic, undecidable, or under 2 seeds)."""
    ps = [favoured_side(c.estimate.values, c.op, c.threshold)[0]
          if not c.undecidable and c.estimate.n >= 2
          and not (c.estimate.deterministic if c.deterministic is None else c.deterministic) else None
          for c in comparisons]
    ranks, family = holm(ps, alpha), sum(p is not None for p in ps)
    return [judge(c.estimate, c.op, c.threshold, deterministic=c.deterministic, holm_rank=r if p is not None else None,
                  family=family, alpha=alpha, undecidable=c.undecidable) for c, p, r in zip(comparisons, ps, ranks)]


def verdict(est: Estimate, op: str, threshold: float = 0.0, **kw) -> str:
    """``judge(...).verdict``: one claim alone unless ``holm_rank`` and ``family`` are given."""
    return judge(est, op, threshold, **kw).verdict


def verdict_reason(est: Estimate, op: str, threshold: float = 0.0, **kw) -> str:
    """``judge(...).reason``: why the verdict is what it is, in a few words (for the reports)."""
    return judge(est, op, threshold, **kw).reason
