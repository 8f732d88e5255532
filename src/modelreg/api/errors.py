"""Turn every error into a response in the shape of the API surface it happened on.

Three surfaces, one dispatcher (`render_error`), chosen by path:

- `/v1/messages…`  → Anthropic's shape (`modelreg.gateway.errors.anthropic_error_response`)
- other `/v1/…`    → OpenAI's shape (`modelreg.gateway.errors.openai_error_response`)
- everything else  → ours: `{"error": {"type": ..., "message": ..., "field": ...}}`

Our mapping of the error tree (modelreg.errors) to status codes:

```
UnknownModelError                      404 not_found      (also for others' objects)
AccessDeniedError                      403 permission_denied (raised only where the object
                                           is visible anyway, e.g. a user editing a global
                                           model; invisible objects are UnknownModelError)
ValidationFailedError(field)           422 validation_error
MissingCredentialsError                422 missing_credentials
ConfigError (other)                    400 config_error
RateLimitedError                       429 rate_limited   + Retry-After
BudgetExceededError                    429 budget_exceeded + Retry-After (names the budget)
DatabaseUnavailableError               503 database_unavailable + Retry-After (an HTML page
                                           for browser pages)
RateLimiterUnavailableError            503 rate_limiter_unavailable + Retry-After
UnsafeURLError                         422 unsafe_url     (field: base_url)
PoolTimeoutError                       503 upstream_connections_exhausted + Retry-After (no
                                           free upstream connection of ours in time)
ProviderTimeoutError                   504 upstream_timeout
ProviderConnectionError, CircuitOpen   502/503 upstream_unavailable
QuotaExceededError                     502 upstream_quota_exceeded (the provider account is
                                           out of credit: not a rate limit)
RateLimitError (upstream)              502 upstream_rate_limited + the upstream's Retry-After
ProviderStatusError                    502 upstream_error
ProviderError (other)                  502 upstream_error
ApiError / HTTPException               its own status
RequestValidationError                 422 validation_error (field = the offending location)
anything else                          500 internal_error (message never shows internals)
```
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Sequence
from typing import Any, Final

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import HTMLResponse, JSONResponse, Response
from pydantic import BaseModel, Field
from starlette.exceptions import HTTPException

from modelreg import errors as e
from modelreg.gateway.errors import anthropic_error_response, openai_error_response
from modelreg.gateway.request_ids import new_request_id, request_id_header

__all__ = [
    "ERROR_RESPONSES",
    "ApiError",
    "ErrorBody",
    "ErrorDetail",
    "error_response",
    "error_responses",
    "install_error_handlers",
    "render_error",
    "status_for",
    "unavailable_page",
]

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    type: str = Field(description="Stable machine-readable error kind, e.g. not_found")
    message: str = Field(description="Human-readable explanation, safe to show")
    field: str | None = Field(default=None, description="The offending input field, if any")


class ErrorBody(BaseModel):
    """The error shape of every /api and ops endpoint."""

    error: ErrorDetail


def _error_doc(description: str) -> dict[str, Any]:
    return {"model": ErrorBody, "description": description}


# Reused by the routers so /openapi.json documents every error an endpoint can return.
ERROR_RESPONSES: Final[dict[int | str, dict[str, Any]]] = {
    400: _error_doc("Malformed request body (invalid JSON or UTF-8)"),
    401: _error_doc("Missing or invalid credentials"),
    403: _error_doc("Authenticated but not allowed (admin only, or CSRF check failed)"),
    404: _error_doc("Not found, or not visible to the caller"),
    409: _error_doc("Refused: it would lock you out or leave no administrator"),
    413: _error_doc("Request body larger than the configured limit"),
    422: _error_doc("Input failed validation; `field` names the offending field"),
    429: _error_doc("Rate limit exceeded; see the Retry-After header"),
}


def error_responses(*codes: int) -> dict[int | str, dict[str, Any]]:
    """The `responses=` entry of a route that may answer with these error codes."""
    return {code: ERROR_RESPONSES[code] for code in codes}


_HTTP_TYPES: Final[dict[int, str]] = {
    400: "bad_request",
    401: "authentication_error",
    403: "permission_denied",
    404: "not_found",
    405: "method_not_allowed",
    406: "not_acceptable",
    409: "conflict",
    413: "request_too_large",
    415: "unsupported_media_type",
    422: "validation_error",
    429: "rate_limited",
}


class ApiError(HTTPException):
    """An HTTP error raised by our own layers (auth, CSRF, size cap).

    A subclass of Starlette's HTTPException so the gateway's error renderers, which know
    HTTPException, map it by its status code without knowing this class.
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str | None = None,
        field: str | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(status_code=status_code, detail=message, headers=headers)
        self.type = type or _HTTP_TYPES.get(status_code, "error")
        self.field = field
        self.message = message


