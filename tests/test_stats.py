"""The statistics behind the verdicts: bootstrap intervals, the exact sign-flip test, Holm, the verdict rule.

Checked against scipy (the same draws for the bootstrap, every sign pattern for the test), hand-worked
cases, and the properties the old t-interval rule broke (intervals outside [0, 1], 3 seeds "supporting").
"""

import math

import numpy as np
import pytest
import scipy.stats

from dlexp.report import stats

ACCURACY = [0.49, 1.0, 1.0, 0.5, 1.0]  # bimodal: two collapsed seeds; its t-interval is [0.49, 1.10]


# -- the interval --------------------------------------------------------------------------------------


def test_accuracy_interval_stays_inside_the_values():
    e = stats.mean_ci(ACCURACY)
    assert e.mean == pytest.approx(0.798)
    assert 0.49 <= e.ci_low < e.mean < e.ci_high <= 1.0  # the t-interval's upper end was 1.10


@pytest.mark.parametrize("values", [ACCURACY, [0.80, 0.82, 0.84, 0.86, 0.88], [-3.0, 0.1, 2.5, 7.0],
                                    list(np.random.default_rng(3).normal(size=12))])
def test_bootstrap_is_scipys_percentile_interval_on_the_same_draws(values):
    # scipy draws rng.integers(0, n, (resamples, n)) as we do, so a Generator seeded alike gives the same interval.
    ref = scipy.stats.bootstrap((np.asarray(values),), np.mean, n_resamples=10_000, method="percentile",
                                confidence_level=0.95, rng=np.random.default_rng(0)).confidence_interval
    assert stats.bootstrap_ci(values) == pytest.approx((ref.low, ref.high), abs=1e-12)


def test_bootstrap_is_reproducible_and_stateless():
    first = stats.bootstrap_ci(ACCURACY)
    np.random.seed(123)  # the legacy global state must not matter
    np.random.default_rng().random(10)
    assert stats.bootstrap_ci(ACCURACY) == first
    assert stats.mean_ci(ACCURACY).ci_low == stats.mean_ci(ACCURACY).ci_low
    varied = [0.81, 0.86, 0.9, 0.77, 0.93, 0.88]
    assert stats.bootstrap_ci(varied, seed=1) != stats.bootstrap_ci(varied)  # the seed is the only randomness


def test_intervals_drawn_together_equal_one_call_each():
    # Samples of one size share one draw of indices: each interval must still be the one its own
    # call gives (a draw of the wrong size, or shared across sizes, changes them).
    rng = np.random.default_rng(5)
    samples = [rng.normal(size=n) for n in (20, 3, 20, 7, 3, 20, 1)] + [[], [0.1, 0.1, 0.1]]
    together = stats.bootstrap_intervals(samples)
    alone = [stats.bootstrap_ci(s) for s in samples[:-2]]
    assert together[:-2] == alone
    assert math.isnan(together[-2][0]) and together[-1] == (0.1, 0.1)
    estimates = stats.mean_cis([s for s in samples if len(s)] + [[2.0, None, math.nan, 4.0]])
    assert [(e.mean, e.ci_low, e.ci_high) for e in estimates[:-1]] == [
        (e.mean, e.ci_low, e.ci_high) for e in (stats.mean_ci(s) for s in samples if len(s))]
    assert estimates[-1].values == (2.0, 4.0)


def test_equal_values_give_a_point_interval():
    e = stats.mean_ci([0.1, 0.1, 0.1])
    assert e.ci_low == e.ci_high == 0.1


def test_paired_difference_uses_only_common_finite_seeds():
    a = {1: 0.9, 2: 0.8, 3: 0.7, 4: float("nan")}
    b = {1: 0.8, 2: 0.7, 3: 0.5, 5: 0.1}
    e, seeds = stats.paired_difference(a, b)
    assert seeds == [1, 2, 3]
    assert e.mean == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    assert e.n == 3
    assert 0.1 - 1e-12 <= e.ci_low <= e.ci_high <= 0.2 + 1e-12  # a t-interval reached 0.02 to 0.31


def test_one_seed_has_no_interval_unless_deterministic():
    assert math.isnan(stats.mean_ci([0.5]).ci_low)
    d = stats.mean_ci([6003.0], deterministic=True)
    assert d.ci_low == d.ci_high == 6003.0 and d.deterministic
    assert stats.mean_ci([]).n == 0 and math.isnan(stats.mean_ci([None, float("nan")]).mean)


# -- the sign-flip test --------------------------------------------------------------------------------


