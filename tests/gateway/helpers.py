"""Helpers shared by the chat and gateway tests: register simulator-backed models over HTTP,
read SSE streams."""

from __future__ import annotations

import asyncio
import uuid
from decimal import Decimal
from typing import Any

import httpx
import orjson
from sqlalchemy import select

from modelreg.actor import SYSTEM
from modelreg.db.models import UsageEvent
from modelreg.simulators import SimulatorServer
from tests.fixtures.server import LiveServer

IN_PRICE = Decimal("0.0000025")
OUT_PRICE = Decimal("0.00001")


def unique(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:8]}"


def create_model(
    server: LiveServer,
    token: str,
    sim: SimulatorServer,
    *,
    provider: str | None = None,
    name: str | None = None,
    **fields: Any,
) -> dict[str, Any]:
    """Register a model that points at `sim`; returns the API's JSON of it."""
    body: dict[str, Any] = {
        "name": name or unique(f"{sim.flavor}-model"),
        "provider": provider or sim.flavor,
        "base_url": sim.base_url,
        "model_id": fields.pop("model_id", "sim-model"),
        "price_per_input_token": str(IN_PRICE),
        "price_per_output_token": str(OUT_PRICE),
    }
    if sim.api_key is not None:
        body["api_key"] = sim.api_key
    body.update(fields)
    with server.client(token) as http:
        answer = http.post("/api/models", json=body)
    assert answer.status_code == 201, answer.text
    data: dict[str, Any] = answer.json()
    return data


def parse_sse(raw: bytes) -> list[tuple[str, dict[str, Any]]]:
    """(event, data) pairs of a complete SSE body."""
    events = []
    for block in raw.replace(b"\r\n", b"\n").split(b"\n\n"):
        name, data = "message", b""
        for line in block.split(b"\n"):
            if line.startswith(b"event:"):
                name = line[6:].strip().decode()
            elif line.startswith(b"data:"):
                data += line[5:].strip()
        if data:
            events.append((name, orjson.loads(data)))
    return events


def stream_chat(http: httpx.Client, body: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    with http.stream("POST", "/api/chat", json={**body, "stream": True}) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        return parse_sse(answer.read())


def usage_events(server: LiveServer, model_id: str, *, at_least: int = 1) -> list[Any]:
    """The model's usage events, once at least `at_least` are written (at most 5 s): a
    streamed call is booked when the server's relay ends, which can be just after the client
    has read the last event and moved on."""

    async def read() -> list[Any]:
        deadline = asyncio.get_running_loop().time() + 5
        while True:
            await server.services.usage.flush()
            async with server.services.db.session(SYSTEM) as session:
                rows = list(
                    await session.scalars(
                        select(UsageEvent).where(UsageEvent.llm_model_id == uuid.UUID(model_id))
                    )
                )
            if len(rows) >= at_least or asyncio.get_running_loop().time() > deadline:
                return rows
            await asyncio.sleep(0.02)

    return server.run(read())
