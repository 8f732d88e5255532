"""Bradley-Terry ratings from pairwise votes, with bootstrap intervals and honest rank ranges.

The model: each model i has a strength p_i > 0, and i beats j with probability
p_i / (p_i + p_j). The strengths that make the observed votes most likely (maximum
likelihood) are found with Newton's method on the log-strengths; the classic MM iteration
(Hunter 2004, p_i <- W_i / sum_j n_ij / (p_i + p_j)) gets there too, but crawls along the
overall scale for thousands of steps, where Newton needs five or so. A tie counts as half a
win for each side. Every model also plays one virtual tie against a fixed reference of
strength 1: a model that has won (or lost) everything gets a finite rating, and a model with
few votes is pulled towards the middle until the data say more.

Ratings are shown on the Elo-like scale that LMSYS's Chatbot Arena uses:
`1000 + 400 * log10(p_i / geometric mean of p)` — 400 points apart means 10:1 odds.

Uncertainty: a parametric bootstrap. The votes are replayed (seeded, >= 200 times): every
pair plays as many games as it did, each won with the fitted probability (ties at the
observed rate), and the ratings are refitted; the 2.5th and 97.5th percentiles of a model's
rating are its 95 % interval. (Resampling the recorded votes instead, as LMSYS does, claims
certainty where there is none: from a single vote every resample is that vote again.) A
rank is a range: the best rank is 1 + the number of models whose interval lies wholly above
this one's, the worst is the number of models minus those wholly below. Two models whose
intervals overlap may share ranks: the data cannot tell them apart yet.

Pure Python (no numpy in the dependencies): votes are summed per pair, so a fit costs
O(pairs + models^3) per Newton step, and a replay O(votes).
"""

from __future__ import annotations

import math
import random
from collections import Counter
from collections.abc import Hashable, Sequence
from dataclasses import dataclass
from typing import Literal

__all__ = [
    "DEFAULT_RESAMPLES",
    "Outcome",
    "Rated",
    "Vote",
    "fit",
    "leaderboard",
]

Outcome = Literal["a", "b", "tie"]
DEFAULT_RESAMPLES = 200
SCALE = 400 / math.log(10)  # Elo points per unit of natural-log strength
BASE = 1000.0
_PRIOR_TIES = 1.0  # virtual ties against the reference of strength 1
_MAX_ITERATIONS = 100
_TOLERANCE = 1e-10


@dataclass(frozen=True, slots=True)
class Vote:
    a: Hashable
    b: Hashable
    outcome: Outcome


@dataclass(frozen=True, slots=True)
class Rated:
    key: Hashable
    rating: float
    low: float  # the 95 % bootstrap interval of the rating
    high: float
    rank: int  # by rating, 1 = best
    rank_best: int  # the best and worst rank the intervals allow
    rank_worst: int
    votes: int
    wins: int
    losses: int
    ties: int


# (i, j) with i < j (model indices) -> (i's wins, j's wins), ties counted half to each
Pairs = dict[tuple[int, int], tuple[float, float]]


def _pairs(votes: Sequence[tuple[int, int, Outcome]]) -> Pairs:
    pairs: dict[tuple[int, int], list[float]] = {}
    for a, b, outcome in votes:
        i, j, flip = (a, b, False) if a < b else (b, a, True)
        cell = pairs.setdefault((i, j), [0.0, 0.0])
        if outcome == "tie":
            cell[0] += 0.5
            cell[1] += 0.5
        else:
            first_won = (outcome == "a") != flip
            cell[0 if first_won else 1] += 1
    return {key: (w[0], w[1]) for key, w in pairs.items()}


def _fit_pairs(n: int, pairs: Pairs, start: list[float] | None = None) -> list[float]:
    """Natural-log strengths, centred on 0 (geometric mean 1): Newton's method on the
    log-likelihood (concave; the virtual ties make it strictly so), a few steps from a warm
    start. O(n^3) per step for n models: fine for the tens of models an arena has."""
    theta = [math.log(p) for p in start] if start is not None else [0.0] * n
    wins = [_PRIOR_TIES / 2] * n
    for (i, j), (wi, wj) in pairs.items():
        wins[i] += wi
        wins[j] += wj
    for _ in range(_MAX_ITERATIONS):
        gradient = list(wins)
        hessian = [[0.0] * n for _ in range(n)]  # of the negated log-likelihood
        for i in range(n):
            p = 1 / (1 + math.exp(-theta[i]))  # against the reference of strength 1
            gradient[i] -= _PRIOR_TIES * p
            hessian[i][i] += _PRIOR_TIES * p * (1 - p)
        for (i, j), (wi, wj) in pairs.items():
            games = wi + wj
            p = 1 / (1 + math.exp(theta[j] - theta[i]))
            gradient[i] -= games * p
            gradient[j] -= games * (1 - p)
            curvature = games * p * (1 - p)
            hessian[i][i] += curvature
            hessian[j][j] += curvature
            hessian[i][j] -= curvature
            hessian[j][i] -= curvature
        step = _solve(hessian, gradient)
        largest = max(abs(x) for x in step)
        if largest > 2:  # far from the optimum: a damped step
            step = [x * 2 / largest for x in step]
        theta = [t + x for t, x in zip(theta, step, strict=True)]
        if largest < _TOLERANCE:
            break
    mean = sum(theta) / n
    return [x - mean for x in theta]


