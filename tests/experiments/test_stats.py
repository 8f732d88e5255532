"""The statistics behind the results, checked against what they promise.

- The always-valid confidence sequence keeps its promise under peeking: in simulated A/A
  experiments (two arms with the same error rate) looked at after every 25 requests up to
  2,000 per arm, it declares a difference in at most 5 % of them (plus simulation noise),
  where the fixed-sample Newcombe interval, looked at the same way, does so far more often —
  the reason the verdict uses the sequence only.
- It still finds a real difference: 10 % against 20 % errors is found.
- Wilson and Newcombe match published values (Newcombe 1998, table II, example (a)).
"""

from __future__ import annotations

import random

import pytest

from modelreg.experiments import stats

PEEK_EVERY = 25
MAX_PER_ARM = 2000
MIN_PER_ARM = 30  # as in the results: no verdict before


def _simulate(p_a: float, p_b: float, seed: int) -> tuple[bool, bool]:
    """(the sequence ever excluded 0, the fixed-sample interval ever excluded 0)."""
    rng = random.Random(seed)
    k_a = k_b = 0
    sequence = fixed = False
    for n in range(1, MAX_PER_ARM + 1):
        k_a += rng.random() < p_a
        k_b += rng.random() < p_b
        if n % PEEK_EVERY or n < MIN_PER_ARM:
            continue
        cs = stats.sequence_difference(*stats.rate_moments(k_a, n), *stats.rate_moments(k_b, n))
        assert cs is not None
        sequence = sequence or cs.low > 0 or cs.high < 0
        interval = stats.newcombe(k_a, n, k_b, n)
        assert interval is not None
        fixed = fixed or interval.low > 0 or interval.high < 0
    return sequence, fixed


def test_peeking_does_not_inflate_the_sequences_false_positives() -> None:
    runs = [_simulate(0.1, 0.1, seed) for seed in range(300)]
    sequence_rate = sum(s for s, _ in runs) / len(runs)
    fixed_rate = sum(f for _, f in runs) / len(runs)
    # 5 % promised; 300 runs leave ±2.5 points of simulation noise (2 standard errors)
    assert sequence_rate <= 0.075, sequence_rate
    assert fixed_rate > 0.15, fixed_rate  # peeking breaks the fixed-sample interval


def test_the_sequence_finds_a_real_difference() -> None:
    found = sum(_simulate(0.1, 0.2, seed)[0] for seed in range(40))
    assert found >= 38


def test_wilson_and_newcombe_match_published_values() -> None:
    # Newcombe (1998), example (a): 56/70 vs 48/80, method 10: 0.0524 to 0.3339
    # (here arm B minus arm A, so A = 48/80 and B = 56/70)
    diff = stats.newcombe(48, 80, 56, 70)
    assert diff is not None
    assert diff.value == pytest.approx(0.2)
    assert (round(diff.low, 4), round(diff.high, 4)) == (0.0524, 0.3339)
    interval = stats.wilson(0, 20)
    assert interval is not None
    assert (interval.low, round(interval.high, 3)) == (0.0, 0.161)


def test_percentiles_and_the_bootstrap_on_known_data() -> None:
    assert stats.percentile([], 0.5) is None
    assert stats.percentile([5.0], 0.95) == 5.0
    assert stats.percentile([1.0, 2.0, 3.0, 4.0], 0.5) == 2.5
    a = [100.0 + i % 7 for i in range(300)]
    b = [150.0 + i % 7 for i in range(300)]
    diff = stats.bootstrap_difference(a, b, lambda v: stats.percentile(v, 0.5))
    assert diff is not None
    assert diff.value == 50.0
    assert diff.low <= 50.0 <= diff.high
    assert diff == stats.bootstrap_difference(a, b, lambda v: stats.percentile(v, 0.5))
