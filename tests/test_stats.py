"""Known answers for the statistics behind verdicts."""

import numpy as np
import pytest
from scipy.stats import binomtest

from avec import stats


@pytest.mark.parametrize(("successes", "trials"), [(0, 10), (7, 10), (10, 10), (95, 100)])
def test_wilson_and_clopper_pearson_match_scipy(successes, trials):
    for estimate, method in [
        (stats.wilson(successes, trials), "wilson"),
        (stats.clopper_pearson(successes, trials), "exact"),
    ]:
        ci = binomtest(successes, trials).proportion_ci(confidence_level=0.95, method=method)
        assert estimate.ci95 == (pytest.approx(ci.low), pytest.approx(ci.high))
        assert estimate.value == successes / trials
        assert estimate.n == trials


def test_clopper_pearson_is_wider_than_wilson():
    wilson, exact = stats.wilson(7, 10), stats.clopper_pearson(7, 10)
    assert exact.ci95[0] < wilson.ci95[0] and wilson.ci95[1] < exact.ci95[1]


def test_rates_reject_empty_or_impossible_counts():
    with pytest.raises(ValueError, match="at least one trial"):
        stats.wilson(0, 0)
    with pytest.raises(ValueError, match="0..3"):
        stats.clopper_pearson(4, 3)
    with pytest.raises(ValueError, match="booleans"):
        stats.proportion(np.array([0.5, 1.0]))


def test_estimate_to_dict_is_json_ready():
    assert stats.wilson(1, 2).to_dict() == {
        "value": 0.5,
        "ci95": list(stats.wilson(1, 2).ci95),
        "n": 2,
        "method": "wilson",
    }


def _values(seed: int, n: int = 40) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=n)


def test_bootstrap_is_deterministic_per_seed():
    values = _values(0)
    assert stats.bootstrap_median(values, seed=1) == stats.bootstrap_median(values, seed=1)
    # A median's bootstrap quantiles sit on order statistics; a mean's show the seed.
    mean_1, mean_2 = stats.bootstrap_mean(values, seed=1), stats.bootstrap_mean(values, seed=2)
    assert mean_1 == stats.bootstrap_mean(values, seed=1)
    assert mean_1.ci95 != mean_2.ci95


def test_bootstrap_median_interval_contains_the_median():
    values = _values(0)
    estimate = stats.bootstrap_median(values, seed=1, n_resamples=999)
    assert estimate.value == np.median(values)
    assert estimate.ci95[0] < estimate.value < estimate.ci95[1]
    assert stats.bootstrap_mean(values, seed=1, n_resamples=999).value == pytest.approx(
        values.mean()
    )


def test_bootstrap_of_constant_values_is_a_point_interval():
    assert stats.bootstrap_median([0.3] * 5, seed=0).ci95 == (0.3, 0.3)


def test_paired_difference_of_a_constant_shift_is_exactly_the_shift():
    before = _values(0)
    estimate = stats.bootstrap_paired_difference(before, before - 0.5, seed=0, n_resamples=999)
    assert estimate.value == pytest.approx(-0.5)
    assert estimate.ci95 == (pytest.approx(-0.5), pytest.approx(-0.5))


def test_paired_difference_of_means_is_the_mean_difference():
    before, after = _values(0), _values(1)
    estimate = stats.bootstrap_paired_difference(
        before, after, seed=0, statistic=np.mean, n_resamples=999
    )
    assert estimate.value == pytest.approx(np.mean(after - before))
    assert estimate.ci95[0] < estimate.value < estimate.ci95[1]
    with pytest.raises(ValueError, match="pair up"):
        stats.bootstrap_paired_difference(before, after[:-1], seed=0)


def test_wilcoxon_detects_a_consistent_drop():
    before = np.linspace(0.5, 0.9, 10)
    result = stats.wilcoxon_signed_rank(before, before - np.linspace(0.1, 0.4, 10))
    assert result.p_value == pytest.approx(2 / 2**10)
    assert result.n == 10


def test_wilcoxon_of_unchanged_pairs_finds_nothing():
    result = stats.wilcoxon_signed_rank([0.1, 0.2, 0.3], [0.1, 0.2, 0.3])
    assert (result.p_value, result.n) == (1.0, 0)


def test_mcnemar_counts_only_discordant_pairs():
    before = np.ones(12, dtype=bool)
    after = np.array([False] * 8 + [True] * 4)
    result = stats.mcnemar_exact(before, after)
    assert (result.n, result.statistic) == (8, 0.0)
    assert result.p_value == pytest.approx(2 / 2**8)
    assert stats.mcnemar_exact(before, before).p_value == 1.0


@pytest.mark.parametrize(
    ("ci95", "expected"),
    [
        ((0.5, 0.7), "holds"),
        ((0.4, 0.49), "fails"),
        ((0.4, 0.6), "inconclusive"),
        ((0.5, 0.5), "holds"),
    ],
)
def test_verdict_is_three_way(ci95, expected):
    assert stats.verdict(ci95, 0.5) == expected


@pytest.mark.parametrize(
    ("ci95", "expected"),
    [((0.0, 0.04), "holds"), ((0.06, 0.1), "fails"), ((0.01, 0.08), "inconclusive")],
)
def test_verdict_at_most(ci95, expected):
    assert stats.verdict(ci95, 0.05, at_most=True) == expected


def test_verdict_rejects_a_reversed_interval():
    with pytest.raises(ValueError, match="lower <= upper"):
        stats.verdict((0.7, 0.5), 0.5)


def test_hierarchical_iqm_carries_the_uncertainty_inside_each_seed():
    # Three seeds with the same pass rate: across seeds alone there is nothing to resample (a
    # point "interval"); resampling levels within each seed gives a real one.
    levels = np.random.default_rng(0).integers(0, 4, 40).astype(float)
    seeds = [(levels, np.full(40, 4.0))] * 3
    rate = levels.sum() / 160
    across_seeds = stats.interquartile_mean([rate] * 3, seed=0)
    assert across_seeds.ci95 == (rate, rate)
    nested = stats.hierarchical_iqm(seeds, seed=0, n_resamples=999)
    assert nested.value == pytest.approx(rate)
    assert nested.ci95[0] < rate - 0.03 and nested.ci95[1] > rate + 0.03
    assert nested == stats.hierarchical_iqm(seeds, seed=0, n_resamples=999)


def test_hierarchical_iqm_is_wider_when_seeds_disagree():
    ones = np.ones(40)
    alike = [(np.full(40, 0.5), ones)] * 4
    apart = [(np.full(40, v), ones) for v in (0.2, 0.4, 0.6, 0.8)]
    low, high = stats.hierarchical_iqm(apart, seed=0, n_resamples=999).ci95
    assert stats.hierarchical_iqm(alike, seed=0, n_resamples=999).ci95 == (0.5, 0.5)
    assert low < 0.4 and high > 0.6


def test_hierarchical_iqm_rejects_a_single_seed_or_empty_levels():
    with pytest.raises(ValueError, match="at least 2 seeds"):
        stats.hierarchical_iqm([(np.ones(3), np.ones(3))], seed=0)
    with pytest.raises(ValueError, match="non-zero denominator"):
        stats.hierarchical_iqm([(np.ones(3), np.zeros(3)), (np.ones(3), np.ones(3))], seed=0)