def _solve(matrix: list[list[float]], vector: list[float]) -> list[float]:
    """x with matrix @ x = vector (symmetric positive definite): Gaussian elimination."""
    n = len(vector)
    a = [[*row, value] for row, value in zip(matrix, vector, strict=True)]
    for col in range(n):
        pivot = max(range(col, n), key=lambda r: abs(a[r][col]))
        a[col], a[pivot] = a[pivot], a[col]
        for row in range(col + 1, n):
            factor = a[row][col] / a[col][col]
            if factor:
                for k in range(col, n + 1):
                    a[row][k] -= factor * a[col][k]
    x = [0.0] * n
    for row in range(n - 1, -1, -1):
        x[row] = (a[row][n] - sum(a[row][k] * x[k] for k in range(row + 1, n))) / a[row][row]
    return x


def fit(keys: Sequence[Hashable], votes: Sequence[Vote]) -> list[float]:
    """The ratings (Elo-like scale) of `keys`, in their order."""
    index = {key: i for i, key in enumerate(keys)}
    coded = [(index[v.a], index[v.b], v.outcome) for v in votes]
    return [BASE + SCALE * x for x in _fit_pairs(len(keys), _pairs(coded))]


def _percentile(sorted_values: Sequence[float], q: float) -> float:
    """Linear interpolation between closest ranks (numpy's default)."""
    position = q * (len(sorted_values) - 1)
    low = math.floor(position)
    high = min(low + 1, len(sorted_values) - 1)
    return sorted_values[low] + (sorted_values[high] - sorted_values[low]) * (position - low)


def leaderboard(
    votes: Sequence[Vote],
    *,
    resamples: int = DEFAULT_RESAMPLES,
    seed: int = 0,
    confidence: float = 0.95,
) -> list[Rated]:
    """Every model that has a vote, best first, with its interval and rank range."""
    keys = sorted({v.a for v in votes} | {v.b for v in votes}, key=repr)
    if not keys:
        return []
    n = len(keys)
    index = {key: i for i, key in enumerate(keys)}
    coded = [(index[v.a], index[v.b], v.outcome) for v in votes]
    point = _fit_pairs(n, _pairs(coded))
    warm = [math.exp(x) for x in point]

    rng = random.Random(seed)  # noqa: S311 - a seeded, reproducible resample, not a secret
    games = Counter((min(a, b), max(a, b)) for a, b, _ in coded)
    tie_rate = sum(1 for *_, outcome in coded if outcome == "tie") / len(coded)
    samples: list[list[float]] = [[] for _ in range(n)]
    for _ in range(resamples):
        pairs = _replay(games, warm, tie_rate, rng)
        for i, x in enumerate(_fit_pairs(n, pairs, warm)):
            samples[i].append(x)

    tail = (1 - confidence) / 2
    ratings = [BASE + SCALE * x for x in point]
    lows, highs = [], []
    for i in range(n):
        ordered = sorted(samples[i]) if resamples else [point[i]]
        lows.append(BASE + SCALE * _percentile(ordered, tail))
        highs.append(BASE + SCALE * _percentile(ordered, 1 - tail))
    tally = _tally(coded, n)
    order = sorted(range(n), key=lambda i: -ratings[i])
    out = []
    for rank, i in enumerate(order, start=1):
        surely_above = sum(1 for j in range(n) if j != i and lows[j] > highs[i])
        surely_below = sum(1 for j in range(n) if j != i and highs[j] < lows[i])
        wins, losses, ties = tally[i]
        out.append(
            Rated(
                key=keys[i],
                rating=ratings[i],
                low=min(lows[i], ratings[i]),
                high=max(highs[i], ratings[i]),
                rank=rank,
                rank_best=min(1 + surely_above, rank),
                rank_worst=max(n - surely_below, rank),
                votes=wins + losses + ties,
                wins=wins,
                losses=losses,
                ties=ties,
            )
        )
    return out


def _replay(
    games: Counter[tuple[int, int]], strength: list[float], tie_rate: float, rng: random.Random
) -> Pairs:
    """One parametric resample: every pair plays as many games as it did, each decided by
    the fitted strengths, with ties at the observed rate (and the decisive games shifted so
    that a side's expected score stays p_i / (p_i + p_j))."""
    pairs: Pairs = {}
    for (i, j), count in games.items():
        expected = strength[i] / (strength[i] + strength[j])
        decisive = 1 - tie_rate
        win = min(1.0, max(0.0, (expected - tie_rate / 2) / decisive)) if decisive else 0.0
        wi = wj = 0.0
        for _ in range(count):
            if rng.random() < tie_rate:
                wi += 0.5
                wj += 0.5
            elif rng.random() < win:
                wi += 1
            else:
                wj += 1
        pairs[(i, j)] = (wi, wj)
    return pairs


def _tally(coded: Sequence[tuple[int, int, Outcome]], n: int) -> list[tuple[int, int, int]]:
    wins, losses, ties = [0] * n, [0] * n, [0] * n
    for a, b, outcome in coded:
        if outcome == "tie":
            ties[a] += 1
            ties[b] += 1
        else:
            winner, loser = (a, b) if outcome == "a" else (b, a)
            wins[winner] += 1
            losses[loser] += 1
    return list(zip(wins, losses, ties, strict=True))
