"""The arena's Bradley-Terry leaderboard against votes simulated from known strengths: the
intervals cover the true ratings and the rank ranges the true ranking; few votes give wide
ranges, never a false certainty. Seeded: every run draws the same votes."""

from __future__ import annotations

import random

import pytest

from modelreg.chat.bradley_terry import BASE, Outcome, Vote, fit, leaderboard

TRUE = {"strong": 1250.0, "good": 1120.0, "fair": 1000.0, "weak": 850.0}
TIE_RATE = 0.1


def _centred(true: dict[str, float]) -> dict[str, float]:
    """The leaderboard's scale has mean BASE; so does this."""
    mean = sum(true.values()) / len(true)
    return {k: v - mean + BASE for k, v in true.items()}


def _simulate(count: int, seed: int, true: dict[str, float] = TRUE) -> list[Vote]:
    """Votes from the Bradley-Terry model with ties as half-wins: a tie at TIE_RATE, and the
    decisive games such that A's expected score is 1 / (1 + 10^((r_B - r_A) / 400))."""
    rng = random.Random(seed)
    names = sorted(true)
    votes = []
    for _ in range(count):
        a, b = rng.sample(names, 2)
        expected = 1 / (1 + 10 ** ((true[b] - true[a]) / 400))
        outcome: Outcome
        if rng.random() < TIE_RATE:
            outcome = "tie"
        elif rng.random() < (expected - TIE_RATE / 2) / (1 - TIE_RATE):
            outcome = "a"
        else:
            outcome = "b"
        votes.append(Vote(a, b, outcome))
    return votes


def test_intervals_cover_the_true_ratings_and_ranks() -> None:
    board = leaderboard(_simulate(3000, seed=11), resamples=200, seed=3)
    truth = _centred(TRUE)
    true_rank = {name: i for i, name in enumerate(sorted(TRUE, key=lambda k: -TRUE[k]), 1)}
    assert [r.key for r in board] == ["strong", "good", "fair", "weak"]
    for row in board:
        assert row.low <= truth[str(row.key)] <= row.high, row
        assert row.rank_best <= true_rank[str(row.key)] <= row.rank_worst, row
        assert row.low <= row.rating <= row.high
    assert sum(r.votes for r in board) == 2 * 3000


def test_coverage_over_many_simulated_arenas_is_near_the_stated_95_percent() -> None:
    covered = total = ranks_covered = 0
    truth = _centred(TRUE)
    true_rank = {name: i for i, name in enumerate(sorted(TRUE, key=lambda k: -TRUE[k]), 1)}
    for seed in range(12):
        for row in leaderboard(_simulate(400, seed=100 + seed), resamples=200, seed=seed):
            total += 1
            covered += row.low <= truth[str(row.key)] <= row.high
            ranks_covered += row.rank_best <= true_rank[str(row.key)] <= row.rank_worst
    assert covered / total >= 0.85  # 95 % intervals; 48 of them, some misses expected
    assert ranks_covered / total >= 0.95  # a rank range is wider than one interval


def test_few_votes_never_look_certain() -> None:
    board = leaderboard([Vote("x", "y", "a")], resamples=200, seed=0)
    assert [r.key for r in board] == ["x", "y"]
    assert all((r.rank_best, r.rank_worst) == (1, 2) for r in board)
    ten = leaderboard(_simulate(10, seed=5), resamples=200, seed=0)
    assert all(r.rank_worst - r.rank_best >= 1 for r in ten)


def test_the_same_votes_give_the_same_board() -> None:
    votes = _simulate(300, seed=1)
    assert leaderboard(votes, seed=7) == leaderboard(votes, seed=7)


@pytest.mark.parametrize("outcome", ["a", "b"])
def test_an_unbeaten_model_gets_a_finite_rating_and_ties_are_half_wins(outcome: Outcome) -> None:
    ratings = fit(["x", "y"], [Vote("x", "y", outcome)] * 20)
    assert all(abs(r) < 5000 for r in ratings)
    assert (ratings[0] > ratings[1]) == (outcome == "a")
    even = fit(["x", "y"], [Vote("x", "y", "a"), Vote("x", "y", "b"), Vote("x", "y", "tie")])
    assert even[0] == pytest.approx(even[1]) == pytest.approx(BASE)


def test_no_votes_no_board() -> None:
    assert leaderboard([]) == []
