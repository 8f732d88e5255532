"""Fixtures for the client tests: a scripted upstream, the fake adapter and a client using
them with short backoffs (the retry arithmetic itself is tested in test_resilience.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from modelreg.client import UnifiedLLMClient
from modelreg.client.resilience import CircuitBreakerRegistry, RetryPolicy
from modelreg.client.transport import HttpTransport
from tests.client.fakes import FakeAdapter, FakeUpstream

FAST_RETRY = RetryPolicy(max_retries=2, initial_backoff=0.01, max_backoff=0.05, jitter=lambda: 1.0)


@pytest.fixture
async def upstream() -> AsyncIterator[FakeUpstream]:
    server = FakeUpstream()
    await server.start()
    yield server
    await server.stop()


@pytest.fixture
def adapter() -> FakeAdapter:
    return FakeAdapter()


@pytest.fixture
async def client(adapter: FakeAdapter) -> AsyncIterator[UnifiedLLMClient]:
    c = UnifiedLLMClient(
        HttpTransport(connect_timeout=2, read_timeout=2, total_timeout=10),
        retry=FAST_RETRY,
        breaker=CircuitBreakerRegistry(failure_threshold=3, cooldown=60),
        adapter_for=lambda model: adapter,
    )
    yield c
    await c.aclose()
