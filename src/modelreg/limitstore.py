"""Where the rate limiter keeps its counters, and what happens when Redis is down.

Without `MODELREG_REDIS_URL` the counters live in this process's memory. With it they live in
Redis, so that every replica shares one budget; and when Redis does not answer:

- fail open (the default): the operation runs on a per-process in-memory fallback, so limits
  still hold per process (N replicas allow up to N times the limit) and the sign-in limit
  still stops password guessing. Letting everything through would switch that off.
- fail closed (`MODELREG_RATE_LIMIT_FAIL_CLOSED=true`): checks raise
  RateLimiterUnavailableError (503, Retry-After); bookings of finished calls go to the
  fallback, since the call was served anyway.

Either way each affected operation counts in `modelreg_rate_limiter_failures_total`, the
first failure logs a warning (then at most one line a minute) and recovery one line. After a
failure Redis is skipped for `RETRY_SECONDS`, then one operation probes it again: an outage
costs one failed attempt per interval, not one per request, and recovery needs no restart.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Literal, TypeVar
from urllib.parse import urlsplit

from limits.aio.storage import MemoryStorage, RedisStorage, Storage
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter
from limits.errors import StorageError

from modelreg.errors import RateLimiterUnavailableError
from modelreg.logthrottle import ThrottledLog
from modelreg.settings import Settings

__all__ = ["LimitStore", "RedisState", "Strategies"]

log = logging.getLogger("modelreg.ratelimit")

T = TypeVar("T")
RedisState = Literal["off", "ok", "down"]
RETRY_SECONDS: Final = 1.0
# what a Redis outage looks like from redis-py (wrapped by limits) and from the socket
_FAILURES: Final = (StorageError, OSError, TimeoutError)


@dataclass(frozen=True, slots=True)
class Strategies:
    """The two window strategies over one storage."""

    storage: Storage
    requests: MovingWindowRateLimiter
    tokens: FixedWindowRateLimiter

    @classmethod
    def on(cls, storage: Storage) -> Strategies:
        return cls(storage, MovingWindowRateLimiter(storage), FixedWindowRateLimiter(storage))


def _redis_storage(settings: Settings, url: str, key_prefix: str) -> Storage:
    uri = url if url.startswith("async+") else "async+" + url
    options: dict[str, Any] = {
        "socket_connect_timeout": settings.redis_timeout,
        "socket_timeout": settings.redis_timeout,
    }
    # redis-py (already a dependency) instead of limits' default coredis
    return RedisStorage(
        uri, implementation="redispy", key_prefix=key_prefix, wrap_exceptions=True, **options
    )


def redacted(url: str) -> str:
    """scheme://host:port/db of a Redis URL: never its password."""
    parts = urlsplit(url)
    host = parts.hostname or ""
    port = f":{parts.port}" if parts.port else ""
    return f"{parts.scheme}://{host}{port}{parts.path}"


class LimitStore:
    def __init__(
        self,
        settings: Settings,
        *,
        key_prefix: str,
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        self._memory = Strategies.on(MemoryStorage())
        self._redis: Strategies | None = None
        self.redis_url = redacted(settings.redis_url) if settings.redis_url else None
        if settings.redis_url:
            self._redis = Strategies.on(_redis_storage(settings, settings.redis_url, key_prefix))
        self.fail_closed = settings.rate_limit_fail_closed
        self._mode = "fail_closed" if self.fail_closed else "fail_open"
        self._on_failure = on_failure
        self._down = False
        self._skip_until = 0.0
        self._log = ThrottledLog(log, interval=60.0)

    @property
    def state(self) -> RedisState:
        if self._redis is None:
            return "off"
        return "down" if self._down else "ok"

    async def run(self, op: Callable[[Strategies], Awaitable[T]], *, booking: bool = False) -> T:
        """`op` on Redis, or, while Redis is down, on the fallback (fail open or `booking`)
        or not at all (fail closed: RateLimiterUnavailableError)."""
        redis = self._redis
        if redis is None:
            return await op(self._memory)
        now = time.monotonic()
        if now >= self._skip_until:
            # the next RETRY_SECONDS of callers skip Redis while this one tries it
            self._skip_until = now + RETRY_SECONDS if self._down else 0.0
            try:
                result = await op(redis)
            except _FAILURES as exc:
                self._failed(exc)
            else:
                if self._down:
                    self._recovered()
                return result
        if self._on_failure is not None:
            self._on_failure(self._mode)
        if self.fail_closed and not booking:
            raise RateLimiterUnavailableError(
                "The rate limiter's store (Redis) is unavailable; retry shortly",
                retry_after=RETRY_SECONDS,
            )
        return await op(self._memory)

    def _failed(self, exc: BaseException) -> None:
        self._skip_until = time.monotonic() + RETRY_SECONDS
        self._down = True
        consequence = (
            "requests that need a limit check are refused with 503"
            if self.fail_closed
            else "limits fall back to per-process counters"
        )
        self._log.warning(
            "Redis at %s unavailable (%s): %s", self.redis_url, _describe(exc), consequence
        )

    def _recovered(self) -> None:
        self._down = False
        self._skip_until = 0.0
        self._log.reset()
        log.warning("Redis at %s available again: limits are shared again", self.redis_url)

    async def ping(self) -> RedisState:
        """Ask Redis now (readiness); updates the state either way."""
        if self._redis is None:
            return "off"
        try:
            answered = await self._redis.storage.check()
        except _FAILURES:
            answered = False
        if answered and self._down:
            self._recovered()
        elif not answered and not self._down:
            self._failed(ConnectionError("no answer to PING"))
        return self.state

    async def aclose(self) -> None:
        """Release the storages: the memory storage's expiry task, the Redis connections.
        `limits` has no public close, hence the careful attribute lookups."""
        for strategies in (self._memory, self._redis):
            if strategies is None:
                continue
            timer = getattr(strategies.storage, "timer", None)
            if isinstance(timer, asyncio.Task) and not timer.done():
                timer.cancel()
            client = getattr(getattr(strategies.storage, "bridge", None), "storage", None)
            close = getattr(client, "aclose", None)
            if close is not None:
                await close()


def _describe(exc: BaseException) -> str:
    inner = exc.storage_error if isinstance(exc, StorageError) else exc
    text = str(inner).splitlines()[0][:200] if str(inner) else ""
    return f"{type(inner).__name__}: {text}" if text else type(inner).__name__
