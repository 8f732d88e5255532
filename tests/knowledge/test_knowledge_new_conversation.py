"""A chat turn knows whether its conversation has knowledge collections without asking the
knowledge store: a new conversation has none (or the ones the request names), and the query
that reads a continuing conversation's history says whether any are attached. Asking cost a
session per turn (on PostgreSQL: BEGIN, the RLS context, SELECT, COMMIT), a fifth of the
worker's CPU per streamed turn. A conversation with collections still reads them
(tests/knowledge/test_knowledge_chat.py, the follow-up turn)."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from sqlalchemy import event

from modelreg.simulators import Script, SimulatorServer
from tests.api._helpers import create_model
from tests.fixtures.server import LiveServer


@contextmanager
def _statements(server: LiveServer) -> Iterator[list[str]]:
    seen: list[str] = []

    def record(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        seen.append(statement)

    engine = server.services.db.engine.sync_engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", record)


def _reads_collections(statements: list[str]) -> list[str]:
    """Queries for the collections, apart from the history's query (which says whether any
    are attached, in the same round trip)."""
    return [
        s
        for s in statements
        if "knowledge_conversations" in s and "SELECT" in s.upper() and "messages.content" not in s
    ]


@pytest.mark.parametrize("stream", [False, True])
def test_a_conversation_without_collections_does_not_look_them_up(
    server: LiveServer, openai_sim: SimulatorServer, stream: bool
) -> None:
    token = server.create_user()
    with server.client(token) as http:
        chat = create_model(http, openai_sim)
        openai_sim.enqueue(Script(text="Hello there"))
        with _statements(server) as statements:
            answer = http.post(
                "/api/chat",
                json={"model_id": chat["name"], "message": "Hi", "stream": stream},
            )
            assert answer.status_code == 200, answer.text
            assert "Hello there" in answer.text
        assert _reads_collections(statements) == []
        conversation = (
            answer.json()["conversation_id"]
            if not stream
            else answer.text.split('"conversation_id":"', 1)[1].split('"', 1)[0]
        )
        openai_sim.enqueue(Script(text="Again"))
        with _statements(server) as statements:
            again = http.post(
                "/api/chat", json={"conversation_id": conversation, "message": "More"}
            )
            assert again.status_code == 200, again.text
        assert _reads_collections(statements) == []
