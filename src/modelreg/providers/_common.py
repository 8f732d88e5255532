"""Helpers every adapter shares: JSON in and out, error mapping, retry-after, tool arguments.

Error mapping lives here once: an adapter only extracts what its provider's error body says
(`ErrorInfo`) and this module picks the class, the retry decision and a safe message. Secrets
of the model (API key, extra auth headers) are scrubbed from every message we build.
"""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass
from typing import Any

import orjson

from modelreg.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    ProviderStatusError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
    UpstreamDetail,
)
from modelreg.model_config import ModelConfig
from modelreg.providers._sse import NotAnEventStreamError, SSEEvent, iter_sse
from modelreg.providers.headers import get_header, parse_retry_after, request_id_from
from modelreg.providers.tool_arguments import arguments_to_raw, parse_tool_arguments
from modelreg.secret import scrub
from modelreg.types import FinishReason

__all__ = [
    "ErrorInfo",
    "arguments_to_raw",
    "describe_non_json",
    "dumps",
    "error_from_payload",
    "error_from_status",
    "error_info_from_payload",
    "extract_error_info",
    "get_header",
    "load_json",
    "map_finish_reason",
    "parse_data_url",
    "parse_retry_after",
    "parse_tool_arguments",
    "redact",
    "request_id_from",
    "secret_headers",
    "sse_events",
    "status_for_error_type",
    "unexpected",
]

_MESSAGE_LIMIT = 600  # provider messages can be whole HTML pages; keep errors readable
_UPSTREAM_MESSAGE_LIMIT = 4000  # a JSON error's own message, passed on as the upstream wrote it


# --- JSON ----------------------------------------------------------------------------------


def dumps(value: Any) -> bytes:
    return orjson.dumps(value)


def load_json(body: bytes, model: ModelConfig, what: str = "response") -> Any:
    """Parse a 2xx body, turning empty, HTML and broken JSON into UnexpectedResponseError."""
    problem = describe_non_json(body)
    if problem is None:
        try:
            return orjson.loads(body)
        except orjson.JSONDecodeError as e:
            problem = f"invalid JSON ({e})"
    raise UnexpectedResponseError(
        f"{model.provider} sent a {what} that is not JSON: {problem}",
        provider=model.provider,
        model=model.name,
    )


def describe_non_json(body: bytes) -> str | None:
    """A short description when a body is obviously not JSON (empty, HTML), else None."""
    stripped = body.strip()
    if not stripped:
        return "the body is empty"
    head = stripped[:64].lower()
    if head.startswith((b"<!doctype", b"<html", b"<?xml", b"<head", b"<body")) or (
        head.startswith(b"<") and b">" in head
    ):
        return "an HTML page came back (a proxy, gateway or login page answered?)"
    return None


# --- headers and secrets --------------------------------------------------------------------


def secret_headers(model: ModelConfig) -> dict[str, str]:
    return {name: secret.reveal() for name, secret in model.auth_headers.items()}


def redact(text: str, model: ModelConfig) -> str:
    """Remove the model's secrets from text that is about to go into an error."""
    secrets = [s.reveal() for s in model.auth_headers.values()]
    if model.api_key is not None:
        secrets.append(model.api_key.reveal())
    return scrub(text, secrets, keep_hint=True)


# --- error bodies ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ErrorInfo:
    """What a provider's error body said, in whatever shape it used."""

    message: str = ""
    type: str | None = None
    code: str | None = None
    status: int | None = None  # a status embedded in the body (TGI, vLLM, Google)
    request_id: str | None = None
    not_json: str | None = None  # set when the body was empty / HTML / not JSON
    param: str | None = None
    family: str | None = None  # "openai" or "anthropic" when the body had that API's shape


def extract_error_info(body: bytes) -> ErrorInfo:
    """Read the error shapes of §7.1: OpenAI/Azure/vLLM nested, vLLM flat, Anthropic,
    Ollama/TGI string errors, Google (possibly array-wrapped), FastAPI `detail`."""
    problem = describe_non_json(body)
    if problem is not None:
        return ErrorInfo(not_json=problem)
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        text = body.decode("utf-8", "replace").strip()
        return ErrorInfo(message=text[:_MESSAGE_LIMIT], not_json="the body is not JSON")
    return error_info_from_payload(payload)


