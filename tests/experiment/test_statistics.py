"""Statistics of the sweep reports on synthetic numbers: paired differences, t intervals, slopes, verdicts."""

from __future__ import annotations

import math

import numpy as np
import pytest

from eqv2.experiment.statistics import (
    Estimate,
    loglog_slope,
    paired_differences,
    slopes_by_seed,
    t_interval,
    t_quantile,
    verdict,
)


def test_t_interval_of_three_values():
    estimate = t_interval([1.0, 2.0, 3.0])
    # mean 2, sample std 1, standard error 1/sqrt(3), t(0.975, 2) = 4.302653
    assert estimate.mean == pytest.approx(2.0)
    assert estimate.standard_error == pytest.approx(1 / math.sqrt(3))
    assert estimate.high - estimate.mean == pytest.approx(4.302653 / math.sqrt(3), rel=1e-6)
    assert estimate.mean - estimate.low == pytest.approx(estimate.high - estimate.mean)
    assert estimate.n == 3


@pytest.mark.parametrize(
    "confidence, degrees, quantile",  # scipy.stats.t.ppf(0.5 + confidence / 2, degrees)
    [(0.95, 1, 12.706204736174694), (0.95, 2, 4.302652729749462), (0.95, 3, 3.1824463052837078),
     (0.95, 10, 2.228138851986274), (0.95, 30, 2.0422724563012378), (0.95, 101, 1.983731002955606),
     (0.99, 1, 63.656741162871526), (0.99, 4, 4.604094871349992), (0.9, 7, 1.8945786050900062),
     (0.5, 6, 0.7175581964914126)],
)  # fmt: skip
def test_t_quantile_equals_scipys_to_float64_round_off(confidence, degrees, quantile):
    assert t_quantile(confidence, degrees) == pytest.approx(quantile, rel=1e-12)


def test_t_interval_covers_the_true_mean_about_95_percent_of_the_time():
    rng = np.random.default_rng(0)
    samples = rng.normal(0.5, 2.0, size=(4000, 4))
    covered = [(e.low <= 0.5 <= e.high) for e in map(t_interval, samples)]
    assert 0.94 < np.mean(covered) < 0.96


def test_t_interval_of_one_value_has_no_interval():
    estimate = t_interval([0.25])
    assert estimate.mean == 0.25 and estimate.n == 1
    assert math.isnan(estimate.standard_error) and math.isnan(estimate.low) and math.isnan(estimate.high)
    with pytest.raises(ValueError, match="no values"):
        t_interval([])


def test_paired_differences_use_the_common_seeds_only():
    variant = {0: 0.10, 1: 0.12, 2: 0.11, 5: 0.3}
    baseline = {0: 0.13, 1: 0.14, 2: 0.12, 3: 0.2}
    assert paired_differences(variant, baseline) == pytest.approx({0: -0.03, 1: -0.02, 2: -0.01})


def test_pairing_resolves_a_shift_that_unpaired_spread_hides():
    """Seeds spread by 0.05, the variant lowers every seed by 0.004: paired, the interval is below 0."""
    seed_effect = {0: 0.10, 1: 0.15, 2: 0.20, 3: 0.12}
    baseline = dict(seed_effect)
    variant = {seed: value - 0.004 + 0.0005 * (-1) ** seed for seed, value in seed_effect.items()}
    unpaired = t_interval(list(variant.values())).mean - t_interval(list(baseline.values())).mean
    assert abs(unpaired) < t_interval(list(baseline.values())).standard_error  # hidden without pairing
    paired = t_interval(list(paired_differences(variant, baseline).values()))
    assert paired.high < 0
    assert verdict(paired, "lower") == "reproduced"


@pytest.mark.parametrize(
    "low, high, expect, result",
    [
        (-0.3, -0.1, "lower", "reproduced"),
        (0.1, 0.3, "lower", "not reproduced"),
        (-0.1, 0.3, "lower", "unresolved"),
        (0.1, 0.3, "higher", "reproduced"),
        (-0.3, -0.1, "higher", "not reproduced"),
        (-0.3, 0.0, "lower", "unresolved"),  # an interval that touches 0 does not exclude it
    ],
)
def test_verdicts(low, high, expect, result):
    assert verdict(Estimate((low + high) / 2, 0.05, low, high, 3), expect) == result


def test_verdict_needs_two_seeds_and_a_direction():
    assert verdict(t_interval([-1.0]), "lower") == "unresolved"
    with pytest.raises(ValueError, match="expect"):
        verdict(t_interval([-1.0, -2.0]), "smaller")


def test_loglog_slope_of_a_power_law():
    x = [250.0, 500.0, 1000.0, 2000.0]
    assert loglog_slope(x, [3.0 * value**-0.4 for value in x]) == pytest.approx(-0.4)
    with pytest.raises(ValueError, match="distinct"):
        loglog_slope([1.0, 1.0], [1.0, 2.0])
    with pytest.raises(ValueError, match="positive"):
        loglog_slope([1.0, 2.0], [1.0, 0.0])


def test_slopes_by_seed_and_their_interval():
    x = [100.0, 200.0, 400.0, 800.0]
    rng = np.random.default_rng(1)
    points = {
        seed: [(value, (1 + 0.01 * rng.normal()) * value ** (-0.3 + 0.01 * seed)) for value in x] for seed in range(3)
    }
    points[3] = [(100.0, 1.0)]  # one size only: no slope
    slopes = slopes_by_seed(points)
    assert sorted(slopes) == [0, 1, 2]
    assert [slopes[seed] for seed in range(3)] == pytest.approx([-0.3, -0.29, -0.28], abs=0.02)
    estimate = t_interval(list(slopes.values()))
    assert estimate.low < -0.29 < estimate.high and estimate.high < 0
    assert verdict(estimate, "lower") == "reproduced"
