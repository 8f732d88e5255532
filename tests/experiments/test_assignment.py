"""Assignment of keys to arms: deterministic (every replica computes the same arm), sticky,
and each arm's share of many keys matches its weight within binomial noise.

Tolerance: with n keys and an arm of share p, the arm's count is Binomial(n, p); it must lie
within 4.5 standard deviations √(n·p·(1−p)) of n·p. For 10,000 keys that is ±135 keys around
7,000 for a 70 % arm; a correct hash leaves it once in ~150,000 runs per arm. The keys are
fixed, so the test is deterministic: it fails for a biased mapping, not by chance."""

from __future__ import annotations

import math
import uuid
from collections import Counter
from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from modelreg.experiments.assignment import cumulative, pick, point
from modelreg.experiments.table import Route, route_of

N_KEYS = 10_000
SIGMAS = 4.5


def _route(weights: list[float]) -> Route:
    arms: list[dict[str, object]] = [
        {"id": str(uuid.uuid4()), "model_id": str(uuid.uuid4()), "weight": w} for w in weights
    ]
    return route_of(uuid.uuid4(), None, "exp", "running", arms, datetime.now(UTC))


def test_shares_match_the_weights_within_the_binomial_tolerance() -> None:
    for weights in ([1.0, 1.0], [1.0, 2.0, 7.0], [5.0, 0.0, 5.0], [0.1, 0.9]):
        experiment_id = uuid.UUID(int=len(weights) * 1000 + int(sum(weights) * 10))
        uppers = cumulative(weights)
        counts = Counter(pick(uppers, point(experiment_id, f"user-{i}")) for i in range(N_KEYS))
        total = sum(weights)
        for arm, weight in enumerate(weights):
            p = weight / total
            expected = N_KEYS * p
            tolerance = SIGMAS * math.sqrt(N_KEYS * p * (1 - p))
            assert abs(counts[arm] - expected) <= tolerance, (weights, arm, counts)
            if weight == 0:
                assert counts[arm] == 0


def test_the_same_key_always_gets_the_same_arm_and_experiments_assign_independently() -> None:
    route = _route([1.0, 1.0])
    arms = [route.arm(f"k{i}") for i in range(200)]
    assert arms == [route.arm(f"k{i}") for i in range(200)]
    other = _route([1.0, 1.0])
    same = sum(a == other.arm(f"k{i}") for i, a in enumerate(arms))
    assert 60 < same < 140  # independent: about half agree, not all


@given(
    weights=st.lists(st.floats(min_value=0, max_value=1e6), min_size=2, max_size=8).filter(
        lambda w: sum(w) > 0
    ),
    key=st.text(max_size=50),
)
def test_every_key_lands_in_an_arm_with_weight(weights: list[float], key: str) -> None:
    arm = pick(cumulative(weights), point(uuid.UUID(int=7), key))
    assert 0 <= arm < len(weights)
    assert weights[arm] > 0
