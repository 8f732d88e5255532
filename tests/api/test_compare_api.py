"""POST /api/chat/compare over real HTTP on SQLite and PostgreSQL, with the OpenAI simulator
answering each model by its upstream name: one answer per model (JSON), events tagged per
model and interleaved (SSE), the stored siblings under one user message, and bad input."""

from __future__ import annotations

from decimal import Decimal
from typing import Any

import httpx

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import assert_error
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import IN_PRICE, OUT_PRICE, create_model, parse_sse, usage_events


def _models(
    server: LiveServer, token: str, sim: SimulatorServer, count: int = 2
) -> list[dict[str, Any]]:
    return [
        create_model(server, token, sim, model_id=f"cmp-{i}-{token[-6:]}") for i in range(count)
    ]


def _conversation(http: httpx.Client, conversation_id: str) -> dict[str, Any]:
    answer = http.get(f"/api/conversations/{conversation_id}")
    assert answer.status_code == 200, answer.text
    data: dict[str, Any] = answer.json()
    return data


def test_json_compare_answers_once_per_model_and_stores_siblings(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    first, second = _models(server, token, openai_sim)
    openai_sim.enqueue(
        Script(text="first says hi", usage=(11, 3), match={"model": first["model_id"]}),
        Script(text="second says hello", usage=(13, 5), match={"model": second["model_id"]}),
    )
    with server.client(token) as http:
        answer = http.post(
            "/api/chat/compare",
            json={"model_ids": [first["id"], second["name"]], "message": "Hi both"},
        )
        assert answer.status_code == 200, answer.text
        data = answer.json()
        conv = _conversation(http, data["conversation_id"])

    by_column = {a["column"]: a for a in data["answers"]}
    assert [by_column[0]["model_id"], by_column[1]["model_id"]] == [first["id"], second["id"]]
    assert by_column[0]["content"] == "first says hi"
    assert by_column[1]["content"] == "second says hello"
    assert by_column[0]["usage"]["input_tokens"] == 11
    assert Decimal(by_column[1]["cost"]) == 13 * IN_PRICE + 5 * OUT_PRICE
    assert all(a["latency_ms"] > 0 and a["status"] == "complete" for a in data["answers"])

    user_messages = [m for m in conv["messages"] if m["role"] == "user"]
    answers = [m for m in conv["messages"] if m["role"] == "assistant"]
    assert [m["content"] for m in user_messages] == ["Hi both"]  # stored once
    assert user_messages[0]["id"] == data["reply_to_id"]
    assert {m["reply_to_id"] for m in answers} == {data["reply_to_id"]}
    assert {m["id"] for m in answers} == {a["message_id"] for a in data["answers"]}
    assert {m["model"]["name"] for m in answers} == {first["name"], second["name"]}
    # each model's call is booked to that model
    assert [e.input_tokens for e in usage_events(server, first["id"])] == [11]
    assert [e.input_tokens for e in usage_events(server, second["id"])] == [13]


def test_sse_compare_tags_every_event_and_streams_columns_in_parallel(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    models = _models(server, token, openai_sim, count=3)
    words = ["one ", "two ", "three ", "four ", "five"]
    openai_sim.enqueue(
        *(
            Script(chunks=[f"{m['name'][-4:]}:{w}" for w in words], chunk_delay=0.04,
                   match={"model": m["model_id"]})
            for m in models
        )
    )  # fmt: skip
    ids = [m["id"] for m in models]
    with (
        server.client(token) as http,
        http.stream(
            "POST", "/api/chat/compare", json={"model_ids": ids, "message": "Go", "stream": True}
        ) as answer,
    ):
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        events = parse_sse(answer.read())

    assert events[0][0] == "compare"
    assert [c["model_id"] for c in events[0][1]["columns"]] == ids
    assert events[-1][0] == "end"
    body = events[1:-1]
    for name, data in body:
        assert data["model_id"] == ids[data["column"]], (name, data)
    for column, model in enumerate(models):
        mine = [(n, d) for n, d in body if d["column"] == column]
        assert next(n for n, _ in mine) == "meta"
        assert [n for n, _ in mine][-1] == "done"
        text = "".join(d["text"] for n, d in mine if n == "text_delta")
        assert text == "".join(f"{model['name'][-4:]}:{w}" for w in words)
    # not buffered per model: every column has streamed text before any column is done
    first_done = next(i for i, (n, _) in enumerate(body) if n == "done")
    started = {d["column"] for n, d in body[:first_done] if n == "text_delta"}
    assert started == {0, 1, 2}
    with server.client(token) as http:
        conv = _conversation(http, events[0][1]["conversation_id"])
    answers = [m for m in conv["messages"] if m["role"] == "assistant"]
    assert len(answers) == 3
    assert {m["reply_to_id"] for m in answers} == {events[0][1]["reply_to_id"]}


def test_an_upstream_error_ends_its_own_column_only(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = live_server.create_user()
    good, bad = _models(live_server, token, openai_sim)
    openai_sim.enqueue(
        Script(text="fine", match={"model": good["model_id"]}),
        Script(status=400, error_message="bad prompt", match={"model": bad["model_id"]}),
    )
    with live_server.client(token) as http:
        answer = http.post(
            "/api/chat/compare", json={"model_ids": [good["id"], bad["id"]], "message": "x"}
        )
    assert answer.status_code == 200, answer.text
    first, second = sorted(answer.json()["answers"], key=lambda a: a["column"])
    assert (first["status"], first["content"]) == ("complete", "fine")
    assert second["status"] == "error"
    assert second["error"]["type"] == "bad_request_error"


def _count_conversations(http: httpx.Client) -> int:
    return len(http.get("/api/conversations", params={"limit": 500}).json())


def test_bad_input_is_a_4xx_naming_the_field_and_writes_nothing(
    server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = server.create_user()
    other = server.create_user()
    a, b, c, d, e = _models(server, token, openai_sim, count=5)
    embedder = create_model(server, token, openai_sim, model_id="text-embedding-3-small")
    disabled = create_model(server, token, openai_sim, enabled=False)
    theirs = create_model(server, other, openai_sim)
    with server.client(token) as http:
        before = _count_conversations(http)

        def post(**body: Any) -> httpx.Response:
            return http.post("/api/chat/compare", json={"message": "hi", **body})

        assert_error(post(model_ids=[a["id"], a["id"]]), 422, "validation_error", "model_ids")
        assert_error(post(model_ids=[a["id"]]), 422, "validation_error", "model_ids")
        five = [m["id"] for m in (a, b, c, d, e)]
        assert_error(post(model_ids=five), 422, "validation_error", "model_ids")
        # the same model by id and by name
        assert_error(post(model_ids=[a["id"], a["name"]]), 422, "validation_error", "model_ids")
        error = assert_error(
            post(model_ids=[a["id"], embedder["id"]]), 422, "validation_error", "model_ids"
        )
        assert "model_ids[1]" in error["message"]
        assert "embedding" in error["message"]
        assert_error(post(model_ids=[a["id"], theirs["id"]]), 404, "not_found", "model_ids")
        assert_error(post(model_ids=[disabled["id"], a["id"]]), 404, "not_found", "model_ids")
        assert_error(post(model_ids=[a["id"], b["id"]], message=""), 422, "validation_error",
                     "message")  # fmt: skip
        missing = "00000000-0000-4000-8000-000000000000"
        assert_error(post(model_ids=[a["id"], b["id"]], conversation_id=missing), 404,
                     "not_found")  # fmt: skip
        assert _count_conversations(http) == before
    assert openai_sim.requests == []  # no model was called


def test_someone_elses_conversation_is_not_found(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    owner, intruder = live_server.create_user(), live_server.create_user()
    a, _b = _models(live_server, owner, openai_sim)
    x, y = _models(live_server, intruder, openai_sim)
    with live_server.client(owner) as http:
        conv = http.post("/api/chat", json={"model_id": a["id"], "message": "mine"}).json()
    with live_server.client(intruder) as http:
        answer = http.post(
            "/api/chat/compare",
            json={
                "model_ids": [x["id"], y["id"]],
                "message": "peek",
                "conversation_id": conv["conversation_id"],
            },
        )
    assert_error(answer, 404, "not_found")


def test_a_reader_leaving_mid_stream_leaves_every_column_stored_as_incomplete(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = live_server.create_user()
    models = _models(live_server, token, openai_sim)
    openai_sim.enqueue(
        *(
            Script(chunks=["start ", *(["more "] * 40)], chunk_delay=0.1, usage=(7, 41),
                   match={"model": m["model_id"]})
            for m in models
        )
    )  # fmt: skip
    body = {"model_ids": [m["id"] for m in models], "message": "long", "stream": True}
    seen: set[int] = set()
    with (
        live_server.client(token) as http,
        http.stream("POST", "/api/chat/compare", json=body) as answer,
    ):
        conversation_id = ""
        for line in answer.iter_lines():
            if line.startswith("data:") and '"conversation_id"' in line and not conversation_id:
                conversation_id = line.split('"conversation_id":"')[1].split('"')[0]
            if line.startswith("data:") and '"text":"start ' in line:
                seen.add(int(line.split('"column":')[1].split(",")[0].rstrip("}")))
            if seen == {0, 1}:
                break  # leave while both are still streaming
    usage = [usage_events(live_server, m["id"]) for m in models]
    assert [len(u) for u in usage] == [1, 1]
    assert all(u[0].status == "incomplete" for u in usage)
    with live_server.client(token) as http:
        conv = _conversation(http, conversation_id)
    answers = [m for m in conv["messages"] if m["role"] == "assistant"]
    assert sorted(m["status"] for m in answers) == ["incomplete", "incomplete"]
    assert all(m["content"].startswith("start") for m in answers)


def test_compare_continues_a_conversation_and_keeps_its_model(
    live_server: LiveServer, openai_sim: SimulatorServer
) -> None:
    token = live_server.create_user()
    first, second = _models(live_server, token, openai_sim)
    with live_server.client(token) as http:
        chat = http.post("/api/chat", json={"model_id": first["id"], "message": "one"}).json()
        answer = http.post(
            "/api/chat/compare",
            json={
                "model_ids": [second["id"], first["id"]],
                "message": "two",
                "conversation_id": chat["conversation_id"],
            },
        )
        assert answer.status_code == 200, answer.text
        assert answer.json()["conversation_id"] == chat["conversation_id"]
        conv = _conversation(http, chat["conversation_id"])
    assert conv["llm_model_id"] == first["id"]  # a compare does not re-model the conversation
    sent = [r.json for r in openai_sim.requests[-2:]]
    assert {s["model"] for s in sent} == {first["model_id"], second["model_id"]}
    for body in sent:  # both models saw the whole conversation
        assert [m["content"] for m in body["messages"]] == ["one", "You said: one", "two"]
