"""Every error of the tree has a deliberate place in both gateway error shapes."""

from __future__ import annotations

import inspect

import orjson
import pytest

from modelreg import errors as e
from modelreg.gateway.errors import anthropic_error_response, classify, openai_error_response


def _all_errors() -> list[type[e.ModelregError]]:
    # the base class itself is never raised on purpose; every subclass is
    classes = [cls for _, cls in inspect.getmembers(e, inspect.isclass)]
    return [c for c in classes if issubclass(c, e.ModelregError) and c is not e.ModelregError]


def _instance(cls: type[e.ModelregError]) -> e.ModelregError:
    if issubclass(cls, e.ProviderStatusError):
        return cls("upstream said no", status=503 if cls is e.ServerError else 400)
    return cls("something happened")


@pytest.mark.parametrize("cls", _all_errors(), ids=lambda c: c.__name__)
def test_every_error_is_mapped_on_purpose(
    cls: type[e.ModelregError], caplog: pytest.LogCaptureFixture
) -> None:
    info = classify(_instance(cls))
    # only a broken key ring is our own 500; nothing falls through to "unhandled"
    assert "unhandled" not in caplog.text
    assert info.status != 500 or cls is e.EncryptionKeyError
    openai_body = orjson.loads(openai_error_response(_instance(cls)).body)
    assert set(openai_body["error"]) == {"message", "type", "param", "code"}
    anthropic_body = orjson.loads(anthropic_error_response(_instance(cls)).body)
    assert anthropic_body["type"] == "error"
    assert anthropic_body["error"]["message"]


@pytest.mark.parametrize(
    ("error", "openai_status", "anthropic_status"),
    [
        (e.UnknownModelError("no such model"), 404, 404),
        (e.RateLimitedError("slow down", retry_after=2.5), 429, 429),
        (e.RateLimitError("upstream busy", status=429, retry_after=3), 429, 429),
        (e.RateLimitError("overloaded", status=529), 503, 529),
        (e.ServerError("boom", status=500), 502, 502),
        (e.ServerError("unavailable", status=503), 503, 503),
        (e.AuthenticationError("bad stored key", status=401), 502, 502),
        (e.ContextLengthExceededError("too long", status=400), 400, 400),
        (e.ProviderTimeoutError("slow"), 504, 504),
        (e.StreamInterruptedError("cut"), 502, 502),
        (e.MissingCredentialsError("no key"), 400, 400),
    ],
)
def test_status_codes(error: e.ModelregError, openai_status: int, anthropic_status: int) -> None:
    assert openai_error_response(error).status_code == openai_status
    assert anthropic_error_response(error).status_code == anthropic_status


def test_retry_after_is_whole_seconds_rounded_up() -> None:
    response = openai_error_response(e.RateLimitedError("slow down", retry_after=2.1))
    assert response.headers["retry-after"] == "3"