def error_response(
    status: int,
    type: str,
    message: str,
    *,
    field: str | None = None,
    headers: dict[str, str] | None = None,
) -> JSONResponse:
    body = {"error": {"type": type, "message": message, "field": field}}
    return JSONResponse(body, status_code=status, headers=headers)


def _retry_after_header(seconds: float | None) -> dict[str, str]:
    if seconds is None:
        return {}
    return {"Retry-After": str(max(1, math.ceil(seconds)))}


def status_for(exc: e.ModelregError) -> tuple[int, str]:
    """Status code and error type of one of our errors (our surface)."""
    match exc:
        case e.UnknownModelError():
            return 404, "not_found"
        case e.AccessDeniedError():
            return 403, "permission_denied"
        case e.ValidationFailedError():
            return 422, "validation_error"
        case e.MissingCredentialsError():
            return 422, "missing_credentials"
        case e.EncryptionKeyError():
            return 500, "encryption_error"
        case e.ConfigError():
            return 400, "config_error"
        case e.BudgetExceededError():
            return 429, "budget_exceeded"
        case e.LimitExceededError():
            return 429, "rate_limited"
        case e.DatabaseUnavailableError():
            return 503, "database_unavailable"
        case e.RateLimiterUnavailableError():
            return 503, "rate_limiter_unavailable"
        case e.ServiceUnavailableError():
            return 503, "service_unavailable"
        case e.UnsafeURLError():
            return 422, "unsafe_url"
        case e.PoolTimeoutError():
            return 503, "upstream_connections_exhausted"
        case e.ProviderTimeoutError():
            return 504, "upstream_timeout"
        case e.CircuitOpenError():
            return 503, "upstream_unavailable"
        case e.ProviderConnectionError():
            return 502, "upstream_unavailable"
        case e.QuotaExceededError():
            return 502, "upstream_quota_exceeded"
        case e.RateLimitError():
            return 502, "upstream_rate_limited"
        case e.ProviderStatusError():
            return 502, "upstream_error"
        case _:
            return 502, "upstream_error"


def _our_response(exc: Exception) -> JSONResponse:
    if isinstance(exc, ApiError):
        return error_response(
            exc.status_code,
            exc.type,
            exc.message,
            field=exc.field,
            headers=dict(exc.headers) if exc.headers else None,
        )
    if isinstance(exc, HTTPException):
        kind = _HTTP_TYPES.get(exc.status_code, "error")
        message = str(exc.detail)
        if exc.status_code == 400 and message == "There was an error parsing the body":
            kind, message = "invalid_body", "The request body is not valid UTF-8 JSON"
        headers = dict(exc.headers) if exc.headers else None
        return error_response(exc.status_code, kind, message, headers=headers)
    if isinstance(exc, RequestValidationError):
        return _validation_response(exc)
    if isinstance(exc, e.ModelregError):
        status, kind = status_for(exc)
        field = "base_url" if isinstance(exc, e.UnsafeURLError) else getattr(exc, "field", None)
        limit_headers = None
        if isinstance(
            exc,
            e.LimitExceededError
            | e.ServiceUnavailableError
            | e.RateLimitError
            | e.PoolTimeoutError,
        ):
            limit_headers = _retry_after_header(exc.retry_after) or None
        message = exc.message if status < 500 or status >= 502 else "Internal server error"
        return error_response(
            status,
            kind,
            message,
            field=field,
            headers=limit_headers,
        )
    log.exception("unhandled error", exc_info=exc)
    return error_response(500, "internal_error", "Internal server error")


