"""A document's life: deleting it removes its chunks, vectors and graph contributions;
changing the collection's embedding model re-indexes every document; company-wide
collections are read by everyone and changed by admins only."""

from __future__ import annotations

import time

from modelreg.simulators import SimulatorServer
from tests.api._helpers import create_model
from tests.fixtures.server import LiveServer
from tests.knowledge.helpers import (
    collection,
    embedding_model,
    extraction_script,
    upload,
    wait_indexed,
)


def test_deleting_a_document_removes_its_passages_and_entities(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    openai_sim.enqueue(
        extraction_script(
            [("Fredville", "place"), ("Freedonia", "place")], [("Fredville", "Freedonia")]
        )
    )
    with live_server.client(live_server.create_user()) as http:
        chat = create_model(http, openai_sim)
        coll = collection(http, embedding_model(http, openai_sim), extractor=chat)
        doc = upload(http, coll["id"], "a.txt", b"Fredville is the capital of Freedonia.").json()
        wait_indexed(http, coll["id"])
        before = http.post(f"/api/collections/{coll['id']}/query", json={"question": "Fredville"})
        assert before.json()["passages"]
        assert before.json()["entities"]
        assert http.delete(f"/api/documents/{doc['id']}").status_code == 204
        after = http.post(f"/api/collections/{coll['id']}/query", json={"question": "Fredville"})
        assert http.get(f"/api/documents/{doc['id']}").status_code == 404
    assert after.json()["passages"] == []
    assert after.json()["entities"] == []


def test_a_new_embedding_model_reindexes_the_collection(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        coll = collection(http, embedding_model(http, openai_sim))
        upload(http, coll["id"], "a.txt", b"Fredville is the capital of Freedonia.")
        wait_indexed(http, coll["id"])
        requests_before = len([r for r in openai_sim.requests if r.path.endswith("/embeddings")])
        other = embedding_model(http, openai_sim, model_id="text-embedding-3-large")
        changed = http.patch(
            f"/api/collections/{coll['id']}", json={"embedding_model_id": other["id"]}
        )
        assert changed.status_code == 200, changed.text
        (doc,) = wait_indexed(http, coll["id"])
    assert doc["status"] == "ready"
    embedded = [r for r in openai_sim.requests if r.path.endswith("/embeddings")]
    assert len(embedded) > requests_before
    assert embedded[-1].json["model"] == "text-embedding-3-large"


def test_company_collections_are_read_by_all_and_changed_by_admins(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.admin_token) as http:
        embedder = embedding_model(http, openai_sim, is_global=True)
        made = http.post(
            "/api/collections",
            json={"name": "Handbook", "embedding_model_id": embedder["id"], "is_global": True},
        )
        assert made.status_code == 201, made.text
        cid = made.json()["id"]
    with live_server.client(live_server.create_user()) as http:
        assert http.get(f"/api/collections/{cid}").status_code == 200
        assert http.patch(f"/api/collections/{cid}", json={"name": "mine"}).status_code == 403
        assert upload(http, cid, "a.txt", b"text").status_code == 403
        refused = http.post(
            "/api/collections",
            json={"name": "x", "embedding_model_id": embedder["id"], "is_global": True},
        )
        assert refused.status_code == 403


def test_indexing_and_questions_are_booked_to_the_owner(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        embedder = embedding_model(http, openai_sim, price_per_input_token="0.001")
        coll = collection(http, embedder)
        upload(http, coll["id"], "a.txt", b"Fredville is the capital of Freedonia.")
        wait_indexed(http, coll["id"])
        http.post(f"/api/collections/{coll['id']}/query", json={"question": "capital"})
        deadline = time.monotonic() + 10
        while True:  # the usage recorder writes in batches
            groups = http.get("/api/usage").json()["groups"]
            mine = [g for g in groups if g["llm_model_id"] == embedder["id"]]
            if mine and mine[0]["requests"] >= 2:
                break
            assert time.monotonic() < deadline, groups
            time.sleep(0.1)
    assert mine[0]["input_tokens"] > 0
    assert float(mine[0]["cost"]) > 0
