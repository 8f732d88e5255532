"""Per-user and per-model rate limits (requests and tokens per minute), with `limits`.

- Requests per minute use a moving window: no burst of 2x the limit at a window edge.
- Tokens per minute use a fixed window, because the token count is only known after the
  call and must always be recorded (a moving window refuses to record an over-limit hit).
  `check_tokens` refuses a request while the window is used up; `add_tokens` books usage.
- Storage is in memory by default and Redis when `settings.redis_url` is set, so that all
  replicas of the server share one budget; what happens while Redis is down (fail open to
  per-process counters, or fail closed with 503) is modelreg.limitstore's.

Limits of 0 (user) or None (model) mean unlimited; such checks cost nothing.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Final

from limits import RateLimitItem, RateLimitItemPerMinute
from limits.aio.strategies import FixedWindowRateLimiter, MovingWindowRateLimiter

from modelreg.actor import Actor
from modelreg.errors import RateLimitedError
from modelreg.limitstore import LimitStore, RedisState, Strategies
from modelreg.model_config import ModelConfig
from modelreg.settings import Settings

__all__ = ["RateLimiter"]

_NAMESPACE: Final = "modelreg"


class RateLimiter:
    def __init__(
        self,
        settings: Settings,
        *,
        key_prefix: str = "LIMITS",
        on_failure: Callable[[str], None] | None = None,
    ) -> None:
        """`on_failure(mode)` is called for each operation Redis could not serve."""
        self._user_rpm = settings.user_rpm_limit
        self._user_tpm = settings.user_tpm_limit
        self._login_per_minute = settings.login_attempts_per_minute
        self.store = LimitStore(settings, key_prefix=key_prefix, on_failure=on_failure)
        # in-memory checks that run first on every admission (the spent budgets,
        # modelreg.budgets): they raise a LimitExceededError before anything is counted
        self.admission: list[Callable[[Actor, ModelConfig], None]] = []

    # --- requests per minute ----------------------------------------------------------

    async def check_request(self, actor: Actor, model: ModelConfig) -> None:
        """Count one request against the user's and the model's RPM, or raise
        RateLimitedError(retry_after) without counting it against either."""
        for admit in self.admission:
            admit(actor, model)
        checks = self._request_limits(actor, model)
        if not checks:
            return

        async def check(on: Strategies) -> None:
            for item, ids, who in checks:
                if not await on.requests.test(item, *ids):
                    raise await self._refusal(on.requests, item, ids, f"{who} request")
            for item, ids, who in checks:
                # a concurrent request may have taken the last slot since the test above
                if not await on.requests.hit(item, *ids):
                    raise await self._refusal(on.requests, item, ids, f"{who} request")

        await self.store.run(check)

    def _request_limits(
        self, actor: Actor, model: ModelConfig
    ) -> list[tuple[RateLimitItem, tuple[str, ...], str]]:
        checks: list[tuple[RateLimitItem, tuple[str, ...], str]] = []
        if self._user_rpm > 0 and actor.id is not None:
            item = RateLimitItemPerMinute(self._user_rpm, namespace=_NAMESPACE)
            checks.append((item, ("rpm", "user", str(actor.id)), "per-user"))
        if model.rpm_limit:
            item = RateLimitItemPerMinute(model.rpm_limit, namespace=_NAMESPACE)
            checks.append((item, ("rpm", "model", model.id), f"model {model.name!r}"))
        return checks

    # --- tokens per minute ------------------------------------------------------------

    async def check_tokens(self, actor: Actor, model: ModelConfig) -> None:
        """Raise RateLimitedError while the user's or the model's TPM window is used up."""
        checks = self._token_limits(actor, model)
        if not checks:
            return

        async def check(on: Strategies) -> None:
            for item, ids, who in checks:
                if not await on.tokens.test(item, *ids):
                    raise await self._refusal(on.tokens, item, ids, f"{who} token")

        await self.store.run(check)

    async def add_tokens(self, actor: Actor, model: ModelConfig, tokens: int) -> None:
        """Book `tokens` used by a finished call (always recorded, even past the limit)."""
        checks = self._token_limits(actor, model)
        if tokens <= 0 or not checks:
            return

        async def book(on: Strategies) -> None:
            for item, ids, _ in checks:
                await on.tokens.hit(item, *ids, cost=tokens)

        await self.store.run(book, booking=True)

    def _token_limits(
        self, actor: Actor, model: ModelConfig
    ) -> list[tuple[RateLimitItem, tuple[str, ...], str]]:
        checks: list[tuple[RateLimitItem, tuple[str, ...], str]] = []
        if self._user_tpm > 0 and actor.id is not None:
            item = RateLimitItemPerMinute(self._user_tpm, namespace=_NAMESPACE)
            checks.append((item, ("tpm", "user", str(actor.id)), "per-user"))
        if model.tpm_limit:
            item = RateLimitItemPerMinute(model.tpm_limit, namespace=_NAMESPACE)
            checks.append((item, ("tpm", "model", model.id), f"model {model.name!r}"))
        return checks

    # --- sign-in attempts --------------------------------------------------------------

    async def check_login(self, username: str, client_ip: str) -> None:
        """Count one password attempt; refuse guessing (per name and address) and floods
        (per address): each attempt costs an argon2 hash of 64 MiB."""
        if self._login_per_minute <= 0:
            return
        per_name = RateLimitItemPerMinute(self._login_per_minute, namespace=_NAMESPACE)
        per_ip = RateLimitItemPerMinute(self._login_per_minute * 5, namespace=_NAMESPACE)
        checks = (
            (per_name, ("login", client_ip, username.lower())),
            (per_ip, ("login-ip", client_ip)),
        )

        async def check(on: Strategies) -> None:
            for item, ids in checks:
                if not await on.requests.hit(item, *ids):
                    raise await self._refusal(on.requests, item, ids, "sign-in attempt")

        await self.store.run(check)

    # --- shared -----------------------------------------------------------------------

    @staticmethod
    async def _refusal(
        strategy: MovingWindowRateLimiter | FixedWindowRateLimiter,
        item: RateLimitItem,
        ids: tuple[str, ...],
        what: str,
    ) -> RateLimitedError:
        stats = await strategy.get_window_stats(item, *ids)
        retry_after = max(1.0, stats.reset_time - time.time())
        return RateLimitedError(
            f"{what} limit of {item.amount} per minute reached; retry in {retry_after:.0f}s",
            retry_after=retry_after,
        )

    async def ping(self) -> RedisState:
        """ "off" (no Redis configured), "ok" or "down"."""
        return await self.store.ping()

    async def aclose(self) -> None:
        await self.store.aclose()
