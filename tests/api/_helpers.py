"""Small helpers for the API tests (payloads and assertions), not fixtures."""

from __future__ import annotations

import uuid
from typing import Any

import httpx

from modelreg.simulators import SimulatorServer

# loopback, port 9 (discard): nothing listens, and no DNS lookup is needed
NOWHERE = "http://127.0.0.1:9/v1"


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def model_payload(sim: SimulatorServer | None = None, **overrides: Any) -> dict[str, Any]:
    """A valid POST /api/models body, pointing at `sim` when given, else at a closed loopback
    port. Never a public host name: saving a model resolves its host (SSRF check), and tests
    must not even look up a public name."""
    body: dict[str, Any] = {
        "name": unique("model"),
        "provider": "openai",
        "base_url": sim.base_url if sim is not None else NOWHERE,
        "model_id": "gpt-4o-mini",
        "api_key": (sim.api_key if sim is not None else None) or "sk-test-key-abcd1234",
        "price_per_input_token": "0.000001",
        "price_per_output_token": "0.000002",
    }
    body.update(overrides)
    return body


def create_model(
    http: httpx.Client, sim: SimulatorServer | None = None, **overrides: Any
) -> dict[str, Any]:
    answer = http.post("/api/models", json=model_payload(sim, **overrides))
    assert answer.status_code == 201, answer.text
    created: dict[str, Any] = answer.json()
    return created


def assert_error(
    answer: httpx.Response, status: int, type_: str, field: str | None = None
) -> dict[str, Any]:
    """Our error shape: {"error": {"type", "message", "field"}}."""
    assert answer.status_code == status, answer.text
    error: dict[str, Any] = answer.json()["error"]
    assert error["type"] == type_, error
    assert error["message"]
    if field is not None:
        assert error["field"] == field, error
    return error
