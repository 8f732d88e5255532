"""Bad documents and bad models fail that document with a clear reason, and the rest of the
collection stays intact: unknown types, empty and oversized files are refused at upload;
empty, encrypted and corrupt PDFs, an extraction model that answers malformed JSON and an
embedding model whose vectors change size fail while indexing."""

from __future__ import annotations

import io

from pypdf import PdfWriter

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error, create_model
from tests.fixtures.server import LiveServer
from tests.knowledge.helpers import (
    EXTRACTION_MARK,
    collection,
    embedding_model,
    upload,
    wait_indexed,
)

GOOD = b"Fredville is the capital of Freedonia."


def _pdf(*, encrypt: bool) -> bytes:
    writer = PdfWriter()
    writer.add_blank_page(width=200, height=200)
    if encrypt:
        writer.encrypt("secret")
    out = io.BytesIO()
    writer.write(out)
    return out.getvalue()


def test_bad_uploads_are_refused_naming_the_file(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        coll = collection(http, embedding_model(http, openai_sim))
        unknown = upload(http, coll["id"], "tool.exe", b"MZ\x90", "application/octet-stream")
        assert_error(unknown, 415, "unsupported_media_type")
        assert_error(upload(http, coll["id"], "empty.txt", b""), 422, "validation_error", "file")
        huge = b"x" * (5 * 1024 * 1024 + 1)
        assert_error(upload(http, coll["id"], "huge.txt", huge), 422, "validation_error", "file")
        assert http.get(f"/api/collections/{coll['id']}/documents").json() == []


def test_unreadable_documents_fail_alone(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        coll = collection(http, embedding_model(http, openai_sim))
        upload(http, coll["id"], "good.txt", GOOD)
        upload(http, coll["id"], "blank.pdf", _pdf(encrypt=False), "application/pdf")
        upload(http, coll["id"], "locked.pdf", _pdf(encrypt=True), "application/pdf")
        upload(http, coll["id"], "broken.pdf", b"%PDF-1.7\nnot really", "application/pdf")
        upload(http, coll["id"], "latin1.txt", "caf\xe9".encode("latin-1"))
        docs = {d["filename"]: d for d in wait_indexed(http, coll["id"])}
        found = http.post(f"/api/collections/{coll['id']}/query", json={"question": "capital"})
    assert docs["good.txt"]["status"] == "ready"
    assert docs["good.txt"]["chunk_count"] == 1
    assert "no text" in docs["blank.pdf"]["error"]
    assert "encrypted" in docs["locked.pdf"]["error"]
    assert "cannot be read" in docs["broken.pdf"]["error"]
    assert "UTF-8" in docs["latin1.txt"]["error"]
    assert docs["locked.pdf"]["progress"].startswith("failed: ")
    assert [p["filename"] for p in found.json()["passages"]] == ["good.txt"]


def test_malformed_extraction_json_fails_the_document(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        chat = create_model(http, openai_sim)
        coll = collection(http, embedding_model(http, openai_sim), extractor=chat)
        openai_sim.enqueue(
            Script(text='{"entities": [{"name": ', match=lambda r: EXTRACTION_MARK in str(r.json))
        )
        upload(http, coll["id"], "doc.txt", GOOD)
        (doc,) = wait_indexed(http, coll["id"])
        found = http.post(f"/api/collections/{coll['id']}/query", json={"question": "capital"})
    assert doc["status"] == "failed"
    assert "did not answer JSON" in doc["error"]
    assert found.json()["passages"] == []  # nothing half-indexed


def test_an_embedding_model_whose_dimensions_change_fails_clearly(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        # registered as 256 dimensions; the upstream answers its default (32)
        embedder = embedding_model(http, openai_sim, options={})
        coll = collection(http, embedder)
        upload(http, coll["id"], "doc.txt", GOOD)
        (doc,) = wait_indexed(http, coll["id"])
    assert doc["status"] == "failed"
    assert "dimensions" in doc["error"]
    assert "256" in doc["error"]


def test_a_collection_needs_an_embedding_model(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    with live_server.client(live_server.create_user()) as http:
        chat = create_model(http, openai_sim)
        refused = http.post(
            "/api/collections", json={"name": "x", "embedding_model_id": chat["id"]}
        )
        assert_error(refused, 422, "validation_error", "embedding_model_id")