def _scipy_p(d, alternative, n_resamples=np.inf):
    return scipy.stats.permutation_test((np.asarray(d),), np.mean, permutation_type="samples",
                                        alternative=alternative, n_resamples=n_resamples, rng=0).pvalue


@pytest.mark.parametrize("n", [2, 3, 5, 8, 12, 16])
def test_exact_sign_flip_p_is_scipys(n):
    rng = np.random.default_rng(n)
    values = rng.normal(0.3, 1.0, n)
    values[0] = 0.25  # one value on the threshold: a zero difference
    for op, alternative in ((">", "greater"), (">=", "greater"), ("<", "less"), ("<=", "less")):
        assert stats.sign_flip_p(values, op, 0.25) == pytest.approx(_scipy_p(values - 0.25, alternative), abs=1e-12)


def test_sign_flip_p_with_ties_is_scipys():
    d = [0.01, 0.01, -0.01, 0.02, 0.0, 0.01]  # equal magnitudes: many patterns tie with the observed one
    assert stats.sign_flip_p(d, ">", 0) == pytest.approx(_scipy_p(d, "greater"), abs=1e-12)
    assert stats.sign_flip_p(d, "<", 0) == pytest.approx(_scipy_p(d, "less"), abs=1e-12)


@pytest.mark.parametrize("n", [17, 20, 23])
def test_exact_sign_flip_p_counts_every_pattern_beyond_16_seeds(n):
    """Meet in the middle gives the p of listing all 2**n pattern sums, ties included."""
    rng = np.random.default_rng(n)
    values = np.round(rng.normal(0.01, 0.02, n), 2)  # two decimals: many patterns tie with the observed sum
    values[0] = 0.0
    d = stats._centred(values, 0.0)
    every = stats._pattern_sums(d)
    tol = 1e-12 * np.abs(d).sum()
    assert stats.sign_flip_p(values, ">", 0.0) == pytest.approx(np.mean(every >= d.sum() - tol), abs=1e-15)
    assert stats.sign_flip_p(values, "<", 0.0) == pytest.approx(np.mean(every <= d.sum() + tol), abs=1e-15)


def test_monte_carlo_beyond_the_exact_range_agrees_with_the_exact_p(monkeypatch):
    values = np.random.default_rng(7).normal(0.2, 1.0, 17)
    exact = stats.sign_flip_p(values, ">", 0.0)
    assert exact == pytest.approx(_scipy_p(values, "greater"), abs=1e-12)  # all 2**17 patterns
    monkeypatch.setattr(stats, "EXACT_UP_TO", 16)
    p = stats.sign_flip_p(values, ">", 0.0)
    assert p != exact and p == pytest.approx(exact, abs=0.005)
    assert stats.sign_flip_p(values, ">", 0.0) == p  # fixed seed: reproducible
    # the +1 correction: no Monte Carlo p is 0, even when no random pattern reaches the observed one
    assert stats.sign_flip_p([1.0] * 40, ">", 0.0) == 1 / (stats.PATTERNS + 1)


def test_smallest_p_and_seeds_needed():
    assert stats.sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5], ">", 0.0) == stats.min_p(5) == 1 / 32
    assert stats.sign_flip_p([0.1, 0.2, 0.3, 0.4, 0.5], "<=", 0.0) == 1.0
    assert [stats.seeds_needed(a) for a in (0.05, 0.05 / 20, 0.5, 1 / 32, 0.031)] == [5, 9, 1, 5, 6]
    for alpha in (0.05, 0.01, 0.001, 0.05 / 7):
        n = stats.seeds_needed(alpha)
        assert stats.min_p(n) <= alpha < stats.min_p(n - 1)
    with pytest.raises(ValueError):
        stats.seeds_needed(0.0)


def test_rounding_noise_is_no_evidence():
    # 0.3 - 0.2 is 0.09999999999999998: five such seeds are not five seeds below a margin of 0.1
    d = [0.3 - 0.2] * 5
    assert stats.sign_flip_p(d, "<", 0.1) == stats.sign_flip_p(d, ">=", 0.1) == 1.0


# -- Holm ----------------------------------------------------------------------------------------------


def test_holm_by_hand():
    # sorted: 0.005, 0.01, 0.03, 0.04; m = 4 -> x4, x3, x2, x1 = 0.02, 0.03, 0.06, 0.04 -> running max 0.06
    out = stats.holm([0.01, 0.04, None, 0.03, 0.005])
    assert out[2] == (None, None)  # outside the family: m stays 4
    adjusted = [a for a, _ in out if a is not None]
    thresholds = [t for _, t in out if t is not None]
    assert adjusted == pytest.approx([0.03, 0.06, 0.06, 0.02])
    assert thresholds == pytest.approx([0.05 / 3, 0.05 / 1, 0.05 / 2, 0.05 / 4])
    # 0.04 is below its own threshold 0.05 but not rejected: 0.03 failed 0.025 before it (step-down stops)
    assert out[1][0] > 0.05 and 0.04 <= out[1][1]


