"""Retry arithmetic, Retry-After parsing and the breaker's state machine, without I/O."""

from __future__ import annotations

import email.utils

import pytest

from modelreg import errors
from modelreg.client.resilience import (
    BreakerState,
    CircuitBreaker,
    RetryPolicy,
    apply_retry_headers,
    judged,
    parse_retry_after,
    should_fall_back,
)


@pytest.mark.parametrize(
    ("headers", "expected"),
    [
        ({"retry-after-ms": "1500"}, 1.5),
        ({"Retry-After-Ms": "250", "Retry-After": "9"}, 0.25),  # ms wins
        ({"retry-after": "2"}, 2.0),
        ({"Retry-After": "0.5"}, 0.5),
        ({"retry-after": "soon"}, None),
        ({}, None),
        ({"retry-after": "-3"}, 0.0),
    ],
)
def test_parse_retry_after(headers, expected):
    assert parse_retry_after(headers) == expected


def test_parse_retry_after_http_date():
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(7, abs=1)


def test_backoff_doubles_up_to_the_cap_with_jitter_below_one():
    exact = RetryPolicy(jitter=lambda: 1.0)
    assert [exact.delay(n) for n in range(6)] == [0.5, 1.0, 2.0, 4.0, 8.0, 8.0]
    jittered = RetryPolicy()
    for n in range(5):
        for _ in range(50):
            assert 0.75 * exact.delay(n) <= jittered.delay(n) <= exact.delay(n)


def test_retry_after_replaces_backoff_only_within_the_cap():
    policy = RetryPolicy(jitter=lambda: 1.0)
    assert policy.delay(0, retry_after=3.0) == 3.0
    assert policy.delay(0, retry_after=0) == 0.5
    assert policy.delay(1, retry_after=120) == 1.0


def _status(cls: type[errors.ProviderStatusError], status: int, **kw: object):
    return cls("x", status=status, **kw)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("error", "retry"),
    [
        (errors.ProviderConnectionError("refused"), True),
        (errors.ProviderTimeoutError("slow"), True),
        (errors.UnsafeURLError("nope"), False),
        (_status(errors.RateLimitError, 429), True),
        (_status(errors.RateLimitError, 429, code="insufficient_quota"), False),
        (_status(errors.RateLimitError, 429, retry_after=600.0), False),
        (_status(errors.ServerError, 529), True),
        (_status(errors.ServerError, 501), False),
        (_status(errors.BadRequestError, 400), False),
        (_status(errors.AuthenticationError, 401), False),
        (errors.StreamInterruptedError("cut"), False),
    ],
)
def test_what_is_retried(error, retry):
    assert RetryPolicy().is_retryable(error) is retry


def test_headers_complete_the_error():
    error = _status(errors.ServerError, 503)
    apply_retry_headers(error, {"retry-after": "4", "x-should-retry": "false"})
    assert error.retry_after == 4.0
    assert RetryPolicy().is_retryable(error) is False
    forced = _status(errors.BadRequestError, 400)
    apply_retry_headers(forced, {"x-should-retry": "true"})
    assert RetryPolicy().is_retryable(forced) is True


@pytest.mark.parametrize(
    ("error", "fall_back"),
    [
        (_status(errors.ServerError, 500), True),
        (_status(errors.AuthenticationError, 401), True),
        (errors.CircuitOpenError("open"), True),
        (_status(errors.BadRequestError, 400), False),
        (_status(errors.ContentFilteredError, 400), False),
        (_status(errors.ContextLengthExceededError, 400), True),
    ],
)
def test_what_falls_back(error, fall_back):
    assert should_fall_back(error) is fall_back


def test_breaker_lets_one_probe_through_when_half_open():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown=10, clock=lambda: now[0])
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_success()  # success resets the count: failures must be consecutive
    breaker.record_failure()
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    assert not breaker.allow()
    now[0] = 10
    assert breaker.allow()  # the probe
    assert not breaker.allow()  # only one at a time
    breaker.release_probe()  # the probe was cancelled: the next caller may probe
    assert breaker.allow()
    breaker.record_failure()
    assert breaker.state is BreakerState.OPEN
    now[0] = 25
    assert breaker.allow()
    breaker.record_success()
    assert breaker.state is BreakerState.CLOSED
    assert breaker.allow()


def _pool_timeout() -> errors.ProviderTimeoutError:
    return errors.PoolTimeoutError("no free upstream connection within 5 s")


async def _fails_with(error: errors.ProviderError) -> None:
    raise error


async def test_a_wait_for_our_own_pool_is_no_verdict_on_the_model():
    now = [0.0]
    breaker = CircuitBreaker(failure_threshold=2, cooldown=10, clock=lambda: now[0])
    breaker.record_failure()
    for _ in range(3):
        with pytest.raises(errors.PoolTimeoutError):
            await judged(breaker, lambda: _fails_with(_pool_timeout()))
    assert breaker.failures == 1  # neither a failure nor a success
    assert breaker.state is BreakerState.CLOSED
    breaker.record_failure()
    now[0] = 10
    assert breaker.allow()  # the half-open probe...
    with pytest.raises(errors.PoolTimeoutError):
        await judged(breaker, lambda: _fails_with(_pool_timeout()))
    assert breaker.state is BreakerState.HALF_OPEN  # ...found no connection: not re-opened
    assert breaker.allow()  # and released, so the next caller may probe


def test_a_wait_for_our_own_pool_is_neither_retried_nor_falls_back():
    # the limit is the whole process's: another attempt or model would queue for it again
    assert RetryPolicy().is_retryable(_pool_timeout()) is False
    assert should_fall_back(_pool_timeout()) is False
