"""Bad input gets a clear 4xx in the shape of the API it was sent to, and writes nothing."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from tests.api._helpers import assert_error, model_payload
from tests.fixtures.server import LiveServer

SMALL_CAP = 4096


@pytest.fixture(scope="module")
def small_body_server(live_server_factory: Any) -> LiveServer:
    server: LiveServer = live_server_factory(max_request_bytes=SMALL_CAP)
    return server


def _own_models(http: Any) -> list[dict[str, Any]]:
    return [m for m in http.get("/api/models").json() if not m["is_global"]]


def test_malformed_json_is_400_and_writes_nothing(live_server: LiveServer) -> None:
    with live_server.client(live_server.create_user()) as http:
        answer = http.post(
            "/api/models", content=b'{"name": "x",', headers={"content-type": "application/json"}
        )
        assert_error(answer, 400, "invalid_json")
        assert _own_models(http) == []


def test_invalid_utf8_is_400(live_server: LiveServer) -> None:
    with live_server.client(live_server.create_user()) as http:
        answer = http.post(
            "/api/models",
            content=b'{"name": "\xff\xfe"}',
            headers={"content-type": "application/json"},
        )
        assert answer.status_code == 400, answer.text
        assert answer.json()["error"]["type"] in ("invalid_json", "invalid_body")


@pytest.mark.parametrize(
    ("override", "field"),
    [
        ({"context_length": "lots"}, "context_length"),
        ({"price_per_input_token": -1}, "price_per_input_token"),
        ({"provider": "no-such-provider"}, "provider"),
        ({"base_url": "ftp://example.invalid"}, "base_url"),
        ({"base_url": "http://user:pw@127.0.0.1/"}, "base_url"),
        ({"unknown_field": 1}, "unknown_field"),
        ({"api_key_encrypted": "sneaky"}, "api_key_encrypted"),
        ({"name": ""}, "name"),
    ],
)
def test_wrong_types_and_unknown_fields_are_422_naming_the_field(
    live_server: LiveServer, override: dict[str, Any], field: str
) -> None:
    with live_server.client(live_server.create_user()) as http:
        answer = http.post("/api/models", json=model_payload(**override))
        error = assert_error(answer, 422, "validation_error", field=field)
        assert "sneaky" not in error["message"]
        assert _own_models(http) == []


def test_secrets_are_not_echoed_in_validation_errors(live_server: LiveServer) -> None:
    with live_server.client(live_server.create_user()) as http:
        answer = http.post("/api/models", json=model_payload(api_key="sk-leak\x00me-1234"))
        assert answer.status_code == 422
        assert "leak" not in answer.text


def test_non_uuid_ids_are_422(live_server: LiveServer) -> None:
    with live_server.client(live_server.create_user()) as http:
        assert_error(http.get("/api/models/not-a-uuid"), 422, "validation_error", "model_id")


def test_declared_oversized_body_is_413(small_body_server: LiveServer) -> None:
    with small_body_server.client(small_body_server.create_user()) as http:
        big = model_payload(description="x" * (SMALL_CAP * 2))
        assert_error(http.post("/api/models", json=big), 413, "request_too_large")
        assert _own_models(http) == []


def test_chunked_oversized_body_is_413(small_body_server: LiveServer) -> None:
    def chunks() -> Iterator[bytes]:  # no Content-Length: counted as it arrives
        yield b'{"name": "x", "description": "'
        for _ in range(SMALL_CAP // 512 + 2):
            yield b"y" * 512
        yield b'"}'

    with small_body_server.client(small_body_server.create_user()) as http:
        answer = http.post(
            "/api/models", content=chunks(), headers={"content-type": "application/json"}
        )
        assert_error(answer, 413, "request_too_large")


def test_oversized_body_on_the_gateways_is_413_in_their_shapes(
    small_body_server: LiveServer,
) -> None:
    big = b"{" + b" " * (SMALL_CAP * 2) + b"}"
    headers = {"content-type": "application/json"}
    with small_body_server.client(small_body_server.admin_token) as http:
        openai = http.post("/v1/chat/completions", content=big, headers=headers)
        assert openai.status_code == 413
        assert openai.json()["error"]["message"]
        assert "param" in openai.json()["error"]  # OpenAI's shape, not ours
        anthropic = http.post("/v1/messages", content=big, headers=headers)
        assert anthropic.status_code == 413
        assert anthropic.json()["type"] == "error"
