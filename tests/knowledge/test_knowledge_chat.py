"""Knowledge in chat over real HTTP, on SQLite and PostgreSQL, with the provider simulators:
the passage that answers a question reaches the model and the stored answer cites it; a
question about the whole collection reaches the model with the community summaries; another
user's collection is never retrieved."""

from __future__ import annotations

from typing import Any

import pytest

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import create_model
from tests.fixtures.server import LiveServer
from tests.knowledge.helpers import (
    chat_requests,
    collection,
    embedding_model,
    extraction_script,
    upload,
    wait_indexed,
)

ANSWER_DOC = (
    "The capital of Freedonia is Fredville. Fredville lies on the river Blue and was founded "
    "by Rufus Firefly in 1933."
)
OTHER_DOC = (
    "Sylvania exports cheese and timber. Its ambassador Trentino enjoys long dinners and "
    "opera in the evening."
)


@pytest.fixture(params=["sqlite", "postgres"])
def server(request: pytest.FixtureRequest) -> LiveServer:
    name = "live_server" if request.param == "sqlite" else "live_server_pg"
    live: LiveServer = request.getfixturevalue(name)
    return live


def _system_text(request: Any) -> str:
    messages = request.json["messages"]
    return "\n".join(m["content"] for m in messages if m["role"] == "system")


def test_the_answering_passage_reaches_the_model_and_is_cited(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    with server.client(token) as http:
        embedder = embedding_model(http, openai_sim)
        chat = create_model(http, openai_sim)
        coll = collection(http, embedder)
        for name, text in (("freedonia.txt", ANSWER_DOC), ("sylvania.md", OTHER_DOC)):
            assert upload(http, coll["id"], name, text.encode()).status_code == 201
        docs = {d["filename"]: d for d in wait_indexed(http, coll["id"])}
        assert {d["status"] for d in docs.values()} == {"ready"}, docs
        openai_sim.enqueue(Script(text="Fredville [1]"))
        answer = http.post(
            "/api/chat",
            json={
                "model_id": chat["name"],
                "message": "What is the capital of Freedonia?",
                "collection_ids": [coll["id"]],
            },
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()
        conv = http.get(f"/api/conversations/{data['conversation_id']}").json()
    context = _system_text(chat_requests(openai_sim)[-1])
    assert "The capital of Freedonia is Fredville" in context
    first = data["citations"][0]
    assert first["document_id"] == docs["freedonia.txt"]["id"]
    assert first["n"] == 1
    assert "Fredville" in first["text"]
    stored = conv["messages"][-1]
    assert stored["role"] == "assistant"
    assert stored["citations"][0]["document_id"] == docs["freedonia.txt"]["id"]
    assert stored["citations"][0]["chunk_id"] == first["chunk_id"]
    assert stored["citations"][0]["score"] > 0


def test_a_followup_turn_keeps_the_collections_and_a_stream_cites_too(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        coll = collection(http, embedding_model(http, openai_sim))
        chat = create_model(http, openai_sim)
        upload(http, coll["id"], "freedonia.txt", ANSWER_DOC.encode())
        wait_indexed(http, coll["id"])
        first = http.post(
            "/api/chat",
            json={"model_id": chat["name"], "message": "Hello", "collection_ids": [coll["id"]]},
        ).json()
        with http.stream(
            "POST",
            "/api/chat",
            json={
                "conversation_id": first["conversation_id"],
                "stream": True,
                "message": "Who founded Fredville?",
            },
        ) as stream:
            body = "".join(stream.iter_text())
        conv = http.get(f"/api/conversations/{first['conversation_id']}").json()
    assert "Rufus Firefly" in _system_text(chat_requests(openai_sim)[-1])
    assert "event: done" in body
    assert "citations" in body
    assert conv["messages"][-1]["citations"][0]["filename"] == "freedonia.txt"


def test_a_global_question_reaches_the_model_with_community_summaries(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    openai_sim.enqueue(
        extraction_script(
            [("Rufus Firefly", "person"), ("Fredville", "place"), ("Freedonia", "place")],
            [("Rufus Firefly", "Fredville"), ("Fredville", "Freedonia")],
            repeat=2,
        )
    )
    with server.client(token) as http:
        chat = create_model(http, openai_sim)
        coll = collection(http, embedding_model(http, openai_sim), extractor=chat)
        upload(http, coll["id"], "freedonia.txt", ANSWER_DOC.encode())
        upload(http, coll["id"], "sylvania.txt", OTHER_DOC.encode())
        docs = wait_indexed(http, coll["id"])
        assert {d["status"] for d in docs} == {"ready"}, docs
        found = http.post(
            f"/api/collections/{coll['id']}/query", json={"question": "Who founded Fredville?"}
        ).json()
        assert found["mode"] == "local"
        assert any("RUFUS FIREFLY" in e for e in found["entities"]), found
        openai_sim.enqueue(Script(text="It is about Freedonia."))
        answer = http.post(
            "/api/chat",
            json={
                "model_id": chat["name"],
                "collection_ids": [coll["id"]],
                "message": "What are the main themes of this collection?",
            },
        )
        assert answer.status_code == 200, answer.text
    context = _system_text(chat_requests(openai_sim)[-1])
    assert "Summaries of the topics in the collection" in context
    assert "RUFUS FIREFLY" in context  # the community's summary names its entities


def test_another_users_collection_is_never_retrieved(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    alice, bob = server.create_user(), server.create_user()
    with server.client(alice) as http:
        coll = collection(http, embedding_model(http, openai_sim))
        upload(http, coll["id"], "secret.txt", b"The vault code is 4711, says Freedonia.")
        wait_indexed(http, coll["id"])
    with server.client(bob) as http:
        chat = create_model(http, openai_sim)
        cid = coll["id"]
        assert http.get(f"/api/collections/{cid}").status_code == 404
        assert http.get(f"/api/collections/{cid}/documents").status_code == 404
        query = http.post(f"/api/collections/{cid}/query", json={"question": "vault code"})
        assert query.status_code == 404
        before = len(chat_requests(openai_sim))
        turn = http.post(
            "/api/chat",
            json={"model_id": chat["name"], "message": "vault code?", "collection_ids": [cid]},
        )
        assert turn.status_code == 404, turn.text
        assert len(chat_requests(openai_sim)) == before
        assert cid not in {c["id"] for c in http.get("/api/collections").json()}
        answer = http.post("/api/chat", json={"model_id": chat["name"], "message": "vault code?"})
        assert answer.status_code == 200
    assert "4711" not in str(chat_requests(openai_sim)[-1].json)


def test_an_embedding_model_is_refused_for_chat(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = live_server.create_user()
    with live_server.client(token) as http:
        embedder = embedding_model(http, openai_sim)
        refused = http.post("/api/chat", json={"model_id": embedder["name"], "message": "hi"})
        assert refused.status_code == 422, refused.text
        assert "embedding model" in refused.json()["error"]["message"]
        gateway = http.post(
            "/v1/chat/completions",
            json={"model": embedder["name"], "messages": [{"role": "user", "content": "hi"}]},
        )
        assert gateway.status_code == 400, gateway.text
        vectors = http.post("/v1/embeddings", json={"model": embedder["name"], "input": "hi"})
        assert vectors.status_code == 200, vectors.text
        assert len(vectors.json()["data"][0]["embedding"]) == 256
