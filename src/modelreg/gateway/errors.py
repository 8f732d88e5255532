"""The error tree in the OpenAI and the Anthropic wire shapes.

One table maps every exception that can reach a `/v1/*` route to a status code and an error
kind; two small renderers put that into each API's own body, so the official SDKs raise their
usual classes (404 → NotFoundError, 401 → AuthenticationError, 429 → RateLimitError, ...).

Choices (documented in docs/api.md):
- The caller's own problems keep their status: unknown model 404, bad token 401, our rate limit
  429 with `Retry-After`, invalid request 400.
- Upstream problems are *our* upstream's, not the caller's: an upstream 401/403/404 (a stored key
  that is wrong, a model id the provider does not know) becomes 502, so an SDK does not tell the
  user that *their* token is bad. Upstream 429 stays 429 (with its Retry-After), upstream 400
  stays 400 (the caller's prompt was refused, e.g. context length), upstream 5xx becomes 502
  (503 when the upstream said 503 or the circuit is open), a timeout 504. No free upstream
  connection of ours within the connect timeout is 503 "overloaded" with Retry-After (code
  `upstream_connections_exhausted`): our own limit, which the caller may retry. Anthropic's
  "overloaded" 529 passes as 529 on the Anthropic surface and as 503 on the OpenAI one.
- What the upstream said passes on: its message as it wrote it (secrets masked), and on the
  surface of its own API family its error `type`, `code` and `param` too, and its retry and
  rate-limit headers.
- Quota is not throttling: an account out of credit (OpenAI's 429 `insufficient_quota`,
  Anthropic's 402 `billing_error`, our spent budget) is answered in each surface's own words
  for it: 429 `insufficient_quota` on the OpenAI surface, 402 `billing_error` on Anthropic's.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass
from typing import Any

import orjson
from fastapi.exceptions import RequestValidationError
from starlette.exceptions import HTTPException
from starlette.responses import Response

from modelreg import errors as e

__all__ = [
    "ErrorInfo",
    "GatewayRequestError",
    "anthropic_error_body",
    "anthropic_error_response",
    "classify",
    "openai_error_body",
    "openai_error_response",
]

log = logging.getLogger(__name__)


class GatewayRequestError(HTTPException):
    """A request the gateway refuses before any upstream call (bad JSON, wrong types, n>1).
    An HTTPException, so the app's HTTPException handler renders it (in the path's shape)."""

    def __init__(
        self,
        message: str,
        *,
        status: int = 400,
        param: str | None = None,
        code: str | None = None,
    ) -> None:
        super().__init__(status_code=status, detail=message)
        self.message = message
        self.status = status
        self.param = param
        self.code = code


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    status: int
    kind: str  # one of the KINDS below; each renderer names it in its own vocabulary
    message: str
    code: str | None = None
    param: str | None = None
    retry_after: float | None = None
    # the upstream's own error: its type, code and param go to a caller of the same family
    upstream: e.UpstreamDetail | None = None


# our kind → (OpenAI `type`, Anthropic `type`)
_KINDS: dict[str, tuple[str, str]] = {
    "invalid_request": ("invalid_request_error", "invalid_request_error"),
    "authentication": ("authentication_error", "authentication_error"),
    "permission": ("permission_error", "permission_error"),
    "not_found": ("invalid_request_error", "not_found_error"),
    "too_large": ("invalid_request_error", "request_too_large"),
    "rate_limit": ("rate_limit_error", "rate_limit_error"),
    # out of credit: each API's own word for it (OpenAI answers 429, Anthropic 402)
    "quota": ("insufficient_quota", "billing_error"),
    "upstream": ("api_error", "api_error"),
    "overloaded": ("server_error", "overloaded_error"),
    "timeout": ("timeout_error", "api_error"),
    "server": ("server_error", "api_error"),
    # our own database or Redis is down: both SDKs retry a 503 after its Retry-After
    "unavailable": ("server_error", "api_error"),
}

_HTTP_KINDS = {
    400: "invalid_request",
    401: "authentication",
    403: "permission",
    404: "not_found",
    405: "invalid_request",
    413: "too_large",
    415: "invalid_request",
    422: "invalid_request",
    429: "rate_limit",
}


def _validation_message(exc: RequestValidationError) -> tuple[str, str | None]:
    errors = exc.errors()
    if not errors:
        return "Invalid request body.", None
    first = errors[0]
    loc = [str(p) for p in first.get("loc", ()) if p != "body"]
    param = ".".join(loc) or None
    msg = str(first.get("msg", "invalid value"))
    return (f"{param}: {msg}" if param else msg), param


def _provider_status(exc: e.ProviderStatusError) -> ErrorInfo:
    upstream = exc.upstream
    if isinstance(exc, e.AuthenticationError | e.PermissionDeniedError | e.NotFoundError):
        # the registry's stored credentials or model id are wrong: not the caller's token, and
        # not the upstream's words for it either (they would blame the caller's key)
        ours = f"Upstream {exc.provider or 'provider'} error: {exc.message}"
        return ErrorInfo(502, "upstream", ours, code="upstream_configuration_error")
    # the upstream's own words where its body had them; else ours, which say who failed
    message = upstream.message if upstream is not None and upstream.message else None
    said = message or f"Upstream {exc.provider or 'provider'} error: {exc.message}"
    retry_after = exc.retry_after
    if isinstance(exc, e.BadRequestError):
        code = (
            "context_length_exceeded"
            if isinstance(exc, e.ContextLengthExceededError)
            else ("content_filter" if isinstance(exc, e.ContentFilteredError) else exc.code)
        )
        status = 413 if exc.status == 413 else 400
        kind = "invalid_request" if status == 400 else "too_large"
        param = upstream.param if upstream is not None else None
        return ErrorInfo(
            status, kind, message or exc.message, code=code, param=param, upstream=upstream
        )
    if isinstance(exc, e.QuotaExceededError):
        return ErrorInfo(429, "quota", said, "insufficient_quota", None, retry_after, upstream)
    if exc.status == 529:
        return ErrorInfo(529, "overloaded", said, "overloaded", None, retry_after, upstream)
    if isinstance(exc, e.RateLimitError):
        code = "upstream_rate_limited"
        return ErrorInfo(429, "rate_limit", said, code, None, retry_after, upstream)
    if exc.status == 503:
        code = "upstream_unavailable"
        return ErrorInfo(503, "overloaded", said, code, None, retry_after, upstream)
    if exc.status == 504:
        return ErrorInfo(504, "timeout", said, "upstream_timeout", upstream=upstream)
    return ErrorInfo(502, "upstream", said, "upstream_error", upstream=upstream)


def classify(exc: BaseException, request_id: str | None = None) -> ErrorInfo:
    """Status, kind and a safe message for any exception raised on a gateway path
    (`request_id` names the request in the log line of an unexpected error)."""
    if isinstance(exc, GatewayRequestError):
        kind = _HTTP_KINDS.get(exc.status, "invalid_request")
        return ErrorInfo(exc.status, kind, exc.message, code=exc.code, param=exc.param)
    if isinstance(exc, RequestValidationError):
        message, param = _validation_message(exc)
        return ErrorInfo(400, "invalid_request", message, param=param)
    if isinstance(exc, HTTPException):
        kind = _HTTP_KINDS.get(
            exc.status_code, "server" if exc.status_code >= 500 else "invalid_request"
        )
        detail = exc.detail if isinstance(exc.detail, str) else "Request failed."
        return ErrorInfo(exc.status_code, kind, detail)
    if isinstance(exc, e.UnknownModelError):
        return ErrorInfo(404, "not_found", exc.message, code="model_not_found", param="model")
    if isinstance(exc, e.AccessDeniedError):
        return ErrorInfo(403, "permission", exc.message)
    if isinstance(exc, e.MissingCredentialsError):
        return ErrorInfo(
            400, "invalid_request", exc.message, code="model_missing_credentials", param="model"
        )
    if isinstance(exc, e.ValidationFailedError):
        return ErrorInfo(400, "invalid_request", exc.message, param=exc.field)
    if isinstance(exc, e.EncryptionKeyError):
        return ErrorInfo(500, "server", "The model's stored credentials cannot be read.")
    if isinstance(exc, e.ConfigError):
        return ErrorInfo(400, "invalid_request", exc.message)
    if isinstance(exc, e.BudgetExceededError):  # spent, as an upstream quota: not throttling
        return ErrorInfo(
            429, "quota", exc.message, code="insufficient_quota", retry_after=exc.retry_after
        )
    if isinstance(exc, e.LimitExceededError):
        return ErrorInfo(
            429, "rate_limit", exc.message, code="rate_limit_exceeded", retry_after=exc.retry_after
        )
    if isinstance(exc, e.ServiceUnavailableError):
        code = (
            "database_unavailable"
            if isinstance(exc, e.DatabaseUnavailableError)
            else "rate_limiter_unavailable"
        )
        return ErrorInfo(503, "unavailable", exc.message, code=code, retry_after=exc.retry_after)
    if isinstance(exc, e.UnsafeURLError):
        return ErrorInfo(400, "invalid_request", exc.message, code="unsafe_base_url")
    if isinstance(exc, e.PoolTimeoutError):
        return ErrorInfo(
            503,
            "overloaded",
            exc.message,
            code="upstream_connections_exhausted",
            retry_after=exc.retry_after,
        )
    if isinstance(exc, e.ProviderTimeoutError):
        return ErrorInfo(
            504, "timeout", f"Upstream timed out: {exc.message}", code="upstream_timeout"
        )
    if isinstance(exc, e.CircuitOpenError):
        return ErrorInfo(503, "overloaded", exc.message, code="upstream_unavailable")
    if isinstance(exc, e.ProviderStatusError):
        return _provider_status(exc)
    if isinstance(exc, e.StreamInterruptedError) and isinstance(
        exc.__cause__, e.ProviderStatusError
    ):  # an error event mid-stream (e.g. Anthropic's overloaded_error): the upstream's words
        return _provider_status(exc.__cause__)
    if isinstance(exc, e.ProviderError):
        return ErrorInfo(502, "upstream", f"Upstream error: {exc.message}", code="upstream_error")
    log.exception("unhandled error on a gateway path (request_id=%s)", request_id, exc_info=exc)
    return ErrorInfo(500, "server", "Internal server error.")


def _same_family(info: ErrorInfo, family: str) -> e.UpstreamDetail | None:
    return info.upstream if info.upstream is not None and info.upstream.family == family else None


def _headers(info: ErrorInfo, family: str) -> dict[str, str]:
    """Retry-After (the upstream's own, else ours), and the upstream's rate-limit headers when
    the caller speaks the upstream's API (its SDK reads them by those names)."""
    headers: dict[str, str] = {}
    if info.upstream is not None:
        prefix = "x-ratelimit-" if family == "openai" else "anthropic-ratelimit-"
        for name, value in info.upstream.headers:
            if name.startswith("retry-after") or (
                info.upstream.family == family and name.startswith(prefix)
            ):
                headers[name] = value
    if info.retry_after is not None and "retry-after" not in headers:
        headers["retry-after"] = str(max(1, math.ceil(info.retry_after)))
    if info.kind == "quota" and info.upstream is None:
        # our spent budget: both SDKs would retry a 429 (OpenAI) by default; this header,
        # which both read, says a retry cannot help before the budget is raised
        headers["x-should-retry"] = "false"
    return headers


def openai_error_body(info: ErrorInfo) -> dict[str, Any]:
    # OpenAI reports a 503/529 as "server_error"; our 529 is shown as 503 on this surface
    same = _same_family(info, "openai")
    if same is not None:  # the upstream's error as it was, for `e.code`, `e.param` checks
        return {
            "error": {
                "message": info.message,
                "type": same.type or _KINDS[info.kind][0],
                "param": same.param,
                "code": same.code,
            }
        }
    return {
        "error": {
            "message": info.message,
            "type": _KINDS[info.kind][0],
            "param": info.param,
            "code": info.code,
        }
    }


def anthropic_error_body(info: ErrorInfo, request_id: str | None = None) -> dict[str, Any]:
    same = _same_family(info, "anthropic")
    kind = same.type if same is not None and same.type else _KINDS[info.kind][1]
    body: dict[str, Any] = {"type": "error", "error": {"type": kind, "message": info.message}}
    if request_id is not None:  # Anthropic repeats its request-id header in the body
        body["request_id"] = request_id
    return body


def _log_failure(exc: BaseException, info: ErrorInfo, request_id: str | None) -> None:
    """One line for an upstream failure answered with a 5xx: without it the request id a
    caller reports would match nothing in the log. Unexpected errors are logged by `classify`
    (with their traceback); 4xx are the caller's and stay out of the log."""
    if isinstance(exc, e.ServiceUnavailableError):
        return  # logged where it happened, once per outage, not once per request
    if info.status >= 500 and isinstance(exc, e.ModelregError):
        model = getattr(exc, "model", None) or "-"
        log.warning(
            "gateway answered %d (%s, model %s) request_id=%s",
            info.status,
            type(exc).__name__,
            model,
            request_id,
        )


def openai_error_response(exc: BaseException, request_id: str | None = None) -> Response:
    info = classify(exc, request_id)
    _log_failure(exc, info, request_id)
    status = 503 if info.status == 529 else info.status
    return Response(
        orjson.dumps(openai_error_body(info)),
        status_code=status,
        media_type="application/json",
        headers=_headers(info, "openai"),
    )


def anthropic_error_response(exc: BaseException, request_id: str | None = None) -> Response:
    info = classify(exc, request_id)
    _log_failure(exc, info, request_id)
    status = 402 if info.kind == "quota" else info.status  # Anthropic's billing_error status
    return Response(
        orjson.dumps(anthropic_error_body(info, request_id)),
        status_code=status,
        media_type="application/json",
        headers=_headers(info, "anthropic"),
    )
