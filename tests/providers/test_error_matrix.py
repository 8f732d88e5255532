"""Every adapter maps every documented error status, in its provider's own body shape, to the
right class, carrying message, request id and retry-after, and never the key."""

from __future__ import annotations

from collections.abc import Callable

import orjson
import pytest

from modelreg.errors import (
    AuthenticationError,
    BadRequestError,
    ContextLengthExceededError,
    NotFoundError,
    PermissionDeniedError,
    ProviderStatusError,
    RateLimitError,
    ServerError,
)
from modelreg.providers.lookup import get_adapter
from tests.providers._helpers import API_KEY, make_model


def openai_body(message: str, kind: str) -> bytes:
    return orjson.dumps({"error": {"message": message, "type": kind, "param": None, "code": None}})


def anthropic_body(message: str, kind: str) -> bytes:
    return orjson.dumps({"type": "error", "error": {"type": kind, "message": message}})


def string_body(message: str, kind: str) -> bytes:  # Ollama native, TGI
    return orjson.dumps({"error": message, "error_type": kind})


SHAPES: dict[str, tuple[dict[str, object], Callable[[str, str], bytes]]] = {
    "openai": ({}, openai_body),
    "azure": ({"auth_type": "api_key"}, openai_body),
    "vllm": ({}, openai_body),
    "anthropic": ({}, anthropic_body),
    "ollama": ({}, string_body),
    "huggingface": ({"base_url": "http://127.0.0.1:8080"}, string_body),
}

CASES: list[tuple[int, str, str, type[ProviderStatusError]]] = [
    (400, "invalid_request_error", "bad parameter", BadRequestError),
    (
        400,
        "invalid_request_error",
        "maximum context length is 8192 tokens",
        ContextLengthExceededError,
    ),
    (401, "authentication_error", f"invalid key {API_KEY}", AuthenticationError),
    (403, "permission_error", "not allowed", PermissionDeniedError),
    (404, "not_found_error", "no such model", NotFoundError),
    (413, "request_too_large", "too large", BadRequestError),
    (422, "validation", "Input validation error", BadRequestError),
    (429, "rate_limit_error", "slow down", RateLimitError),
    (500, "api_error", "internal", ServerError),
    (502, "api_error", "bad gateway", ServerError),
    (503, "api_error", "unavailable", ServerError),
    (529, "overloaded_error", "Overloaded", RateLimitError),
]


@pytest.mark.parametrize("provider", sorted(SHAPES))
@pytest.mark.parametrize(("status", "kind", "message", "cls"), CASES)
def test_error_matrix(
    provider: str, status: int, kind: str, message: str, cls: type[ProviderStatusError]
) -> None:
    overrides, shape = SHAPES[provider]
    model = make_model(provider, **overrides)
    headers = {"Retry-After": "2", "x-request-id": "req-9"}
    error = get_adapter(model).map_error(status, headers, shape(message, kind), model)
    assert type(error) is cls
    assert (error.status, error.retry_after, error.request_id) == (status, 2.0, "req-9")
    assert error.retryable is (status in (429, 500, 502, 503, 529))
    assert (error.provider, error.model) == (provider, "my-model")
    assert API_KEY not in str(error)
    assert message.split()[0] in error.message


@pytest.mark.parametrize("provider", sorted(SHAPES))
@pytest.mark.parametrize("body", [b"", b"<html><body>502 Bad Gateway</body></html>", b"\x00\xff"])
def test_unreadable_error_bodies_still_give_a_clear_typed_error(provider: str, body: bytes) -> None:
    overrides, _ = SHAPES[provider]
    model = make_model(provider, **overrides)
    error = get_adapter(model).map_error(502, {}, body, model)
    assert type(error) is ServerError
    assert error.message.startswith(f"{provider} returned HTTP 502")