def test_holm_ties_share_a_threshold_and_bounds():
    out = stats.holm([0.03, 0.03, 0.9])
    assert out[0] == out[1] == (pytest.approx(0.09), pytest.approx(0.05 / 3))
    assert out[2][0] == pytest.approx(0.9)
    assert stats.holm([0.6, 0.7]) == [(1.0, 0.025), (1.0, 0.05)]  # adjusted p capped at 1
    assert stats.holm([]) == [] and stats.holm([None]) == [(None, None)]


def test_holm_is_statsmodels():
    multitest = pytest.importorskip("statsmodels.stats.multitest")
    p = list(np.random.default_rng(5).uniform(0, 0.1, 15))
    reject, adjusted, _, _ = multitest.multipletests(p, alpha=0.05, method="holm")
    ours = stats.holm(p)
    assert [a for a, _ in ours] == pytest.approx(list(adjusted))
    assert [a <= 0.05 for a, _ in ours] == list(reject)


# -- the verdict rule ----------------------------------------------------------------------------------


@pytest.mark.parametrize("values,op,threshold,expected", [
    ([0.1, 0.2, 0.3, 0.4, 0.5], ">", 0.0, stats.SUPPORTED),      # p = 1/32 <= 0.05
    ([-0.1, -0.2, -0.3, -0.4, -0.5], ">", 0.0, stats.CONTRADICTED),
    ([0.1, 0.2, 0.3, 0.4, 0.5], "<", 0.0, stats.CONTRADICTED),
    ([0.95, 0.97, 0.96, 0.99, 0.98], ">=", 0.9, stats.SUPPORTED),
    ([-0.1, 0.12, 0.01, 0.2, -0.05], ">", 0.0, stats.INCONCLUSIVE),
    ([0.10, 0.12, 0.11], ">", 0.0, stats.INCONCLUSIVE),  # 3 seeds: p >= 1/8; the t-interval said supported
    ([1.0, 1.0, 1.0], ">=", 1.0, stats.INCONCLUSIVE),    # a varying metric on its threshold: no evidence
    ([0.5], ">", 0.0, stats.INCONCLUSIVE),               # one seed of a varying metric
    ([], ">", 0.0, stats.INCONCLUSIVE),
])
def test_verdict_of_one_claim(values, op, threshold, expected):
    assert stats.verdict(stats.mean_ci(values), op, threshold) == expected


def test_verdicts_are_corrected_for_many_claims():
    five = stats.Comparison(stats.mean_ci([0.1, 0.2, 0.3, 0.4, 0.5]), ">", 0.0)
    nine = stats.Comparison(stats.mean_ci(np.linspace(0.1, 0.9, 9)), ">", 0.0)
    alone = stats.judge_all([five])[0]
    assert (alone.verdict, alone.p, alone.threshold, alone.family) == (stats.SUPPORTED, 1 / 32, 0.05, 1)
    many = stats.judge_all([five] * 19 + [nine])
    assert [j.verdict for j in many] == [stats.INCONCLUSIVE] * 19 + [stats.SUPPORTED]
    assert many[0].reason == ("exact sign-flip test p(> 0) = 0.031 > Holm threshold 0.0026 (20 claims): "
                              "5 seeds cannot reach it, at least 9 are needed")
    assert many[-1].reason == "exact sign-flip test p(> 0) = 0.002 <= Holm threshold 0.0025 (20 claims)"
    assert many[-1].p_adjusted == pytest.approx(20 / 512)


def test_deterministic_undecidable_and_one_seed_claims_stay_out_of_the_family():
    tested = stats.Comparison(stats.mean_ci([0.1, 0.2, 0.3, 0.4, 0.5]), ">", 0.0)
    out = stats.judge_all([
        tested,
        stats.Comparison(stats.mean_ci([14800.0]), "<", 0.0, deterministic=True),
        stats.Comparison(stats.mean_ci([0.39, 0.38, 0.4, 0.37, 0.39]), ">", 0.5, undecidable="above the Bayes ceiling 0.395"),
        stats.Comparison(stats.mean_ci([0.7]), ">", 0.5),
        stats.Comparison(stats.mean_ci([]), ">", 0.5),
    ])
    assert [j.verdict for j in out] == [stats.SUPPORTED, stats.CONTRADICTED, stats.UNDECIDABLE,
                                        stats.INCONCLUSIVE, stats.INCONCLUSIVE]
    assert out[0].family == 1 and out[0].threshold == 0.05  # a family of one: the others are not tested
    assert out[1].reason == "does not vary with the seed: 14800 >= 0" and out[1].p is None
    assert out[2].reason == "above the Bayes ceiling 0.395" and stats.UNDECIDABLE in stats.VERDICTS
    assert (out[3].reason, out[4].reason) == (stats.ONE_SEED, stats.NO_RUNS)


