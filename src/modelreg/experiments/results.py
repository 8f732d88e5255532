"""GET /api/experiments/{id}/results: per arm figures from the usage ledger, each arm's
difference to the first arm with intervals, and a verdict only where the data supports one.

Each request the experiment routed is one `usage_events` row naming the arm (the gateway's
calls and the chat's turns alike). Errors are rows with status `error`; latency and time to
first token are read from the rows that did not fail (a fast failure is no fast answer).
The verdict reads the always-valid confidence sequences only (stats.py), so it may be
looked at at any time; the fixed-sample intervals are shown for reading.
"""

from __future__ import annotations

import asyncio
import uuid
from dataclasses import dataclass, field
from decimal import Decimal
from typing import TYPE_CHECKING, Final

from pydantic import BaseModel, Field
from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import Experiment, UsageEvent
from modelreg.decimals import plain
from modelreg.experiments import stats
from modelreg.experiments.feedback import FeedbackScore, feedback_scores

if TYPE_CHECKING:
    from modelreg.db.engine import Database

__all__ = ["METHOD", "ArmResult", "Comparison", "ExperimentResults", "results"]

MIN_PER_ARM: Final = 30  # fewer requests in an arm: no verdict (the intervals are too rough)
METHOD: Final = (
    "Sequential: the verdict uses always-valid 95 % confidence sequences (normal-mixture "
    "boundary, Waudby-Smith et al. 2023) for the difference of each arm to the first in error "
    "rate, mean latency and mean cost per request, so the results may be checked at any time "
    f"without inflating false positives; no verdict before {MIN_PER_ARM} requests per arm. "
    "Shown for reading, not for deciding: Wilson intervals for each error rate, Newcombe's "
    "hybrid score interval for differences of error rates, percentile bootstrap intervals "
    f"({stats.BOOTSTRAP_ROUNDS} resamples) for differences of median latency and mean cost."
)


class Interval(BaseModel):
    estimate: float
    low: float
    high: float


class ArmResult(BaseModel):
    arm_id: uuid.UUID
    model_name: str
    share: float = Field(description="The arm's configured share of traffic")
    requests: int
    errors: int
    error_rate: Interval | None = Field(description="With a 95 % Wilson interval")
    latency_p50_ms: float | None
    latency_p95_ms: float | None
    ttft_p50_ms: float | None
    input_tokens: int
    output_tokens: int
    total_cost: str = Field(description="USD, exact")
    cost_per_request: str | None = Field(description="USD")
    feedback: FeedbackScore | None = Field(
        description="Thumbs up/down on the arm's chat answers; null without feedback data"
    )


class Comparison(BaseModel):
    """One arm against the first (the baseline): arm minus baseline."""

    arm_id: uuid.UUID
    model_name: str
    error_rate: Interval | None = Field(description="Newcombe 95 % interval")
    latency_p50_ms: Interval | None = Field(description="Bootstrap 95 % interval")
    cost_per_request: Interval | None = Field(description="Bootstrap 95 % interval (USD)")
    sequential_error_rate: Interval | None = Field(description="Always-valid 95 %")
    sequential_latency_mean_ms: Interval | None = Field(description="Always-valid 95 %")
    sequential_cost_per_request: Interval | None = Field(description="Always-valid 95 % (USD)")
    verdict: str | None = Field(description="Only where a confidence sequence excludes zero")


class ExperimentResults(BaseModel):
    experiment_id: uuid.UUID
    name: str
    status: str
    method: str
    arms: list[ArmResult]
    comparisons: list[Comparison]
    verdict: str


@dataclass
class _Arm:
    statuses: list[bool] = field(default_factory=list)  # True: an error
    latencies: list[float] = field(default_factory=list)
    ttfts: list[float] = field(default_factory=list)
    costs: list[float] = field(default_factory=list)
    input_tokens: int = 0
    output_tokens: int = 0
    total_cost: Decimal = Decimal(0)


def _interval(e: stats.Estimate | None) -> Interval | None:
    return None if e is None else Interval(estimate=e.value, low=e.low, high=e.high)


async def results(db: Database, experiment: Experiment) -> ExperimentResults:
    """The results of an experiment the caller may see (checked by the caller)."""
    arms = {uuid.UUID(a["id"]): _Arm() for a in experiment.arms}
    query = select(
        UsageEvent.experiment_arm_id, UsageEvent.status, UsageEvent.latency_ms,
        UsageEvent.ttft_ms, UsageEvent.input_tokens, UsageEvent.output_tokens, UsageEvent.cost,
    ).where(UsageEvent.experiment_id == experiment.id)  # fmt: skip
    # every user's requests count: read as the system once the caller may see the experiment
    async with db.session(SYSTEM) as session:
        rows = (await session.execute(query)).all()
    for arm_id, status, latency, ttft, tokens_in, tokens_out, cost in rows:
        arm = arms.get(arm_id) if arm_id is not None else None
        if arm is None:
            continue
        failed = status == "error"
        arm.statuses.append(failed)
        if not failed and latency is not None:
            arm.latencies.append(latency)
        if not failed and ttft is not None:
            arm.ttfts.append(ttft)
        arm.costs.append(float(cost))
        arm.input_tokens += tokens_in
        arm.output_tokens += tokens_out
        arm.total_cost += cost
    scores = await feedback_scores(db, experiment.id)
    # the bootstrap is CPU work: off the event loop
    return await asyncio.to_thread(_assemble, experiment, arms, scores)


