"""Shared error mapping, retry-after parsing, secret scrubbing, tool-argument parsing."""

from __future__ import annotations

import email.utils

import orjson
import pytest

from modelreg.errors import (
    AuthenticationError,
    BadRequestError,
    ContentFilteredError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    QuotaExceededError,
    RateLimitError,
    ServerError,
    UnexpectedResponseError,
)
from modelreg.providers._common import (
    error_from_payload,
    error_from_status,
    extract_error_info,
    load_json,
    map_finish_reason,
    parse_data_url,
    parse_retry_after,
    parse_tool_arguments,
)
from modelreg.secret import Secret
from modelreg.types import FinishReason
from tests.providers._helpers import API_KEY, make_model

MODEL = make_model(auth_headers={"X-Extra-Auth": Secret("extra-header-secret-9999")})


def test_retry_after_ms_wins_over_seconds() -> None:
    assert parse_retry_after({"retry-after-ms": "1500", "retry-after": "9"}) == 1.5


def test_retry_after_seconds_float_and_case_insensitive_names() -> None:
    assert parse_retry_after({"Retry-After": "2.5"}) == 2.5


def test_retry_after_http_date() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 30, usegmt=True)
    assert parse_retry_after({"retry-after": date}, now=now) == pytest.approx(30)
    assert parse_retry_after({"retry-after": date}, now=now + 60) == 0.0


@pytest.mark.parametrize("value", ["soon", "", "Mon, 99 Foo"])
def test_unreadable_retry_after_is_none(value: str) -> None:
    assert parse_retry_after({"retry-after": value}) is None


def test_absent_retry_after_is_none() -> None:
    assert parse_retry_after({}) is None


def _oai(message: str, **fields: str) -> bytes:
    return orjson.dumps({"error": {"message": message, **fields}})


def _anthropic(kind: str, message: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def _tgi(message: str) -> bytes:
    return orjson.dumps({"error": message, "error_type": "validation"})


TooLong, Filtered = ContextLengthExceededError, ContentFilteredError
TGI_TOO_LONG = "Input validation error: `inputs` tokens + `max_new_tokens` must be <= 4096"
OPENAI_TOO_LONG = "This model's maximum context length is 8192 tokens"
ANTHROPIC_TOO_LONG = "prompt is too long: 210000 tokens > 200000 maximum"


@pytest.mark.parametrize(
    ("status", "body", "cls", "retryable"),
    [
        (401, _oai("bad key", type="invalid_request_error"), AuthenticationError, False),
        (403, _oai("region", type="permission"), PermissionDeniedError, False),
        (402, _anthropic("billing_error", "pay"), QuotaExceededError, False),
        (404, b'{"error":"model \'x\' not found"}', NotFoundError, False),
        (429, _oai("slow down", type="requests"), RateLimitError, True),
        (429, _oai("exceeded your quota", code="insufficient_quota"), QuotaExceededError, False),
        (529, _anthropic("overloaded_error", "Overloaded"), RateLimitError, True),
        (400, _oai("bad", code="invalid_value"), BadRequestError, False),
        (413, _anthropic("request_too_large", "big"), BadRequestError, False),
        (422, _tgi(TGI_TOO_LONG), TooLong, False),
        (400, _oai(OPENAI_TOO_LONG, code="context_length_exceeded"), TooLong, False),
        (400, _anthropic("invalid_request_error", ANTHROPIC_TOO_LONG), TooLong, False),
        (400, _oai("policy", code="content_filter"), Filtered, False),
        (500, _oai("oops", type="server_error"), ServerError, True),
        (503, b"", ServerError, True),
        (501, b'{"error":"nope"}', ServerError, False),
        (424, b'{"error":"generation failed","error_type":"generation"}', ServerError, False),
    ],
)  # fmt: skip
def test_status_and_body_pick_the_class(
    status: int, body: bytes, cls: type[Exception], retryable: bool
) -> None:
    error = error_from_status(status, {}, extract_error_info(body), MODEL)
    assert type(error) is cls
    assert error.status == status
    assert error.retryable is retryable
    assert error.provider == "openai"
    assert error.model == "my-model"


def test_message_request_id_retry_after_and_code_are_carried() -> None:
    body = (
        b'{"error":{"message":"Rate limit reached","type":"requests","code":"rate_limit_exceeded"}}'
    )
    headers = {"x-request-id": "req_123", "retry-after": "7"}
    error = error_from_status(429, headers, extract_error_info(body), MODEL)
    assert error.message == "openai returned HTTP 429 (rate_limit_exceeded): Rate limit reached"
    assert (error.request_id, error.retry_after, error.code) == (
        "req_123",
        7.0,
        "rate_limit_exceeded",
    )


def test_anthropic_request_id_from_the_body() -> None:
    body = orjson.dumps(
        {"type": "error", "error": {"type": "not_found_error", "message": "x"}, "request_id": "r1"}
    )
    error = error_from_status(404, {}, extract_error_info(body), MODEL)
    assert error.request_id == "r1"


def test_x_should_retry_overrides_the_status_decision() -> None:
    info = extract_error_info(b'{"error":{"message":"conflict"}}')
    assert error_from_status(400, {"x-should-retry": "true"}, info, MODEL).retryable
    assert not error_from_status(500, {"x-should-retry": "false"}, info, MODEL).retryable


def test_secrets_never_reach_the_message() -> None:
    body = (
        b'{"error":{"message":"Incorrect API key provided: ' + API_KEY.encode() + b" and "
        b'extra-header-secret-9999","code":"invalid_api_key"}}'
    )
    error = error_from_status(401, {}, extract_error_info(body), MODEL)
    assert API_KEY not in str(error)
    assert "extra-header-secret-9999" not in str(error)
    assert "****abcd" in str(error)  # the 4-char hint is all that is left


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (b"<html><head><title>502 Bad Gateway</title></head></html>", "HTML page"),
        (b"<!DOCTYPE html><html>", "HTML page"),
        (b"", "body is empty"),
        (b"   \n", "body is empty"),
        (b"upstream connect error", "upstream connect error"),
    ],
)
def test_non_json_error_bodies_give_a_clear_message(body: bytes, expected: str) -> None:
    error = error_from_status(502, {}, extract_error_info(body), MODEL)
    assert isinstance(error, ServerError)
    assert expected in error.message


