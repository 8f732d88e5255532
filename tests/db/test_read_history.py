"""`read_history`, the one read of a continuing chat turn, on SQLite and PostgreSQL (where it
is one call of `modelreg_read_history`, migration 0016): the conversation's model, the
active path with tool calls (a regenerated answer replacing the original), whether knowledge
collections are attached; another user's conversation is not found, and on PostgreSQL the
function's row-level security hides it even from a caller that names its owner."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

import orjson
import pytest

from modelreg.actor import Actor
from modelreg.chat.store import (
    READ_HISTORY_SQL,
    ConversationNotFoundError,
    message_row,
    read_history,
)
from modelreg.chat.turn_writer import TurnWrite, TurnWriter
from modelreg.db.engine import Database
from modelreg.db.knowledge_models import KnowledgeCollection, KnowledgeConversation
from modelreg.registry.schemas import ModelCreate
from modelreg.registry.service import ModelManagerService

T0 = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)
US = timedelta(microseconds=1)
CALL = {"id": "call_1", "name": "f", "arguments": '{"a": 1}'}  # as tool_calls_json stores it


async def _conversation(db: Database, registry: ModelManagerService, admin: Actor,
                        owner: Actor) -> tuple[uuid.UUID, uuid.UUID]:  # fmt: skip
    assert owner.id is not None
    model = await registry.create_model(
        admin,
        ModelCreate(
            name=f"m-{uuid.uuid4().hex[:6]}", provider="openai", base_url="http://127.0.0.1:9/v1",
            model_id="m", api_key="sk-test-m", is_global=True,
        ),
    )  # fmt: skip
    model_id = uuid.UUID(str(model.id))
    conversation = uuid.uuid4()
    first = uuid.uuid4()
    turn = TurnWrite(owner, owner.id)
    turn.conversation = {
        "id": conversation, "user_id": owner.id, "title": "t", "llm_model_id": model_id,
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    c, u = conversation, owner.id
    turn.messages = [
        message_row(c, u, "user", T0, id=first, content="question"),
        message_row(c, u, "assistant", T0 + US, tool_calls=[CALL], finish_reason="tool_calls"),
        message_row(c, u, "tool", T0 + 2 * US, tool_call_id="call_1", content="42"),
        message_row(c, u, "assistant", T0 + 3 * US, content="the original answer"),
        # regenerated later: the selected alternative, so the original block leaves the path
        message_row(c, u, "assistant", T0 + 4 * US, reply_to_id=first, content="a better one"),
        message_row(c, u, "user", T0 + 5 * US, content="and then?"),
        message_row(c, u, "assistant", T0 + 6 * US, tool_calls=[CALL], content="calling"),
        message_row(c, u, "tool", T0 + 7 * US, tool_call_id="call_1", content="43"),
        message_row(c, u, "assistant", T0 + 8 * US, status="error", content=""),  # left out
    ]
    await TurnWriter(db).write(turn)
    return conversation, model_id


async def test_the_active_path_with_tool_calls_model_and_collections_flag(
    db: Database, registry: ModelManagerService, admin_actor: Actor, user_a: Actor
) -> None:
    conversation, model_id = await _conversation(db, registry, admin_actor, user_a)
    history = await read_history(db, user_a, conversation)
    assert history.model_id == model_id
    assert history.has_collections is False
    seen = [(m.role, m.content, [c.id for c in m.tool_calls], m.tool_call_id)
            for m in history.messages]  # fmt: skip
    assert seen == [
        ("user", "question", [], None),
        ("assistant", "a better one", [], None),
        ("user", "and then?", [], None),
        ("assistant", "calling", ["call_1"], None),
        ("tool", "43", [], "call_1"),
    ]
    assert history.messages[3].tool_calls[0].arguments == {"a": 1}

    async with db.session(user_a) as session:
        collection = KnowledgeCollection(user_id=user_a.id, name="docs")
        session.add(collection)
        await session.flush()
        attached = KnowledgeConversation(
            conversation_id=conversation, collection_id=collection.id, user_id=user_a.id
        )
        session.add(attached)
    assert (await read_history(db, user_a, conversation)).has_collections is True


async def test_another_users_conversation_is_not_found(
    db: Database, registry: ModelManagerService, admin_actor: Actor, user_a: Actor,
    user_b: Actor,
) -> None:  # fmt: skip
    conversation, _ = await _conversation(db, registry, admin_actor, user_a)
    with pytest.raises(ConversationNotFoundError):
        await read_history(db, user_b, conversation)


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
async def test_row_level_security_hides_a_conversation_from_a_caller_naming_its_owner(
    db: Database, registry: ModelManagerService, admin_actor: Actor, user_a: Actor,
    user_b: Actor,
) -> None:  # fmt: skip
    conversation, _ = await _conversation(db, registry, admin_actor, user_a)
    as_b = orjson.dumps({"app_role": db.app_role, "uid": str(user_b.id), "role": user_b.role})
    async with db.driver_connection() as conn:
        rows = await conn.fetch(READ_HISTORY_SQL, as_b.decode(), conversation, user_a.id)
        security = await conn.fetchval(
            "SELECT prosecdef FROM pg_proc WHERE proname = 'modelreg_read_history'"
        )
    assert rows == []
    assert security is False  # SECURITY INVOKER: the caller's policies apply