def error_info_from_payload(payload: Any) -> ErrorInfo:
    if isinstance(payload, list) and payload:  # Gemini sometimes wraps the error in an array
        payload = payload[0]
    if not isinstance(payload, dict):
        return ErrorInfo(message=str(payload)[:_MESSAGE_LIMIT])
    request_id = _str_or_none(payload.get("request_id"))
    error = payload.get("error")
    if isinstance(error, dict):
        status = error.get("http_status_code")
        code = error.get("code")
        if status is None and isinstance(code, int):  # vLLM and Google put the status here
            status = code
        return ErrorInfo(
            message=_text(error.get("message")),
            type=_str_or_none(error.get("type") or error.get("status")),
            code=None if isinstance(code, int) else _str_or_none(code),
            status=status if isinstance(status, int) else None,
            request_id=request_id,
            param=_str_or_none(error.get("param")),
            family=_family(payload, error, code),
        )
    if isinstance(error, str):  # Ollama native, TGI / TEI
        return ErrorInfo(
            message=error,
            type=_str_or_none(payload.get("error_type")),
            request_id=request_id,
        )
    if "message" in payload:  # old vLLM: {"object": "error", "message", "type", "code"}
        code = payload.get("code")
        return ErrorInfo(
            message=_text(payload.get("message")),
            type=_str_or_none(payload.get("type")),
            code=None if isinstance(code, int) else _str_or_none(code),
            status=code if isinstance(code, int) else None,
            request_id=request_id,
        )
    if "detail" in payload:  # FastAPI-style servers
        return ErrorInfo(message=_text(payload["detail"]), request_id=request_id)
    return ErrorInfo(message=str(payload)[:_MESSAGE_LIMIT], request_id=request_id)


def _family(payload: dict[str, Any], error: dict[str, Any], code: Any) -> str | None:
    """Which API's error shape the body has: Anthropic's `{"type": "error", "error": {type,
    message}}`, OpenAI's `{"error": {message, type, param, code}}` (with a string code or
    none: vLLM and Google put a number there and are not passed on as OpenAI's)."""
    if payload.get("type") == "error" and isinstance(error.get("type"), str):
        return "anthropic"
    if "message" in error and "type" in error and not isinstance(code, int):
        return "openai"
    return None


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, str):
        return value
    return orjson.dumps(value).decode()


def _str_or_none(value: Any) -> str | None:
    return None if value is None else str(value)


# --- classification --------------------------------------------------------------------------

# error `type` / `code` strings that tell the status when the body came without one
# (mid-stream errors, 200-with-error bodies)
_STATUS_BY_TYPE = {
    "invalid_request_error": 400,
    "validation": 422,
    "authentication_error": 401,
    "invalid_api_key": 401,
    "permission_error": 403,
    "billing_error": 402,
    "not_found_error": 404,
    "model_not_found": 404,
    "request_too_large": 413,
    "rate_limit_error": 429,
    "rate_limit_exceeded": 429,
    "insufficient_quota": 429,
    "overloaded": 429,
    "overloaded_error": 529,
    "api_error": 500,
    "server_error": 500,
    "timeout_error": 504,
    "context_length_exceeded": 400,
    "content_filter": 400,
    "RESOURCE_EXHAUSTED": 429,
    "INVALID_ARGUMENT": 400,
    "UNAUTHENTICATED": 401,
    "PERMISSION_DENIED": 403,
    "NOT_FOUND": 404,
    "UNAVAILABLE": 503,
    "INTERNAL": 500,
}

_CONTEXT_LENGTH = re.compile(
    r"context[_ ]length|context window|maximum context|prompt is too long|input is too long"
    r"|too many tokens|tokens \+ `max_new_tokens` must be|exceeds the maximum number of tokens"
    r"|string_above_max_length|reduce the length of the (messages|prompt)"
    r"|must have less than \d+ tokens",  # TGI's input-length validation
    re.IGNORECASE,
)
_CONTENT_FILTER = re.compile(
    r"content[_ ]filter|content management policy|content_policy_violation"
    r"|ResponsibleAIPolicyViolation",
    re.IGNORECASE,
)
_NO_QUOTA = re.compile(
    r"insufficient_quota|billing|exceeded your current quota|credit balance", re.IGNORECASE
)


_NOT_FOUND = re.compile(r"\bnot found\b|does not exist", re.IGNORECASE)


def status_for_error_type(info: ErrorInfo, default: int = 500) -> int:
    """The status an error body stands for when no HTTP status told it (errors in a 200)."""
    if info.status is not None and 400 <= info.status <= 599:
        return info.status
    for key in (info.code, info.type):
        if key and key in _STATUS_BY_TYPE:
            return _STATUS_BY_TYPE[key]
    if _NOT_FOUND.search(info.message):  # Ollama: "model 'x' not found"
        return 404
    return default


def _class_for(status: int, info: ErrorInfo) -> type[ProviderStatusError]:
    facts = " ".join(x for x in (info.code, info.type, info.message) if x)
    if status == 401:
        return AuthenticationError
    if status == 402 or (status == 429 and _NO_QUOTA.search(facts)):
        return QuotaExceededError  # out of money, not out of breath: retrying cannot help
    if status == 403:
        return PermissionDeniedError
    if status == 404:
        return NotFoundError
    if status in (429, 529):
        return RateLimitError
    if status >= 500 or status in (408, 424):
        return ServerError
    # 400, 413, 422 and any other 4xx: the request itself was refused
    if _CONTENT_FILTER.search(facts):
        return ContentFilteredError
    if status in (400, 413, 422) and _CONTEXT_LENGTH.search(facts):
        return ContextLengthExceededError
    return BadRequestError


