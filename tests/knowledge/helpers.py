"""Helpers of the knowledge tests: an embedding and a chat model on a simulator, a collection,
uploads and waiting for the indexer."""

from __future__ import annotations

import json
import time
from typing import Any

import httpx

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import create_model

DIMENSIONS = 256
EXTRACTION_MARK = "Extract the named entities"


def embedding_model(http: httpx.Client, sim: SimulatorServer, **overrides: Any) -> dict[str, Any]:
    fields: dict[str, Any] = {
        "kind": "embedding",
        "dimensions": DIMENSIONS,
        "model_id": "text-embedding-3-small",
        "options": {"dimensions": DIMENSIONS},
    }
    return create_model(http, sim, **(fields | overrides))


def collection(
    http: httpx.Client, embedder: dict[str, Any], extractor: dict[str, Any] | None = None
) -> dict[str, Any]:
    body: dict[str, Any] = {"name": "docs", "embedding_model_id": embedder["id"]}
    if extractor is not None:
        body["extraction_model_id"] = extractor["id"]
    answer = http.post("/api/collections", json=body)
    assert answer.status_code == 201, answer.text
    made: dict[str, Any] = answer.json()
    return made


def upload(
    http: httpx.Client, collection_id: str, name: str, content: bytes, kind: str = "text/plain"
) -> httpx.Response:
    return http.post(
        f"/api/collections/{collection_id}/documents", files={"file": (name, content, kind)}
    )


def wait_indexed(http: httpx.Client, collection_id: str, timeout: float = 30) -> list[Any]:
    """The collection's documents once none is queued or indexing."""
    deadline = time.monotonic() + timeout
    while True:
        docs: list[Any] = http.get(f"/api/collections/{collection_id}/documents").json()
        if all(d["status"] in ("ready", "failed") for d in docs):
            return docs
        assert time.monotonic() < deadline, docs
        time.sleep(0.05)


def extraction_script(
    entities: list[tuple[str, str]], relations: list[tuple[str, str]], repeat: int = 1
) -> Script:
    """The extraction model's answer for the next `repeat` extraction prompts."""
    answer = {
        "entities": [{"name": n, "type": t, "description": f"{n} is a {t}"} for n, t in entities],
        "relationships": [
            {"source": a, "target": b, "description": f"{a} works with {b}"} for a, b in relations
        ],
    }
    return Script(
        text=json.dumps(answer),
        repeat=repeat,
        match=lambda r: EXTRACTION_MARK in json.dumps(r.json),
    )


def chat_requests(sim: SimulatorServer) -> list[Any]:
    return [r for r in sim.requests if r.path.endswith("/chat/completions")]
