"""Connection tests: what a probe's outcome means, as a stable reason code for UIs and APIs."""

from __future__ import annotations

from dataclasses import dataclass

from modelreg import errors as E

__all__ = ["ConnectionResult", "connection_reason"]


@dataclass(frozen=True, slots=True)
class ConnectionResult:
    ok: bool
    latency_ms: float
    reason: str | None = None  # None when ok; else a stable code, see `connection_reason`
    message: str = ""
    status: int | None = None


def connection_reason(error: E.ModelregError) -> str:
    checks: list[tuple[type[E.ModelregError], str]] = [
        (E.UnsafeURLError, "unsafe_url"),
        (E.ValidationFailedError, "invalid_url"),
        (E.MissingCredentialsError, "missing_key"),
        (E.ProviderTimeoutError, "timeout"),
        (E.AuthenticationError, "bad_key"),
        (E.PermissionDeniedError, "permission_denied"),
        (E.NotFoundError, "unknown_model"),
        (E.QuotaExceededError, "quota_exceeded"),  # before its base: not a rate limit
        (E.RateLimitError, "rate_limited"),
        (E.ServerError, "upstream_error"),
        (E.BadRequestError, "bad_request"),
        (E.UnexpectedResponseError, "unexpected_response"),
        (E.ConfigError, "config_error"),
    ]
    if isinstance(error, E.ProviderConnectionError) and error.reason == "tls":
        return "tls_error"
    for kind, reason in checks:
        if isinstance(error, kind):
            return reason
    if isinstance(error, E.ProviderConnectionError):
        return "unreachable"
    if isinstance(error, E.ProviderStatusError):
        return "upstream_error"
    return "error"
