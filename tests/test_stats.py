"""The statistics behind the verdicts, against hand-computed cases."""

import math

import pytest

from dlexp.report import stats


def test_mean_and_t_interval_by_hand():
    e = stats.mean_ci([1.0, 2.0, 3.0])
    # sd = 1, t(0.975, 2) = 4.302653, half width = 4.302653 / sqrt(3) = 2.484138
    assert e.mean == 2.0 and e.sd == pytest.approx(1.0)
    assert e.ci_low == pytest.approx(2.0 - 2.484138, abs=1e-5)
    assert e.ci_high == pytest.approx(2.0 + 2.484138, abs=1e-5)


def test_five_seeds_interval():
    e = stats.mean_ci([0.80, 0.82, 0.84, 0.86, 0.88])
    # sd = 0.0316228, t(0.975, 4) = 2.776445 -> half = 0.0392641
    assert e.mean == pytest.approx(0.84)
    assert e.ci_high - e.mean == pytest.approx(0.0392641, abs=1e-6)


def test_paired_difference_uses_only_common_finite_seeds():
    a = {1: 0.9, 2: 0.8, 3: 0.7, 4: float("nan")}
    b = {1: 0.8, 2: 0.7, 3: 0.5, 5: 0.1}
    e, seeds = stats.paired_difference(a, b)
    assert seeds == [1, 2, 3]
    assert e.mean == pytest.approx((0.1 + 0.1 + 0.2) / 3)
    assert e.n == 3


def test_one_seed_has_no_interval_unless_deterministic():
    assert math.isnan(stats.mean_ci([0.5]).ci_low)
    d = stats.mean_ci([6003.0], deterministic=True)
    assert d.ci_low == d.ci_high == 6003.0


@pytest.mark.parametrize("values,op,threshold,expected", [
    ([0.10, 0.12, 0.11], ">", 0.0, stats.SUPPORTED),
    ([-0.10, -0.12, -0.11], ">", 0.0, stats.CONTRADICTED),
    ([-0.10, 0.12, 0.01], ">", 0.0, stats.INCONCLUSIVE),
    ([0.10, 0.12, 0.11], "<", 0.0, stats.CONTRADICTED),
    ([0.95, 0.97, 0.96], ">=", 0.9, stats.SUPPORTED),
    ([1.0, 1.0, 1.0], ">=", 1.0, stats.SUPPORTED),  # no spread: the comparison decides
    ([0.0, 0.0], ">", 0.0, stats.CONTRADICTED),
    ([0.5], ">", 0.0, stats.INCONCLUSIVE),  # one seed of a varying metric
])
def test_verdict_rule(values, op, threshold, expected):
    assert stats.verdict(stats.mean_ci(values), op, threshold) == expected


def test_unknown_operator_is_rejected():
    with pytest.raises(ValueError):
        stats.verdict(stats.mean_ci([1.0, 2.0]), "==", 0)
