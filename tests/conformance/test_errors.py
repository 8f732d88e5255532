"""Upstream errors keep their meaning (issue 16, item 5): on the surface of the upstream's own
API family the caller's SDK sees the upstream's error `type`, `code`, `param` and message as
the upstream wrote them (no prefix of ours), and its retry / rate-limit headers; on the other
family's surface the closest error that SDK knows. Quota is never confused with throttling:
429 `insufficient_quota` on the OpenAI surface, 402 `billing_error` on Anthropic's.

Every case runs through the pass-through (OpenAI SDK → OpenAI upstream, streamed and not) and
the translated paths, on the fast path and the routed app (live_server)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import anthropic
import openai
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply
from tests.fixtures.server import LiveServer

QUOTA = "You exceeded your current quota, please check your plan and billing details."
THROTTLED = "Rate limit reached for gpt-4.1 in organization org-x on requests per min (RPM)."
OVERLOADED = "Overloaded"
BAD_ROLE = "Invalid value: 'wizard'. Supported values are: 'system', 'assistant' and 'user'."
# retryable errors are tried three times (two retries); the short retry-after-ms keeps it quick
RETRIED = 3
FAST_RETRY = {"retry_after_ms": "5", "retry_after": "7"}


@dataclass(frozen=True)
class Case:
    upstream: str  # the provider the model is registered with
    status: int
    body: dict[str, Any]
    headers: dict[str, str]
    retried: bool

    def script(self, recording: RecordingUpstream) -> None:
        reply = Reply.json(self.body, self.status, **self.headers)
        recording.expect(*([reply] * (RETRIED if self.retried else 1)))

    @property
    def message(self) -> str:
        message = self.body["error"]["message"]
        assert isinstance(message, str)
        return message


OPENAI_QUOTA = Case(
    "openai", 429, replies.openai_error(QUOTA, "insufficient_quota", "insufficient_quota"),
    {}, retried=False,
)  # fmt: skip
OPENAI_THROTTLED = Case(
    "openai", 429, replies.openai_error(THROTTLED, "requests", "rate_limit_exceeded"),
    {**FAST_RETRY, "x_ratelimit_remaining_requests": "0"}, retried=True,
)  # fmt: skip
OPENAI_BAD_PARAM = Case(
    "openai", 400,
    replies.openai_error(BAD_ROLE, "invalid_request_error", "invalid_value", "messages[0].role"),
    {}, retried=False,
)  # fmt: skip
OPENAI_SERVER = Case(
    "openai", 500, replies.openai_error("The server had an error.", "server_error", None),
    FAST_RETRY, retried=True,
)  # fmt: skip
ANTHROPIC_OVERLOADED = Case(
    "anthropic", 529, replies.anthropic_error("overloaded_error", OVERLOADED), FAST_RETRY,
    retried=True,
)  # fmt: skip
ANTHROPIC_THROTTLED = Case(
    "anthropic", 429,
    replies.anthropic_error("rate_limit_error", "Number of request tokens has exceeded your "
                            "per-minute rate limit"),
    {**FAST_RETRY, "anthropic_ratelimit_requests_remaining": "0"}, retried=True,
)  # fmt: skip
ANTHROPIC_BILLING = Case(
    "anthropic", 402,
    replies.anthropic_error("billing_error", "Your credit balance is too low to access the API."),
    {}, retried=False,
)  # fmt: skip
ANTHROPIC_INVALID = Case(
    "anthropic", 400,
    replies.anthropic_error("invalid_request_error", "max_tokens: Field required"), {},
    retried=False,
)  # fmt: skip
ANTHROPIC_TOO_LARGE = Case(
    "anthropic", 413, replies.anthropic_error("request_too_large", "Request exceeds the maximum "
                                              "allowed number of bytes."), {}, retried=False,
)  # fmt: skip


def _openai_call(sdk: openai.OpenAI, model: str, *, stream: bool = False) -> None:
    messages: Any = [{"role": "user", "content": "Hello"}]
    if stream:
        list(sdk.chat.completions.create(model=model, messages=messages, stream=True))
    else:
        sdk.chat.completions.create(model=model, messages=messages)


def _said(error: openai.APIStatusError) -> str:
    """The message of the error body (the SDK's own text adds "Error code: 429 - ")."""
    assert isinstance(error.body, dict), error.body
    message = error.body["message"]
    assert isinstance(message, str)
    return message


def _anthropic_call(sdk: anthropic.Anthropic, model: str) -> None:
    sdk.messages.create(model=model, max_tokens=64, messages=[{"role": "user", "content": "Hi"}])


def _anthropic_stream(sdk: anthropic.Anthropic, model: str) -> None:
    messages: Any = [{"role": "user", "content": "Hi"}]
    with sdk.messages.stream(model=model, max_tokens=64, messages=messages) as stream:
        for _ in stream:
            pass


# --- the OpenAI surface ------------------------------------------------------------------------


@pytest.mark.parametrize("stream", [False, True], ids=["json", "stream"])
def test_openai_quota_keeps_code_insufficient_quota_and_the_upstreams_message(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream, stream: bool
) -> None:
    model = register("openai")
    OPENAI_QUOTA.script(recording)
    with pytest.raises(openai.RateLimitError) as caught:
        _openai_call(openai_sdk, model["name"], stream=stream)
    assert caught.value.code == "insufficient_quota"
    assert caught.value.type == "insufficient_quota"
    assert _said(caught.value) == QUOTA
    assert len(recording.calls) == 1  # out of credit: retrying cannot help


def test_openai_throttling_keeps_its_code_and_relays_retry_and_rate_limit_headers(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    OPENAI_THROTTLED.script(recording)
    with pytest.raises(openai.RateLimitError) as caught:
        _openai_call(openai_sdk, model["name"])
    assert caught.value.code == "rate_limit_exceeded"
    assert caught.value.type == "requests"
    assert _said(caught.value) == THROTTLED
    headers = caught.value.response.headers
    assert headers["retry-after"] == "7"
    assert headers["retry-after-ms"] == "5"
    assert headers["x-ratelimit-remaining-requests"] == "0"


def test_openai_400_keeps_param_code_and_message(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    OPENAI_BAD_PARAM.script(recording)
    with pytest.raises(openai.BadRequestError) as caught:
        _openai_call(openai_sdk, model["name"])
    assert caught.value.param == "messages[0].role"
    assert caught.value.code == "invalid_value"
    assert caught.value.type == "invalid_request_error"
    assert _said(caught.value) == BAD_ROLE


def test_openai_server_error_keeps_type_and_message(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    OPENAI_SERVER.script(recording)
    with pytest.raises(openai.InternalServerError) as caught:
        _openai_call(openai_sdk, model["name"])
    assert caught.value.type == "server_error"
    assert _said(caught.value) == "The server had an error."


def test_an_echoed_key_is_masked_in_the_passed_on_message(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai", api_key="sk-conformance-echoed-secret-0123456789")
    text = "Incorrect value for key sk-conformance-echoed-secret-0123456789 in request"
    key = "sk-conformance-echoed-secret-0123456789"
    body = replies.openai_error(text, "invalid_request_error", code=key, param=key)
    recording.expect(Reply.json(body, 400))
    with pytest.raises(openai.BadRequestError) as caught:
        _openai_call(openai_sdk, model["name"])
    assert "echoed-secret" not in _said(caught.value)
    assert _said(caught.value).startswith("Incorrect value for key ")
    assert "echoed-secret" not in caught.value.response.text


@pytest.mark.parametrize(
    ("case", "error", "status", "type_", "code"),
    [
        (ANTHROPIC_OVERLOADED, openai.InternalServerError, 503, "server_error", "overloaded"),
        (ANTHROPIC_THROTTLED, openai.RateLimitError, 429, "rate_limit_error",
         "upstream_rate_limited"),
        (ANTHROPIC_BILLING, openai.RateLimitError, 429, "insufficient_quota",
         "insufficient_quota"),
        (ANTHROPIC_INVALID, openai.BadRequestError, 400, "invalid_request_error",
         "invalid_request_error"),
    ],
    ids=["overloaded", "throttled", "billing", "invalid"],
)  # fmt: skip
def test_anthropic_upstream_errors_on_the_openai_surface_map_to_the_closest_openai_error(
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
    case: Case,
    error: type[openai.APIStatusError],
    status: int,
    type_: str,
    code: str,
) -> None:
    model = register("anthropic")
    case.script(recording)
    with pytest.raises(error) as caught:
        _openai_call(openai_sdk, model["name"])
    assert caught.value.status_code == status
    assert caught.value.type == type_
    assert caught.value.code == code
    assert _said(caught.value) == case.message
    assert len(recording.calls) == (RETRIED if case.retried else 1)


# --- the Anthropic surface ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("case", "error", "status"),
    [
        (ANTHROPIC_OVERLOADED, anthropic.OverloadedError, 529),
        (ANTHROPIC_THROTTLED, anthropic.RateLimitError, 429),
        (ANTHROPIC_BILLING, anthropic.APIStatusError, 402),
        (ANTHROPIC_INVALID, anthropic.BadRequestError, 400),
        (ANTHROPIC_TOO_LARGE, anthropic.APIStatusError, 413),
    ],
    ids=["overloaded", "throttled", "billing", "invalid", "too_large"],
)
def test_anthropic_upstream_errors_keep_their_type_and_message(
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    case: Case,
    error: type[anthropic.APIStatusError],
    status: int,
) -> None:
    model = register("anthropic")
    case.script(recording)
    with pytest.raises(error) as caught:
        _anthropic_call(anthropic_sdk, model["name"])
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"] == case.body["error"]
    if case is ANTHROPIC_THROTTLED:
        headers = caught.value.response.headers
        assert headers["retry-after"] == "7"
        assert headers["anthropic-ratelimit-requests-remaining"] == "0"


@pytest.mark.parametrize(
    ("case", "error", "status", "type_"),
    [
        (OPENAI_QUOTA, anthropic.APIStatusError, 402, "billing_error"),
        (OPENAI_THROTTLED, anthropic.RateLimitError, 429, "rate_limit_error"),
        (OPENAI_BAD_PARAM, anthropic.BadRequestError, 400, "invalid_request_error"),
        (OPENAI_SERVER, anthropic.InternalServerError, 502, "api_error"),
    ],
    ids=["quota", "throttled", "bad_param", "server"],
)
def test_openai_upstream_errors_on_the_anthropic_surface_map_to_the_closest_anthropic_error(
    anthropic_sdk: anthropic.Anthropic,
    register: RegisterModel,
    recording: RecordingUpstream,
    case: Case,
    error: type[anthropic.APIStatusError],
    status: int,
    type_: str,
) -> None:
    model = register("openai")
    case.script(recording)
    with pytest.raises(error) as caught:
        _anthropic_call(anthropic_sdk, model["name"])
    assert caught.value.status_code == status
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"] == {"type": type_, "message": case.message}
    # OpenAI's rate-limit headers are not Anthropic's; only the retry advice crosses over
    headers = caught.value.response.headers
    assert "x-ratelimit-remaining-requests" not in headers
    if case.retried:
        assert headers["retry-after"] == "7"


# --- our own surface ---------------------------------------------------------------------------


def test_our_chat_api_tells_quota_from_throttling(
    live_server: LiveServer, user: str, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    OPENAI_QUOTA.script(recording)
    with live_server.client(user) as http:
        spent = http.post("/api/chat", json={"model_id": model["name"], "message": "Hi"})
        assert spent.status_code == 502
        assert spent.json()["error"]["type"] == "upstream_quota_exceeded"
        OPENAI_THROTTLED.script(recording)
        throttled = http.post("/api/chat", json={"model_id": model["name"], "message": "Hi"})
        assert throttled.status_code == 502
        assert throttled.json()["error"]["type"] == "upstream_rate_limited"
        # the upstream's advice in whole seconds: its retry-after-ms (5) wins, rounded up
        assert throttled.headers["retry-after"] == "1"


def test_a_connection_test_reports_an_account_out_of_credit_as_such(
    live_server: LiveServer, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    ANTHROPIC_BILLING.script(recording)
    with live_server.client(live_server.admin_token) as http:
        answer = http.post("/api/models/test-connection", json={"model_id": model["id"]})
    assert answer.status_code == 200
    assert answer.json()["reason"] == "quota_exceeded"


# --- errors after a stream started -----------------------------------------------------------

MID_STREAM_OVERLOADED = {"type": "overloaded_error", "message": OVERLOADED}


def test_an_overloaded_error_mid_stream_stays_overloaded_on_the_anthropic_surface(
    anthropic_sdk: anthropic.Anthropic, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    recording.expect(Reply.sse(replies.anthropic_stream_events(error=MID_STREAM_OVERLOADED)))
    with pytest.raises(anthropic.APIStatusError) as caught:
        _anthropic_stream(anthropic_sdk, model["name"])
    body = caught.value.body
    assert isinstance(body, dict)
    assert body["error"] == MID_STREAM_OVERLOADED


def test_an_overloaded_error_mid_stream_reads_as_overloaded_on_the_openai_surface(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("anthropic")
    recording.expect(Reply.sse(replies.anthropic_stream_events(error=MID_STREAM_OVERLOADED)))
    with pytest.raises(openai.APIError) as caught:
        _openai_call(openai_sdk, model["name"], stream=True)
    assert caught.value.body == {
        "message": OVERLOADED,
        "type": "server_error",
        "param": None,
        "code": "overloaded",
    }
