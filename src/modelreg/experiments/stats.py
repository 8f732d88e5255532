"""The statistics of experiment results, in plain Python (no numpy: a results page reads at
most a few thousand values per arm). docs/analytics.md, "A/B experiments", explains each
method for a reader who is not a statistician.

- `wilson`: the Wilson score interval of a rate (errors / requests); unlike the textbook
  p ± 1.96·√(p(1−p)/n) it stays inside [0, 1] and is honest at 0 errors or small n.
- `newcombe`: the interval of the difference of two rates from their Wilson intervals
  (Newcombe 1998, method 10, the "hybrid score" interval).
- `bootstrap_difference`: the percentile bootstrap interval of stat(B) − stat(A) (median
  latency, mean cost): resample each arm with replacement, recompute, take the middle 95 %.
- `sequence_difference`: an always-valid 95 % confidence sequence for the difference of two
  means (Waudby-Smith et al., "Time-uniform central limit theory and asymptotic confidence
  sequences", 2023: the normal-mixture boundary with the estimated variance). It holds at
  every moment simultaneously, so looking at the results as often as one likes, and
  stopping when it excludes zero, keeps the error rate of the verdict at 5 %. The fixed-
  sample intervals above do not: they are for reading, the verdict uses this one only.
"""

from __future__ import annotations

import math
import random
from collections.abc import Callable, Sequence
from typing import NamedTuple

__all__ = [
    "ALPHA",
    "Estimate",
    "bootstrap_difference",
    "mean_and_variance",
    "newcombe",
    "percentile",
    "rate_moments",
    "sequence_difference",
    "wilson",
]

ALPHA = 0.05
_Z = 1.959963984540054  # the standard normal's 97.5 % point
# the confidence sequence is tightest near this many requests in both arms together
_TUNED_FOR = 2000
BOOTSTRAP_ROUNDS = 400
BOOTSTRAP_MAX_SAMPLE = 1000  # values per arm the bootstrap resamples (a fixed random subset)


class Estimate(NamedTuple):
    value: float
    low: float
    high: float


def percentile(values: Sequence[float], q: float) -> float | None:
    """The q-th quantile (0..1) with linear interpolation; None for no values."""
    if not values:
        return None
    ordered = sorted(values)
    at = (len(ordered) - 1) * q
    lower = math.floor(at)
    upper = min(lower + 1, len(ordered) - 1)
    return ordered[lower] + (ordered[upper] - ordered[lower]) * (at - lower)


def mean_and_variance(values: Sequence[float]) -> tuple[float, float]:
    n = len(values)
    if n == 0:
        return 0.0, 0.0
    mean = math.fsum(values) / n
    if n == 1:
        return mean, 0.0
    return mean, math.fsum((v - mean) ** 2 for v in values) / (n - 1)


def rate_moments(successes: int, n: int) -> tuple[float, float, int]:
    """Mean, variance and n of a 0/1 outcome (an error), for `sequence_difference`; the
    variance from a rate pulled half a success towards 1/2, so that an arm without any error
    does not claim zero variance."""
    smoothed = (successes + 0.5) / (n + 1)
    return (successes / n if n else 0.0), smoothed * (1 - smoothed), n


def wilson(successes: int, n: int) -> Estimate | None:
    if n <= 0:
        return None
    p = successes / n
    z2 = _Z * _Z
    centre = (p + z2 / (2 * n)) / (1 + z2 / n)
    half = _Z * math.sqrt(p * (1 - p) / n + z2 / (4 * n * n)) / (1 + z2 / n)
    return Estimate(p, max(0.0, centre - half), min(1.0, centre + half))


def newcombe(k_a: int, n_a: int, k_b: int, n_b: int) -> Estimate | None:
    """rate(B) − rate(A), with Newcombe's hybrid score interval."""
    a, b = wilson(k_a, n_a), wilson(k_b, n_b)
    if a is None or b is None:
        return None
    d = b.value - a.value
    low = d - math.sqrt((b.value - b.low) ** 2 + (a.high - a.value) ** 2)
    high = d + math.sqrt((b.high - b.value) ** 2 + (a.value - a.low) ** 2)
    return Estimate(d, max(-1.0, low), min(1.0, high))


def _subsample(values: Sequence[float], rng: random.Random) -> list[float]:
    if len(values) <= BOOTSTRAP_MAX_SAMPLE:
        return list(values)
    return rng.sample(list(values), BOOTSTRAP_MAX_SAMPLE)


def bootstrap_difference(
    a: Sequence[float],
    b: Sequence[float],
    stat: Callable[[Sequence[float]], float | None],
    *,
    seed: int = 0,
) -> Estimate | None:
    """stat(B) − stat(A) with a 95 % percentile bootstrap interval; None when an arm has
    fewer than 2 values. Seeded: the same data gives the same interval on every reload."""
    if len(a) < 2 or len(b) < 2:
        return None
    point_a, point_b = stat(a), stat(b)
    if point_a is None or point_b is None:
        return None
    rng = random.Random(seed)  # noqa: S311 - resampling, not secrets: reproducible on purpose
    sample_a, sample_b = _subsample(a, rng), _subsample(b, rng)
    diffs = []
    for _ in range(BOOTSTRAP_ROUNDS):
        sa = stat(rng.choices(sample_a, k=len(sample_a)))
        sb = stat(rng.choices(sample_b, k=len(sample_b)))
        if sa is not None and sb is not None:
            diffs.append(sb - sa)
    low, high = percentile(diffs, ALPHA / 2), percentile(diffs, 1 - ALPHA / 2)
    assert low is not None
    assert high is not None
    return Estimate(point_b - point_a, low, high)


def _boundary(t: int) -> float:
    """The normal-mixture boundary divided by the standard error at `t` observations:
    √( 2(tρ²+1)/(tρ²) · ln(√(tρ²+1)/α) ), with ρ chosen for `_TUNED_FOR`."""
    log_alpha = -2 * math.log(ALPHA)
    rho2 = (log_alpha + math.log(log_alpha + 1)) / _TUNED_FOR
    v = t * rho2
    return math.sqrt(2 * (v + 1) / v * math.log(math.sqrt(v + 1) / ALPHA))


def sequence_difference(
    mean_a: float, var_a: float, n_a: int, mean_b: float, var_b: float, n_b: int
) -> Estimate | None:
    """mean(B) − mean(A) with an always-valid 95 % confidence sequence. The time is the
    number of requests in both arms together (conservative: the boundary grows with it)."""
    if n_a < 2 or n_b < 2:
        return None
    se = math.sqrt(var_a / n_a + var_b / n_b)
    half = se * _boundary(n_a + n_b)
    d = mean_b - mean_a
    return Estimate(d, d - half, d + half)