@pytest.mark.parametrize("values,op,threshold,expected,reason", [
    ([3.0], "<", 5, stats.SUPPORTED, "does not vary with the seed: 3 < 5"),   # decided at n = 1
    ([6.0], "<", 5, stats.CONTRADICTED, "does not vary with the seed: 6 >= 5"),
    ([3.0, 3.0], "<", 5, stats.SUPPORTED, "same value on every seed: 3 < 5"),
    ([3.0, 4.0, 6.0], "<", 5, stats.INCONCLUSIVE,
     "declared deterministic but varies with the seed: 3 to 6, < 5 on 2 of 3 seeds"),
])
def test_deterministic_values_are_decided_by_the_comparison(values, op, threshold, expected, reason):
    j = stats.judge(stats.mean_ci(values, deterministic=True), op, threshold)
    assert (j.verdict, j.reason) == (expected, reason)
    # deterministic can also be said to judge; a varying metric with one seed stays inconclusive
    assert stats.judge(stats.mean_ci(values), op, threshold, deterministic=True) == j
    assert stats.judge(stats.mean_ci(values[:1]), op, threshold).reason == stats.ONE_SEED


@pytest.mark.parametrize("values,op,threshold,kw,reason", [
    ([0.1, 0.2, 0.3, 0.4, 0.5], ">", 0.0, {}, "exact sign-flip test p(> 0) = 0.031 <= alpha 0.05 (1 claim)"),
    ([0.1, 0.2, 0.3, 0.4, 0.5], "<", 0.0, {}, "exact sign-flip test p(>= 0) = 0.031 <= alpha 0.05 (1 claim)"),
    ([0.10, 0.12, 0.11], ">", 0.0, {},
     "exact sign-flip test p(> 0) = 0.12 > alpha 0.05 (1 claim): 3 seeds cannot reach it, at least 5 are needed"),
    ([0.5, 0.6, 0.5, 0.7, 0.8], ">", 0.5, {},
     "exact sign-flip test p(> 0.5) = 0.12 > alpha 0.05 (1 claim): only 3 of 5 seeds differ from 0.5, "
     "at least 5 are needed"),
    ([-0.1, 0.12, 0.01, 0.2, -0.05], ">", 0.0, {}, "exact sign-flip test p(> 0) = 0.28 > alpha 0.05 (1 claim)"),
    ([0.1, 0.2, 0.3, 0.4, 0.5], ">", 0.0, {"holm_rank": (0.06, 0.05), "family": 4},
     "exact sign-flip test p(> 0) = 0.031 <= Holm threshold 0.05 (4 claims), "
     "but Holm stopped at a smaller p above its threshold"),
])
def test_reasons(values, op, threshold, kw, reason):
    assert stats.verdict_reason(stats.mean_ci(values), op, threshold, **kw) == reason


def test_judgement_reports_the_favoured_side():
    values = [-0.3, -0.2, -0.1, -0.4, 0.05]
    j = stats.judge(stats.mean_ci(values), ">", 0.0)
    assert (j.side, j.verdict) == ("<=", stats.INCONCLUSIVE)
    assert j.p == 2 / 32 == stats.sign_flip_p(values, "<=", 0)
    assert stats.sign_flip_p(values, ">", 0) + j.p >= 1  # the two sides cannot both be small


def test_a_tested_claim_needs_its_holm_rank():
    with pytest.raises(ValueError):
        stats.judge(stats.mean_ci([0.1, 0.2, 0.3]), ">", 0.0, holm_rank=(None, None))


def test_unknown_operator_is_rejected():
    with pytest.raises(ValueError):
        stats.verdict(stats.mean_ci([1.0, 2.0]), "==", 0)
    with pytest.raises(ValueError):
        stats.sign_flip_p([1.0, 2.0], "==", 0)


def test_helpers_other_modules_import():
    assert stats.finite_or_none("nan") is None and stats.finite_or_none("2") == 2.0
    assert [stats.short_number(x) for x in (14800.0, 0.045, 1e-6)] == ["14800", "0.045", "1e-06"]
    assert stats.OPS == (">", ">=", "<", "<=") and stats.OPPOSITE[">"] == "<="