def _closest_branch(problems: Sequence[Any]) -> list[Any]:
    """A body that may be one of several models (`A | B`) gets every branch's problems, each
    located under the model's name. The branch with the fewest is the one the caller meant:
    report its problems alone, located as if it were the only model."""
    branches: dict[str, list[Any]] = {}
    for problem in problems:
        loc = list(problem.get("loc", ()))
        if len(loc) < 2 or loc[0] != "body" or not str(loc[1])[:1].isupper():
            return list(problems)
        branches.setdefault(str(loc[1]), []).append(problem)
    if len(branches) < 2:
        return list(problems)
    best = min(branches.values(), key=len)
    return [{**p, "loc": ("body", *tuple(p["loc"])[2:])} for p in best]


def _validation_response(exc: RequestValidationError) -> JSONResponse:
    problems = _closest_branch(exc.errors())
    if not problems:
        return error_response(422, "validation_error", "Invalid request")
    first = problems[0]
    if first.get("type") == "json_invalid":
        ctx = first.get("ctx") or {}
        return error_response(
            400, "invalid_json", f"Malformed JSON body: {ctx.get('error', 'decode error')}"
        )
    # loc is ("body", "field", ...) or ("query", "limit"); the first part says where, not what
    loc = [str(part) for part in first.get("loc", ()) if part not in ("body", "query", "path")]
    field = ".".join(loc) or None
    message = str(first.get("msg", "Invalid value"))
    if field:
        message = f"{field}: {message}"
    if len(problems) > 1:
        message += f" (and {len(problems) - 1} more problem(s))"
    return error_response(422, "validation_error", message, field=field)


Renderer = Callable[[Exception], Response]


def renderer_for_path(path: str) -> Renderer:
    if not path.startswith("/v1/"):
        return _our_response
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        return anthropic_error_response
    return openai_error_response


def render_error(
    path: str, exc: Exception, *, request_id: str | None = None, anthropic_version: bool = False
) -> Response:
    """The response for `exc` in the shape of the surface that owns `path`. On `/v1/*` it
    carries the request's id (`request_id`, else a new one) in the header that surface's SDK
    reads, and the log line of a server-side failure names the same id."""
    header = request_id_header(path, anthropic_version=anthropic_version)
    if header is None:
        return _our_response(exc)
    request_id = request_id or new_request_id()
    if path == "/v1/messages" or path.startswith("/v1/messages/"):
        response = anthropic_error_response(exc, request_id)
    else:
        response = openai_error_response(exc, request_id)
    response.headers[header] = request_id
    return response


_UNAVAILABLE_PAGE: Final = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Temporarily unavailable - modelreg</title>
<meta http-equiv="refresh" content="{seconds}"></head>
<body><h1>Temporarily unavailable</h1>
<p>modelreg cannot reach a service it needs. This page reloads in {seconds} seconds.</p>
</body></html>
"""


def _is_page(request: Request) -> bool:
    path = request.url.path
    if path.startswith(("/api/", "/v1/", "/static/")) or path in ("/readyz", "/metrics"):
        return False
    return "text/html" in request.headers.get("accept", "")


def unavailable_page(exc: e.ServiceUnavailableError) -> HTMLResponse:
    """A browser page's 503: a page that retries by itself, not a JSON body."""
    headers = _retry_after_header(exc.retry_after)
    body = _UNAVAILABLE_PAGE.format(seconds=headers["Retry-After"])
    return HTMLResponse(body, status_code=503, headers=headers)


async def _handle(request: Request, exc: Exception) -> Response:
    if isinstance(exc, e.ServiceUnavailableError) and _is_page(request):
        return unavailable_page(exc)
    # the /v1 routes made the id before anything could fail (api/routes/_request_id.py)
    request_id = getattr(request.state, "request_id", None)
    return render_error(
        request.url.path,
        exc,
        request_id=request_id if isinstance(request_id, str) else None,
        anthropic_version="anthropic-version" in request.headers,
    )


def install_error_handlers(app: FastAPI) -> None:
    app.add_exception_handler(HTTPException, _handle)
    app.add_exception_handler(RequestValidationError, _handle)
    app.add_exception_handler(e.ModelregError, _handle)
    # catches the rest so a bug answers in the API's shape; ServerErrorMiddleware still logs
    app.add_exception_handler(Exception, _handle)