def test_long_provider_messages_are_clipped() -> None:
    body = b'{"error":{"message":"' + b"x" * 5000 + b'"}}'
    error = error_from_status(400, {}, extract_error_info(body), MODEL)
    assert len(error.message) < 700


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b'[{"error":{"code":400,"message":"bad arg","status":"INVALID_ARGUMENT"}}]', "bad arg"),
        (
            b'{"object":"error","message":"old vllm","type":"BadRequestError","code":400}',
            "old vllm",
        ),
        (b'{"detail":"fastapi says no"}', "fastapi says no"),
        (b'{"error":{"message":"m","http_status_code":422}}', "m"),
    ],
)
def test_other_error_shapes(body: bytes, message: str) -> None:
    info = extract_error_info(body)
    assert info.message == message


def test_error_inside_a_200_gets_its_status_from_the_body() -> None:
    tgi = error_from_payload({"error": {"message": "bad", "http_status_code": 422}}, MODEL)
    assert (type(tgi), tgi.status) == (BadRequestError, 422)
    anthropic = error_from_payload(
        {"type": "error", "error": {"type": "overloaded_error", "message": "Overloaded"}}, MODEL
    )
    assert (type(anthropic), anthropic.status, anthropic.retryable) == (RateLimitError, 529, True)
    unknown = error_from_payload({"error": "something broke"}, MODEL)
    assert (type(unknown), unknown.status) == (ServerError, 500)


@pytest.mark.parametrize(
    ("body", "problem"),
    [(b"", "empty"), (b"<html>hi</html>", "HTML"), (b'{"a":', "invalid JSON")],
)
def test_load_json_refuses_non_json(body: bytes, problem: str) -> None:
    with pytest.raises(UnexpectedResponseError, match=problem):
        load_json(body, MODEL)


def test_parse_tool_arguments() -> None:
    assert parse_tool_arguments('{"a": [1]}') == ({"a": [1]}, None)
    assert parse_tool_arguments("  ") == ({}, None)
    args, error = parse_tool_arguments('{"a": ')
    assert args == {}
    assert error is not None
    assert error.startswith("arguments are not valid JSON")
    assert parse_tool_arguments('"{}"') == ({}, "arguments are a JSON str, not an object")


def test_finish_reason_mapping_rules() -> None:
    table: dict[str, FinishReason] = {"stop": "stop", "length": "length"}
    assert map_finish_reason("stop", table, has_tool_calls=True) == "tool_calls"
    assert map_finish_reason("length", table, has_tool_calls=True) == "length"
    assert map_finish_reason("weird", table, has_tool_calls=False) == "other"


def test_parse_data_url() -> None:
    assert parse_data_url("data:image/png;base64,iVBOR") == ("image/png", "iVBOR")
    assert parse_data_url("data:image/jpeg;name=x.jpg;base64,/9j/") == ("image/jpeg", "/9j/")
    assert parse_data_url("https://example.invalid/cat.png") is None
