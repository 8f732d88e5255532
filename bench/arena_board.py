"""How long the arena's leaderboard takes to compute (Bradley-Terry fit + 200 bootstrap
replays, pure Python), for a few arena sizes: `python bench/arena_board.py [--quick]`.

CPU time of one computation in this process; the server runs it in a thread and keeps the
result until the next vote (modelreg.chat.arena)."""

from __future__ import annotations

import argparse
import random
import time

from modelreg.chat.bradley_terry import Outcome, Vote, leaderboard


def votes(models: int, count: int, seed: int = 0) -> list[Vote]:
    rng = random.Random(seed)
    strength = [rng.gauss(0, 1.5) for _ in range(models)]
    out = []
    for _ in range(count):
        a, b = rng.sample(range(models), 2)
        p = 1 / (1 + 10 ** ((strength[b] - strength[a]) / 2))
        outcome: Outcome = "tie" if rng.random() < 0.1 else "a" if rng.random() < p else "b"
        out.append(Vote(f"m{a}", f"m{b}", outcome))
    return out


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="the two smallest sizes only")
    args = parser.parse_args()
    sizes = [(4, 1_000), (4, 10_000), (20, 10_000), (20, 50_000), (50, 50_000)]
    if args.quick:
        sizes = sizes[:2]
    print(f"{'models':>6} {'votes':>7} {'seconds':>8}")
    for models, count in sizes:
        data = votes(models, count)
        started = time.process_time()
        leaderboard(data, resamples=200, seed=1)
        print(f"{models:>6} {count:>7} {time.process_time() - started:>8.2f}")


if __name__ == "__main__":
    main()
