"""The conformance suite: the official `openai` and `anthropic` SDKs driven through the
gateway (fast path and routed, as every gateway test) against the recording upstream, whose
replies come from the providers' API references. Each case asserts both ends: what the
upstream received and what the SDK returned."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from typing import Any

import anthropic
import openai
import pytest

from tests.conformance.recording import RecordingUpstream, recording
from tests.fixtures.server import LiveServer
from tests.gateway.conftest import _gateway_server, gateway_path, live_server

__all__ = ["_gateway_server", "gateway_path", "live_server", "recording"]

RegisterModel = Callable[..., dict[str, Any]]


@pytest.fixture
def user(live_server: LiveServer) -> str:
    """A member's API token."""
    return live_server.create_user()


@pytest.fixture
def register(live_server: LiveServer, recording: RecordingUpstream) -> RegisterModel:
    """register(provider, **fields): a company-wide model on the recording upstream, added by
    the admin (so loopback is allowed), usable by every user; returns its JSON."""

    def make(provider: str, **fields: Any) -> dict[str, Any]:
        body: dict[str, Any] = {
            "name": f"{provider}-{uuid.uuid4().hex[:8]}",
            "provider": provider,
            "base_url": recording.url,
            "model_id": "upstream-model",
            "api_key": "sk-conformance-" + uuid.uuid4().hex,
            "is_global": True,
            "price_per_input_token": "0.000003",
            "price_per_output_token": "0.000015",
            **fields,
        }
        with live_server.client(live_server.admin_token) as http:
            answer = http.post("/api/models", json=body)
        assert answer.status_code == 201, answer.text
        data: dict[str, Any] = answer.json()
        return data

    return make


@pytest.fixture
def openai_sdk(live_server: LiveServer, user: str) -> Iterator[openai.OpenAI]:
    client = openai.OpenAI(base_url=live_server.url + "/v1", api_key=user, max_retries=0)
    yield client
    client.close()


@pytest.fixture
def anthropic_sdk(live_server: LiveServer, user: str) -> Iterator[anthropic.Anthropic]:
    client = anthropic.Anthropic(base_url=live_server.url, api_key=user, max_retries=0)
    yield client
    client.close()
