"""The modelreg error tree.

```
ModelregError
├── ConfigError ── UnknownModelError, MissingCredentialsError, AccessDeniedError,
│                  ValidationFailedError, EncryptionKeyError
├── LimitExceededError ── RateLimitedError(retry_after), BudgetExceededError
├── ServiceUnavailableError(retry_after) ── DatabaseUnavailableError,
│                                           RateLimiterUnavailableError
└── ProviderError(provider, model)
    ├── ProviderConnectionError ── ProviderTimeoutError ── PoolTimeoutError
    │                              └── UnsafeURLError
    ├── ProviderStatusError(status, retry_after, request_id, upstream)
    │   ├── AuthenticationError, PermissionDeniedError, NotFoundError, ServerError
    │   ├── RateLimitError ── QuotaExceededError
    │   └── BadRequestError ── ContextLengthExceededError, ContentFilteredError
    ├── StreamInterruptedError
    ├── UnexpectedResponseError
    └── CircuitOpenError
```

`upstream` (an `UpstreamDetail`) keeps what the upstream's error body said, its own type, code,
param and message, so a caller of the same API family gets the upstream's error unchanged.

Every message is safe to show: no error ever carries an API key. Each API surface
(ours, OpenAI's, Anthropic's) has one handler that turns this tree into its own shape.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = [
    "AccessDeniedError",
    "AuthenticationError",
    "BadRequestError",
    "BudgetExceededError",
    "CircuitOpenError",
    "ConfigError",
    "ContentFilteredError",
    "ContextLengthExceededError",
    "DatabaseUnavailableError",
    "EncryptionKeyError",
    "LimitExceededError",
    "MissingCredentialsError",
    "ModelregError",
    "NotFoundError",
    "PermissionDeniedError",
    "PoolTimeoutError",
    "ProviderConnectionError",
    "ProviderError",
    "ProviderStatusError",
    "ProviderTimeoutError",
    "QuotaExceededError",
    "RateLimitError",
    "RateLimitedError",
    "RateLimiterUnavailableError",
    "ServerError",
    "ServiceUnavailableError",
    "StreamInterruptedError",
    "UnexpectedResponseError",
    "UnknownModelError",
    "UnsafeURLError",
    "UpstreamDetail",
    "ValidationFailedError",
]


class ModelregError(Exception):
    """Base of every error modelreg raises on purpose."""

    def __init__(self, message: str) -> None:
        super().__init__(message)
        self.message = message


# --- configuration and registry -------------------------------------------------------


class ConfigError(ModelregError):
    """Something in the registry or the settings is wrong or missing."""


class UnknownModelError(ConfigError):
    """No model of that name or id is visible to the caller."""


class MissingCredentialsError(ConfigError):
    """The model needs an API key and has none."""


class AccessDeniedError(ConfigError):
    """The caller may not do this (shown as 404 where existence must stay hidden)."""


class ValidationFailedError(ConfigError):
    """Input failed validation; `field` names the offending field."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.field = field


class EncryptionKeyError(ConfigError):
    """A secret could not be decrypted: wrong key, unknown key id or tampered value."""


# --- limits -----------------------------------------------------------------------------


