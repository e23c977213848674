"""Statistics over paired seeds for the sweep reports: paired differences, t intervals, log-log slopes, verdicts.

Every variant of a sweep runs with the same seeds (same data order, same initial weights where the shapes
allow), so a claim is judged on the per-seed differences to its baseline, which cancel most of the
seed-to-seed spread. With n seeds the interval is the Student t interval of the mean difference,
mean ± t(0.975, n - 1) · s / sqrt(n), valid for small n when the differences are roughly normal. The t
quantile comes from the closed-form distribution of Student's t for integer degrees of freedom (no scipy).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

CONFIDENCE = 0.95
EXPECTATIONS = ("lower", "higher")  # the paper's direction for a difference "variant - baseline"
REPRODUCED, NOT_REPRODUCED, UNRESOLVED = "reproduced", "not reproduced", "unresolved"


@dataclass(frozen=True)
class Estimate:
    """The mean of n values with its standard error and two-sided t interval (nan bounds for n < 2)."""

    mean: float
    standard_error: float
    low: float
    high: float
    n: int


def t_interval(values: list[float] | np.ndarray, confidence: float = CONFIDENCE) -> Estimate:
    """Mean, standard error (sample std / sqrt(n)) and the t interval of the mean of ``values``."""
    values = np.asarray(values, dtype=float)
    n = len(values)
    if n == 0:
        raise ValueError("t_interval: no values")
    mean = float(values.mean())
    if n < 2:
        return Estimate(mean, math.nan, math.nan, math.nan, n)
    error = float(values.std(ddof=1) / math.sqrt(n))
    half = t_quantile(confidence, n - 1) * error
    return Estimate(mean, error, mean - half, mean + half, n)


def t_quantile(confidence: float, degrees: int) -> float:
    """The t with P(|T| <= t) = ``confidence`` for Student's T with ``degrees`` >= 1 (integer) degrees of
    freedom, i.e. the (1 + confidence) / 2 quantile; bisection to float64 precision on `t_central_probability`."""
    if not 0.0 < confidence < 1.0:
        raise ValueError(f"confidence must be between 0 and 1, got {confidence}")
    low, high = 0.0, 1.0
    while t_central_probability(high, degrees) < confidence:
        low, high = high, 2.0 * high
    while (middle := 0.5 * (low + high)) not in (low, high):
        if t_central_probability(middle, degrees) < confidence:
            low = middle
        else:
            high = middle
    return high


def t_central_probability(t: float, degrees: int) -> float:
    """P(|T| <= t) for t >= 0 and Student's T with ``degrees`` >= 1 (integer) degrees of freedom, in closed
    form: with θ = atan(t / sqrt(degrees)) and c = cos θ, 2/π (θ + sin θ (c + 2/3 c^3 + 2·4/(3·5) c^5 + ...
    up to c^(degrees - 2))) for odd degrees (2θ/π for 1), sin θ (1 + 1/2 c^2 + 1·3/(2·4) c^4 + ... up to
    c^(degrees - 2)) for even degrees (Abramowitz and Stegun 26.7.3, 26.7.4)."""
    if degrees < 1 or degrees != int(degrees):
        raise ValueError(f"degrees of freedom must be a positive integer, got {degrees}")
    theta = math.atan(t / math.sqrt(degrees))
    cos_squared = math.cos(theta) ** 2
    odd = degrees % 2 == 1
    term = math.cos(theta) if odd else 1.0  # the series' first term, c^1 or c^0
    series = term
    for power in range(3 if odd else 2, degrees - 1, 2):  # each term is the last times (power - 1) / power c^2
        term *= (power - 1) / power * cos_squared
        series += term
    if not odd:
        return math.sin(theta) * series
    return 2.0 / math.pi * (theta + (math.sin(theta) * series if degrees > 1 else 0.0))


def paired_differences(variant: dict[int, float], baseline: dict[int, float]) -> dict[int, float]:
    """{seed: variant - baseline} over the seeds both have."""
    return {seed: variant[seed] - baseline[seed] for seed in sorted(variant.keys() & baseline.keys())}


def verdict(estimate: Estimate, expect: str) -> str:
    """ "reproduced" when the interval excludes 0 on the ``expect`` side ("lower": below 0), "not reproduced"
    when it excludes 0 on the other side, "unresolved" when it contains 0 or there are fewer than 2 seeds."""
    if expect not in EXPECTATIONS:
        raise ValueError(f"expect: must be one of {EXPECTATIONS}, got {expect!r}")
    if estimate.n < 2 or math.isnan(estimate.low):
        return UNRESOLVED
    below, above = estimate.high < 0, estimate.low > 0
    if not (below or above):
        return UNRESOLVED
    return REPRODUCED if below == (expect == "lower") else NOT_REPRODUCED


def loglog_slope(x: list[float], y: list[float]) -> float:
    """The least-squares slope of log y against log x; ValueError for fewer than 2 distinct x or values <= 0."""
    if len(set(x)) < 2:
        raise ValueError("loglog_slope: needs at least 2 distinct x")
    if min(x) <= 0 or min(y) <= 0:
        raise ValueError("loglog_slope: x and y must be positive")
    return float(np.polyfit(np.log(x), np.log(y), 1)[0])


def slopes_by_seed(points: dict[int, list[tuple[float, float]]]) -> dict[int, float]:
    """{seed: log-log slope of that seed's (x, y) points}, for the seeds with at least 2 distinct x."""
    slopes = {}
    for seed, pairs in sorted(points.items()):
        x = [pair[0] for pair in pairs]
        if len(set(x)) >= 2:
            slopes[seed] = loglog_slope(x, [pair[1] for pair in pairs])
    return slopes
