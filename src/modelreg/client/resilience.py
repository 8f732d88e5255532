"""Retry policy (backoff with jitter, Retry-After) and the per-model circuit breaker.

The retry rules follow the official OpenAI and Anthropic SDKs: `min(0.5 * 2**n, 8)` seconds
times a jitter in (0.75, 1.0], `retry-after-ms` before `retry-after` (seconds or an HTTP date),
an `x-should-retry` header overrides the status-based choice. One difference on purpose: a
Retry-After longer than `max_retry_after` ends the retries on that model instead of waiting,
because a gateway with a fallback chain does better moving on than holding the caller.
"""

from __future__ import annotations

import random
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from enum import Enum
from typing import TypeVar

from modelreg.errors import (
    BadRequestError,
    CircuitOpenError,
    ContextLengthExceededError,
    PoolTimeoutError,
    ProviderError,
    ProviderStatusError,
)

# one reading of Retry-After for adapters and the retry loop; re-exported for callers here
from modelreg.providers.headers import parse_retry_after

T = TypeVar("T")

__all__ = [
    "BreakerState",
    "CircuitBreaker",
    "CircuitBreakerRegistry",
    "RetryPolicy",
    "apply_retry_headers",
    "counts_against_breaker",
    "judged",
    "parse_retry_after",
    "should_fall_back",
]


def _should_retry_header(headers: Mapping[str, str]) -> bool | None:
    for key, value in headers.items():
        if key.lower() == "x-should-retry":
            if value.strip().lower() == "true":
                return True
            if value.strip().lower() == "false":
                return False
    return None


def apply_retry_headers(error: ProviderError, headers: Mapping[str, str]) -> None:
    """Complete an adapter's error from the response headers: Retry-After when the adapter
    did not read it, and the upstream's explicit `x-should-retry` verdict."""
    if isinstance(error, ProviderStatusError) and error.retry_after is None:
        error.retry_after = parse_retry_after(headers)
    forced = _should_retry_header(headers)
    if forced is not None:
        error.retryable = forced


def _is_quota_error(error: ProviderStatusError) -> bool:
    """A 429 that waiting will not fix: the account is out of credit."""
    code = (error.code or "").lower()
    text = error.message.lower()
    return code in {"insufficient_quota", "billing_error"} or "insufficient_quota" in text


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    max_retries: int = 2
    initial_backoff: float = 0.5
    max_backoff: float = 8.0
    max_retry_after: float = 60.0
    # jitter multiplier source; tests pass `lambda: 1.0` to make delays exact
    jitter: Callable[[], float] = field(default=lambda: 1.0 - 0.25 * random.random())  # noqa: S311

    def is_retryable(self, error: ProviderError) -> bool:
        if isinstance(error, ProviderStatusError):
            if error.status == 429 and _is_quota_error(error):
                return False
            if error.retry_after is not None and error.retry_after > self.max_retry_after:
                return False
        return error.retryable

    def delay(self, retry_index: int, retry_after: float | None = None) -> float:
        """Seconds before retry number `retry_index` (0 for the first retry)."""
        if retry_after is not None and 0 < retry_after <= self.max_retry_after:
            return retry_after
        backoff = min(self.initial_backoff * 2.0**retry_index, self.max_backoff)
        return backoff * self.jitter()


def counts_against_breaker(error: ProviderError) -> bool:
    """Failures that say the model (not the request) is unwell: connection trouble,
    timeouts, 5xx and overload. A bad request or a bad key does not open the breaker, and
    neither does a wait for a free connection of our own pool (PoolTimeoutError): with many
    slow streams open that is our limit, not the upstream failing, and counting it opened
    the breaker of a healthy model under load."""
    return error.retryable and not isinstance(error, CircuitOpenError | PoolTimeoutError)


def should_fall_back(error: ProviderError) -> bool:
    """Whether another model might succeed where this one failed. An invalid request would
    fail everywhere, except when it was only too long for this model's context. No free
    connection in our pool would be no different for another model: the limit is the
    process's, not the upstream's."""
    if isinstance(error, ContextLengthExceededError):
        return True
    if isinstance(error, PoolTimeoutError):
        return False
    return not isinstance(error, BadRequestError)


class BreakerState(Enum):
    CLOSED = "closed"
    OPEN = "open"
    HALF_OPEN = "half_open"


@dataclass(slots=True)
class CircuitBreaker:
    """Opens after `failure_threshold` consecutive failures; after `cooldown` seconds lets one
    probe through (half-open); the probe's success closes it, its failure re-opens it."""

    failure_threshold: int = 5
    cooldown: float = 30.0
    clock: Callable[[], float] = time.monotonic
    failures: int = 0
    opened_at: float | None = None
    probe_in_flight: bool = False

    @property
    def state(self) -> BreakerState:
        if self.opened_at is None:
            return BreakerState.CLOSED
        if self.clock() - self.opened_at >= self.cooldown:
            return BreakerState.HALF_OPEN
        return BreakerState.OPEN

    def allow(self) -> bool:
        state = self.state
        if state is BreakerState.CLOSED:
            return True
        if state is BreakerState.HALF_OPEN and not self.probe_in_flight:
            self.probe_in_flight = True
            return True
        return False

    def record_success(self) -> None:
        self.failures = 0
        self.opened_at = None
        self.probe_in_flight = False

    def record_failure(self) -> None:
        self.failures += 1
        if self.probe_in_flight or self.failures >= self.failure_threshold:
            self.opened_at = self.clock()
        self.probe_in_flight = False

    def release_probe(self) -> None:
        """The probe ended without a verdict (cancelled, or a failure of the request itself)."""
        self.probe_in_flight = False


class CircuitBreakerRegistry:
    """One breaker per model id, created on first use. State is per process."""

    def __init__(
        self,
        *,
        failure_threshold: int = 5,
        cooldown: float = 30.0,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.failure_threshold = failure_threshold
        self.cooldown = cooldown
        self._clock = clock
        self._breakers: dict[str, CircuitBreaker] = {}

    def get(self, model_id: str) -> CircuitBreaker:
        breaker = self._breakers.get(model_id)
        if breaker is None:
            breaker = CircuitBreaker(self.failure_threshold, self.cooldown, self._clock)
            self._breakers[model_id] = breaker
        return breaker

    def state(self, model_id: str) -> BreakerState:
        return self.get(model_id).state


async def judged(breaker: CircuitBreaker, attempt: Callable[[], Awaitable[T]]) -> T:
    """Run one attempt and tell the breaker how the model did. An attempt that never reached
    the model (cancelled, no free connection of ours) gives no verdict: it releases a
    half-open probe and leaves the count of failures as it was."""
    verdict = False
    try:
        outcome = await attempt()
        breaker.record_success()
        verdict = True
        return outcome
    except ProviderError as e:
        if counts_against_breaker(e):
            breaker.record_failure()
            verdict = True
        elif isinstance(e, ProviderStatusError):
            breaker.record_success()  # it answered, sanely: the model is up
            verdict = True
        raise
    finally:
        if not verdict:
            breaker.release_probe()