class LimitExceededError(ModelregError):
    """A local limit (rate or budget) refused the request before any upstream call."""

    def __init__(self, message: str, *, retry_after: float | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class RateLimitedError(LimitExceededError):
    """Our own per-user / per-model rate limit."""


class BudgetExceededError(LimitExceededError):
    """A spending budget is used up."""


# --- our own dependencies ---------------------------------------------------------------


class ServiceUnavailableError(ModelregError):
    """A service of ours (not the upstream's) is down: answered 503 with `Retry-After`."""

    def __init__(self, message: str, *, retry_after: float = 1.0) -> None:
        super().__init__(message)
        self.retry_after = retry_after


class DatabaseUnavailableError(ServiceUnavailableError):
    """The database cannot be reached (refused, dropped, timed out, not accepting)."""


class RateLimiterUnavailableError(ServiceUnavailableError):
    """Redis is down and `MODELREG_RATE_LIMIT_FAIL_CLOSED` is on."""


# --- providers ----------------------------------------------------------------------------


class ProviderError(ModelregError):
    """An upstream provider failed. `provider` and `model` say which."""

    retryable: bool = False

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        super().__init__(message)
        self.provider = provider
        self.model = model


class ProviderConnectionError(ProviderError):
    """The upstream could not be reached (DNS, refused, reset, TLS).

    `reason` narrows it down: "connect", "dns", "tls", "timeout", "pool", "disconnected",
    "unsafe_url".
    """

    retryable = True

    def __init__(
        self, message: str, *, provider: str = "", model: str = "", reason: str | None = None
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.reason = reason


class ProviderTimeoutError(ProviderConnectionError):
    """The upstream did not answer in time."""


class PoolTimeoutError(ProviderTimeoutError):
    """No free upstream connection of our own within the connect timeout: this process has
    `MODELREG_UPSTREAM_MAX_CONNECTIONS` in use (reason "pool"). Our overload, not the
    upstream's failure: it never counts against the model's circuit breaker, is not retried
    and does not fall back (every attempt and model would queue for the same connections);
    answered 503 with `Retry-After`."""

    retryable = False
    retry_after: float = 1.0

    def __init__(self, message: str, *, provider: str = "", model: str = "") -> None:
        super().__init__(message, provider=provider, model=model, reason="pool")


class UnsafeURLError(ProviderConnectionError):
    """The base URL points somewhere this model may not reach (SSRF guard)."""

    retryable = False


@dataclass(frozen=True, slots=True)
class UpstreamDetail:
    """The upstream's own error, as its body said it (the message with secrets removed).

    `family` is the shape the body came in: "openai" (`{"error": {message, type, param,
    code}}`) or "anthropic" (`{"type": "error", "error": {type, message}}`). `headers` are the
    upstream's retry and rate-limit headers, to relay with the error."""

    family: str
    type: str | None
    code: str | None
    param: str | None
    message: str
    headers: tuple[tuple[str, str], ...] = ()


class ProviderStatusError(ProviderError):
    """The upstream answered with an error status."""

    upstream: UpstreamDetail | None = None

    def __init__(
        self,
        message: str,
        *,
        status: int,
        provider: str = "",
        model: str = "",
        retry_after: float | None = None,
        request_id: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(message, provider=provider, model=model)
        self.status = status
        self.retry_after = retry_after
        self.request_id = request_id
        self.code = code
        self.retryable = status in RETRYABLE_STATUSES


RETRYABLE_STATUSES = frozenset({408, 409, 429, 500, 502, 503, 504, 529})


class AuthenticationError(ProviderStatusError):
    """401: the key is missing, wrong or revoked."""


class PermissionDeniedError(ProviderStatusError):
    """403: the key may not use this model or feature."""


class NotFoundError(ProviderStatusError):
    """404: unknown model, deployment or route upstream."""


class RateLimitError(ProviderStatusError):
    """429 (or 529 overloaded): slow down; `retry_after` in seconds when known."""


class QuotaExceededError(RateLimitError):
    """429 `insufficient_quota` / 402 `billing_error`: the account is out of credit or quota.
    Waiting will not help (not retried), but another model may have credit (fallback)."""

    def __init__(self, message: str, **kwargs: Any) -> None:
        super().__init__(message, **kwargs)
        self.retryable = False


class ServerError(ProviderStatusError):
    """5xx from the upstream."""


class BadRequestError(ProviderStatusError):
    """400 / 413 / 422: the upstream refused the request as invalid."""


class ContextLengthExceededError(BadRequestError):
    """The prompt plus the output budget does not fit the model's context."""


class ContentFilteredError(BadRequestError):
    """The provider's content filter refused the prompt."""


class StreamInterruptedError(ProviderError):
    """The stream broke after output had been handed on; it cannot be retried."""


class UnexpectedResponseError(ProviderError):
    """The upstream answered with something that is not its documented format."""


class CircuitOpenError(ProviderError):
    """The model's circuit breaker is open after repeated failures."""

    retryable = True