def error_from_status(
    status: int,
    headers: Mapping[str, str],
    info: ErrorInfo,
    model: ModelConfig,
    *,
    in_body: bool = False,
) -> ProviderStatusError:
    """The typed error for an HTTP error status, with the provider's message made safe.
    `in_body`: the error came inside a 200 (body or stream); `status` was inferred."""
    cls = _class_for(status, info)
    if info.not_json is not None and not info.message:
        detail = f"no error details: {info.not_json}"
    else:
        detail = info.message or "no error message"
    label = info.code or info.type
    what = (
        f"{model.provider} reported an error in its response"
        if in_body
        else f"{model.provider} returned HTTP {status}"
    ) + (f" ({label})" if label else "")
    error = cls(
        redact(f"{what}: {_clip(detail)}", model),
        status=status,
        provider=model.provider,
        model=model.name,
        retry_after=parse_retry_after(headers),
        request_id=info.request_id or request_id_from(headers),
        code=info.code or info.type,
    )
    error.upstream = _upstream_detail(info, headers, model)
    if cls is ContentFilteredError:
        error.retryable = False
    should_retry = get_header(headers, "x-should-retry")
    if should_retry in ("true", "false"):
        error.retryable = should_retry == "true"
    return error


# what an error relays of the upstream's headers: when to retry, and the rate-limit state
_RELAYED_HEADERS = re.compile(
    r"^(retry-after(-ms)?|x-ratelimit-[\w-]+|anthropic-ratelimit-[\w-]+)$", re.IGNORECASE
)


def _upstream_detail(
    info: ErrorInfo, headers: Mapping[str, str], model: ModelConfig
) -> UpstreamDetail | None:
    if info.family is None:
        return None

    def safe(text: str | None) -> str | None:
        # every field goes to the caller: an upstream may echo the key anywhere (even `code`)
        return None if text is None else redact(text, model)

    relayed = tuple(
        (name.lower(), redact(value, model))
        for name, value in headers.items()
        if _RELAYED_HEADERS.match(name)
    )
    return UpstreamDetail(
        family=info.family,
        type=safe(info.type),
        code=safe(info.code),
        param=safe(info.param),
        message=redact(info.message[:_UPSTREAM_MESSAGE_LIMIT], model),
        headers=relayed,
    )


def error_from_payload(
    payload: Any,
    model: ModelConfig,
    *,
    headers: Mapping[str, str] | None = None,
    default_status: int = 500,
) -> ProviderStatusError:
    """An error that arrived inside a 200 (non-streamed body or a stream event)."""
    info = error_info_from_payload(payload)
    status = status_for_error_type(info, default_status)
    return error_from_status(status, headers or {}, info, model, in_body=True)


def _clip(text: str) -> str:
    text = text.strip()
    return text if len(text) <= _MESSAGE_LIMIT else text[:_MESSAGE_LIMIT] + "…"


# --- tool calls and finish reasons -----------------------------------------------------------


def map_finish_reason(
    raw: str | None, table: Mapping[str, FinishReason], *, has_tool_calls: bool
) -> FinishReason:
    """Normalise a provider's finish reason; `stop` with tool calls means `tool_calls`."""
    reason: FinishReason = table.get(raw, "other") if raw is not None else "stop"
    if reason == "stop" and has_tool_calls:
        return "tool_calls"
    return reason


# --- images -----------------------------------------------------------------------------------

_DATA_URL = re.compile(r"^data:(?P<type>[\w.+-]+/[\w.+-]+)?(?P<params>(;[^;,]*)*?);base64,", re.I)


def parse_data_url(url: str) -> tuple[str, str] | None:
    """(media type, base64 data) of a base64 `data:` URL, or None for any other URL."""
    match = _DATA_URL.match(url)
    if match is None:
        return None
    return (match.group("type") or "application/octet-stream"), url[match.end() :]


async def sse_events(chunks: AsyncIterator[bytes], model: ModelConfig) -> AsyncIterator[SSEEvent]:
    """`iter_sse` for adapters: a body that turns out not to be an event stream becomes the
    typed error its JSON says (a 200 carrying an error), or a clear UnexpectedResponseError."""
    try:
        async for event in iter_sse(chunks, provider=model.provider, model=model.name):
            yield event
    except NotAnEventStreamError as e:
        try:
            payload = orjson.loads(e.body)
        except orjson.JSONDecodeError:
            payload = None
        if isinstance(payload, dict | list) and error_info_from_payload(payload).message:
            raise error_from_payload(payload, model) from e
        what = describe_non_json(e.body) or "text that is neither SSE nor a JSON error"
        raise unexpected(model, f"{model.provider} sent no event stream: {what}") from e


def unexpected(model: ModelConfig, message: str) -> UnexpectedResponseError:
    return UnexpectedResponseError(
        redact(message, model), provider=model.provider, model=model.name
    )
