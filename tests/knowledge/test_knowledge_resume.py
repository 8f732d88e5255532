"""Indexing survives a SIGKILL of `modelreg serve` mid-way: the document left `indexing` is
taken again once its lease runs out, nothing of it was written before the kill (a document is
written in one transaction at the end), and it ends `ready` with each chunk once."""

from __future__ import annotations

import signal
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.knowledge.helpers import DIMENSIONS
from tests.test_usage_durability import _env, _serve, _setup

pytestmark = pytest.mark.slow

PARAGRAPHS = 160  # one chunk each: five embedding batches


def _document() -> bytes:
    words = " ".join(f"word{n}" for n in range(120))
    return "\n\n".join(
        f"Paragraph {i} of the handbook. {words}" for i in range(PARAGRAPHS)
    ).encode()


def _doc(http: httpx.Client, collection_id: str) -> dict[str, Any]:
    docs: list[dict[str, Any]] = http.get(f"/api/collections/{collection_id}/documents").json()
    return docs[0]


def _chunks(data_dir: Path) -> int:
    with sqlite3.connect(data_dir / "modelreg.db") as conn:
        (count,) = conn.execute("SELECT count(*) FROM knowledge_chunks").fetchone()
    return int(count)


def test_indexing_resumes_after_sigkill(openai_sim: SimulatorServer, tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    env = _env(data_dir) | {"MODELREG_KNOWLEDGE_LEASE_SECONDS": "1"}
    log = tmp_path / "serve.log"
    slow = Script(first_byte_delay=0.3, repeat=1000, match={"path": "*/embeddings"})
    openai_sim.enqueue(slow)
    with _serve(env, log) as (proc, base):
        token = _setup(env, openai_sim)
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        model = http.post("/api/models", json={
            "name": "embedder", "provider": "openai", "base_url": openai_sim.base_url,
            "model_id": "text-embedding-3-small", "api_key": openai_sim.api_key,
            "kind": "embedding", "dimensions": DIMENSIONS,
            "options": {"dimensions": DIMENSIONS},
        })  # fmt: skip
        assert model.status_code == 201, model.text
        coll = http.post(
            "/api/collections", json={"name": "handbook", "embedding_model_id": model.json()["id"]}
        ).json()
        files = {"file": ("handbook.txt", _document(), "text/plain")}
        assert http.post(f"/api/collections/{coll['id']}/documents", files=files).is_success
        deadline = time.monotonic() + 60
        while not (_doc(http, coll["id"])["progress_done"] >= 64):
            assert time.monotonic() < deadline, _doc(http, coll["id"])
            time.sleep(0.05)
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=10)
        http.close()
    assert _chunks(data_dir) == 0  # nothing half-written
    with _serve(env, log) as (_, base):
        http = httpx.Client(base_url=base, headers={"Authorization": f"Bearer {token}"})
        deadline = time.monotonic() + 90
        while (doc := _doc(http, coll["id"]))["status"] != "ready":
            assert doc["status"] != "failed", doc
            assert time.monotonic() < deadline, doc
            time.sleep(0.1)
        http.close()
    assert doc["chunk_count"] == PARAGRAPHS
    assert _chunks(data_dir) == PARAGRAPHS