def _assemble(
    experiment: Experiment,
    arms: dict[uuid.UUID, _Arm],
    scores: dict[uuid.UUID, FeedbackScore] | None,
) -> ExperimentResults:
    total_weight = sum(float(a["weight"]) for a in experiment.arms) or 1.0
    out = []
    for spec in experiment.arms:
        arm_id = uuid.UUID(spec["id"])
        arm = arms[arm_id]
        n = len(arm.statuses)
        errors = sum(arm.statuses)
        out.append(
            ArmResult(
                arm_id=arm_id,
                model_name=spec["model_name"],
                share=float(spec["weight"]) / total_weight,
                requests=n,
                errors=errors,
                error_rate=_interval(stats.wilson(errors, n)),
                latency_p50_ms=stats.percentile(arm.latencies, 0.5),
                latency_p95_ms=stats.percentile(arm.latencies, 0.95),
                ttft_p50_ms=stats.percentile(arm.ttfts, 0.5),
                input_tokens=arm.input_tokens,
                output_tokens=arm.output_tokens,
                total_cost=plain(arm.total_cost),
                cost_per_request=plain(arm.total_cost / n) if n else None,
                feedback=(scores.get(arm_id) or FeedbackScore(ratings=0, up=0, down=0, score=None))
                if scores is not None
                else None,
            )
        )
    ids = [uuid.UUID(a["id"]) for a in experiment.arms]
    comparisons = [
        _compare(arms[ids[0]], arms[arm_id], arm_id, spec["model_name"])
        for arm_id, spec in zip(ids[1:], experiment.arms[1:], strict=True)
    ]
    return ExperimentResults(
        experiment_id=experiment.id,
        name=experiment.name,
        status=experiment.status,
        method=METHOD,
        arms=out,
        comparisons=comparisons,
        verdict=_overall(experiment.arms[0]["model_name"], comparisons, out),
    )


def _compare(base: _Arm, arm: _Arm, arm_id: uuid.UUID, name: str) -> Comparison:
    seed = arm_id.int & 0xFFFFFFFF
    k_a, n_a = sum(base.statuses), len(base.statuses)
    k_b, n_b = sum(arm.statuses), len(arm.statuses)
    rate_a, rate_b = stats.rate_moments(k_a, n_a), stats.rate_moments(k_b, n_b)
    seq_rate = stats.sequence_difference(*rate_a, *rate_b)
    lat_a, lat_b = stats.mean_and_variance(base.latencies), stats.mean_and_variance(arm.latencies)
    seq_latency = stats.sequence_difference(*lat_a, len(base.latencies), *lat_b, len(arm.latencies))
    cost_a, cost_b = stats.mean_and_variance(base.costs), stats.mean_and_variance(arm.costs)
    seq_cost = stats.sequence_difference(*cost_a, len(base.costs), *cost_b, len(arm.costs))
    enough = min(n_a, n_b) >= MIN_PER_ARM
    findings = []
    if enough:
        for label, unit, e in (
            ("error rate", "points", seq_rate),
            ("mean latency", "ms", seq_latency),
            ("cost per request", "USD", seq_cost),
        ):
            if e is not None and (e.low > 0 or e.high < 0):
                scale = 100 if unit == "points" else 1
                way = "higher" if e.value > 0 else "lower"
                findings.append(
                    f"{label} {way} by {abs(e.value) * scale:.4g} {unit} "
                    f"(95 % always-valid: {e.low * scale:+.4g} to {e.high * scale:+.4g})"
                )
    return Comparison(
        arm_id=arm_id,
        model_name=name,
        error_rate=_interval(stats.newcombe(k_a, n_a, k_b, n_b)),
        latency_p50_ms=_interval(
            stats.bootstrap_difference(
                base.latencies, arm.latencies, lambda v: stats.percentile(v, 0.5), seed=seed
            )
        ),
        cost_per_request=_interval(
            stats.bootstrap_difference(
                base.costs, arm.costs, lambda v: stats.mean_and_variance(v)[0], seed=seed
            )
        ),
        sequential_error_rate=_interval(seq_rate),
        sequential_latency_mean_ms=_interval(seq_latency),
        sequential_cost_per_request=_interval(seq_cost),
        verdict=f"{name} vs the first arm: " + "; ".join(findings) if findings else None,
    )


def _overall(baseline: str, comparisons: list[Comparison], arms: list[ArmResult]) -> str:
    decided = [c.verdict for c in comparisons if c.verdict]
    if decided:
        return " · ".join(decided)
    fewest = min((a.requests for a in arms), default=0)
    if fewest < MIN_PER_ARM:
        return (
            f"No verdict yet: an arm has {fewest} requests; a verdict needs at least "
            f"{MIN_PER_ARM} in each arm and a difference the confidence sequence confirms."
        )
    return (
        f"No verdict yet: no arm differs from {baseline} by more than chance explains so "
        "far. The results stay valid however often you look; keep collecting."
    )
