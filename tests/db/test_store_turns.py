"""PostgreSQL: a batch of chat turns in one statement, `modelreg_store_turns` (migration 0015).

The turn writer sends a batch as one autocommitted call of a SECURITY INVOKER function that
sets the RLS context per user and writes the rows. These tests check that it stores every
column exactly as the Core INSERTs did (the reference path, `one_statement=False`), that it
is one statement, that RLS still refuses another user's rows, that a batch with one bad turn
still stores the others, (The migration's way down and up: tests/db/test_migrations.py.)
"""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

import asyncpg
import pytest
from sqlalchemy import event

from modelreg.actor import Actor
from modelreg.chat.pg_turns import STORE_TURNS_SQL
from modelreg.chat.store import ConversationNotFoundError, message_row
from modelreg.chat.turn_writer import ConversationTouch, TurnWrite, TurnWriter
from modelreg.db.engine import Database
from modelreg.registry.schemas import ModelCreate
from modelreg.registry.service import ModelManagerService
from tests.fixtures.db import PG_HOST, PG_PORT, PG_USER

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]

_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
T0 = datetime(2026, 12, 6, 1, 2, 3, 456789, tzinfo=UTC)
NASTY = "héllo \"wörld\" \\n \\\\ 'x' 🎉 \t tab\nnewline \u2028 </script> %s $1 ${x} \\u0000"


@pytest.fixture
async def pg(db_url: str) -> AsyncIterator[asyncpg.Connection]:
    """The database as the superuser, which reads past RLS (`db` may connect as a
    least-privilege login role: MODELREG_TEST_PG_LOGIN_ROLE, tests/db/test_login_role.py)."""
    database = db_url.rsplit("/", 1)[1]
    conn = await asyncpg.connect(user=PG_USER, host=PG_HOST, port=PG_PORT, database=database)
    try:
        yield conn
    finally:
        await conn.close()


class Ids:
    """Fresh ids by name, so that two paths can write the same turns side by side, and their
    rows be compared with the ids named."""

    def __init__(self) -> None:
        self.by_name: dict[str, uuid.UUID] = {}
        self.names: dict[str, str] = {}

    def __call__(self, name: str) -> uuid.UUID:
        if name not in self.by_name:
            made = uuid.uuid4()
            self.by_name[name] = made
            self.names[str(made)] = name
        return self.by_name[name]

    def named(self, text: str) -> str:
        return _UUID.sub(lambda m: self.names.get(m.group(0), m.group(0)), text)


def _turns(
    ids: Ids, a: Actor, b: Actor, model: uuid.UUID, experiment: uuid.UUID
) -> tuple[list[TurnWrite], list[TurnWrite]]:
    """Turns of every shape: new conversations (with and without their settings), tool
    rounds, usage, cost and prices, errors, odd text; then continuing turns that touch their
    conversation, with and without a named model, twice in one batch.

    The rows of one user in one batch have the same keys: the Core path's multi-row INSERT
    takes its columns from the first row (a key only later rows have is dropped, one the
    first has and a later one lacks fails the batch). The function takes each row as it is;
    rows of another user (b) leave optional keys out."""
    assert a.id is not None
    assert b.id is not None
    us = timedelta(microseconds=1)
    full = TurnWrite(a, a.id)
    full.conversation = {
        "id": ids("c1"), "user_id": a.id, "title": 'Ünï "t" \\ \'q\' ✓', "llm_model_id": model,
        "created_at": T0, "updated_at": T0, "system_prompt": "be \"brief\" \\ ✓\x00",
        "temperature": 0.7, "top_p": 0.1 + 0.2, "max_tokens": 512,
    }  # fmt: skip
    full.messages = [
        message_row(ids("c1"), a.id, "user", T0, id=ids("m1"), content=NASTY, citations=None),
        message_row(
            ids("c1"), a.id, "assistant", T0 + us, id=ids("m2"), reply_to_id=ids("m1"),
            tool_calls=[{"id": "call_1", "type": "function",
                         "function": {"name": "f", "arguments": '{"a": "é\\\\ \\u0000"}'}}],
            finish_reason="tool_calls", llm_model_id=model, model_name="m",
            input_tokens=10, output_tokens=20, cached_tokens=3, reasoning_tokens=4,
            cost=Decimal("0.000123456789012345678"), latency_ms=12.345678901234567,
            ttft_ms=1e-7, price_per_input_token=Decimal("0.0000025"),
            price_per_output_token=Decimal("1E-5"), price_per_cache_read_token=Decimal("0"),
            price_per_cache_write_token=Decimal("123456789012345.123456789012345"),
            experiment_id=experiment, experiment_arm_id=ids("arm"), selected_at=T0 + 2 * us,
            citations=[{"document": "d", "chunk": 1, "score": 0.5, "text": NASTY}],
        ),
        message_row(
            ids("c1"), a.id, "tool", T0 + 2 * us, id=ids("m3"), tool_call_id="call_1",
            content='{"result": "ok"}', citations=None,
        ),
        message_row(
            ids("c1"), a.id, "assistant", T0 + 3 * us, id=ids("m4"), status="error",
            error="upstream said \x00 no", usage_estimated=True, latency_ms=float("inf"),
            ttft_ms=-0.0, cost=Decimal("1.5"), model_name="m", citations=None,
        ),
    ]  # fmt: skip
    plain = TurnWrite(b, b.id)
    plain.conversation = {
        "id": ids("c2"), "user_id": b.id, "title": "New conversation", "llm_model_id": None,
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    plain.messages = [
        message_row(ids("c2"), b.id, "user", T0, id=ids("m5"), content="hi"),
        message_row(
            ids("c2"), b.id, "assistant", T0 + us, id=ids("m6"), content="ok",
            selected_at=datetime(2026, 1, 1, 12, 30),  # naive: taken as UTC
        ),
    ]  # fmt: skip
    second = TurnWrite(a, a.id)
    second.conversation = {
        "id": ids("c3"), "user_id": a.id, "title": "three", "llm_model_id": model,
        "created_at": T0, "updated_at": T0, "system_prompt": None, "temperature": None,
        "top_p": None, "max_tokens": None,
    }  # fmt: skip
    second.messages = [
        message_row(ids("c3"), a.id, "user", T0, id=ids("m7"), content="3", citations=None)
    ]

    t1 = T0 + timedelta(seconds=5)
    touch = TurnWrite(a, a.id, touch=ConversationTouch(ids("c1"), t1))
    touch.messages = [message_row(ids("c1"), a.id, "user", t1, id=ids("m8"), content="again")]
    named = TurnWrite(b, b.id, touch=ConversationTouch(ids("c2"), t1, True, model))
    named.messages = [message_row(ids("c2"), b.id, "user", t1, id=ids("m9"), content="named")]
    unnamed = TurnWrite(a, a.id, touch=ConversationTouch(ids("c3"), t1, True, None))
    # a second touch of c1 in the same batch, earlier, with a model: the Core path runs the
    # UPDATEs with a model after the others, so this one's time and model are what stays
    again = TurnWrite(a, a.id, touch=ConversationTouch(ids("c1"), t1 - us, True, model))
    return [full, plain, second], [touch, named, unnamed, again]


async def _dump(pg: asyncpg.Connection, ids: Ids) -> dict[str, list[str]]:
    """Every row the turns wrote, as text (json columns verbatim, numerics with their scale,
    timestamps in UTC), with SQL NULL and JSON null told apart, ids named."""
    await pg.execute("SET TIME ZONE 'UTC'")
    known = list(ids.by_name.values())
    out = {}
    for table, json_columns in (("conversations", ()), ("messages", ("tool_calls", "citations"))):
        nulls = "".join(f", {c} IS NULL, {c}::text" for c in json_columns)
        rows = await pg.fetch(
            f"SELECT row_to_json(t)::text{nulls} FROM {table} t WHERE id = ANY($1::uuid[])",  # noqa: S608
            known,
        )
        out[table] = sorted(ids.named(" | ".join(map(str, row.values()))) for row in rows)
    return out


async def _fixtures(
    registry: ModelManagerService, admin: Actor, pg: asyncpg.Connection
) -> tuple[uuid.UUID, uuid.UUID]:
    model = await registry.create_model(
        admin,
        ModelCreate(
            name="m", provider="openai", base_url="http://127.0.0.1:9/v1", model_id="m",
            api_key="sk-test-m", is_global=True,
        ),
    )  # fmt: skip
    experiment = uuid.uuid4()
    await pg.execute(
        "INSERT INTO experiments (id, user_id, name, description, status, arms, created_at,"
        " updated_at) VALUES ($1, NULL, 'e', '', 'draft', '[]', now(), now())",
        experiment,
    )
    # as asyncpg reads it (its own uuid.UUID subclass, which orjson does not take as is)
    read = await pg.fetchval("SELECT id FROM llm_models WHERE id = $1", uuid.UUID(str(model.id)))
    assert type(read) is not uuid.UUID
    return read, experiment


async def test_one_statement_stores_every_column_as_the_core_inserts_did(
    db: Database,
    registry: ModelManagerService,
    admin_actor: Actor,
    user_a: Actor,
    user_b: Actor,
    pg: asyncpg.Connection,
) -> None:
    model, experiment = await _fixtures(registry, admin_actor, pg)
    dumps = []
    for one_statement in (False, True):
        writer = TurnWriter(db, one_statement=one_statement)
        ids = Ids()
        for batch in _turns(ids, user_a, user_b, model, experiment):
            await writer._transaction(batch)  # one batch, several users in it
        dumps.append(await _dump(pg, ids))
    core, function = dumps
    assert len(function["conversations"]) == 3
    assert len(function["messages"]) == 9
    for table in core:
        for old, new in zip(core[table], function[table], strict=True):
            assert new == old
    stored = "\n".join(function["messages"] + function["conversations"])
    assert "\ufffd" in stored
    assert "\x00" not in stored
    assert '"updated_at":"2026-12-06T01:02:08.456788+00:00","system_prompt"' in stored
    assert '"selected_at":"2026-01-01T12:30:00+00:00"' in stored


async def test_the_turns_fill_every_column_so_a_new_column_needs_a_new_function(
    db: Database,
    registry: ModelManagerService,
    admin_actor: Actor,
    user_a: Actor,
    user_b: Actor,
    pg: asyncpg.Connection,
) -> None:
    """The function lists the columns it writes (migration 0015). A migration that adds a
    column to conversations or messages must replace it and add the column to the turns
    above, or this fails: the comparison above would not see a column nobody fills."""
    model, experiment = await _fixtures(registry, admin_actor, pg)
    writer = TurnWriter(db)
    ids = Ids()
    for batch in _turns(ids, user_a, user_b, model, experiment):
        await writer._transaction(batch)
    known = list(ids.by_name.values())
    for table in ("conversations", "messages"):
        columns = [
            r[0]
            for r in await pg.fetch(
                "SELECT column_name FROM information_schema.columns WHERE table_name = $1",
                table,
            )
        ]
        counts = ", ".join(f"count({c}) AS {c}" for c in columns)
        row = await pg.fetchrow(
            f"SELECT {counts} FROM {table} WHERE id = ANY($1::uuid[])",  # noqa: S608
            known,
        )
        assert row is not None
        assert [c for c in columns if row[c] == 0] == [], table


async def test_a_batch_is_one_statement_outside_sqlalchemy(
    db: Database, user_a: Actor, user_b: Actor, pg: asyncpg.Connection, monkeypatch: Any
) -> None:
    assert user_a.id is not None
    assert user_b.id is not None
    through_sqlalchemy: list[str] = []
    event.listen(
        db.engine.sync_engine,
        "before_cursor_execute",
        lambda _c, _cur, statement, *_: through_sqlalchemy.append(statement),
    )
    sent: list[tuple[int, str]] = []  # (connection, statement): other tasks' BEGINs aside
    execute = asyncpg.Connection.execute

    async def counting(self: asyncpg.Connection, query: str, *args: Any, **kw: Any) -> str:
        sent.append((id(self), query))
        return await execute(self, query, *args, **kw)

    monkeypatch.setattr(asyncpg.Connection, "execute", counting)
    ids = Ids()
    works = []
    for actor in (user_a, user_b):
        assert actor.id is not None
        c = ids(f"c-{actor.username}")
        work = TurnWrite(actor, actor.id)
        work.conversation = {"id": c, "user_id": actor.id, "title": "t", "llm_model_id": None,
                             "created_at": T0, "updated_at": T0}  # fmt: skip
        work.messages = [message_row(c, actor.id, "user", T0), message_row(c, actor.id, "x", T0)]
        works.append(work)
    await TurnWriter(db)._transaction(works)
    assert through_sqlalchemy == []
    writer = [conn for conn, query in sent if query == STORE_TURNS_SQL]
    assert len(writer) == 1
    assert [query for conn, query in sent if conn == writer[0]] == [STORE_TURNS_SQL]
    assert await pg.fetchval("SELECT count(*) FROM messages") == 4  # committed on its own


async def test_rls_refuses_rows_of_another_user_in_the_batch(
    db: Database, user_a: Actor, user_b: Actor, pg: asyncpg.Connection
) -> None:
    assert user_a.id is not None
    assert user_b.id is not None
    assert await pg.fetchval(
        "SELECT NOT prosecdef FROM pg_proc WHERE proname = 'modelreg_store_turns'"
    )  # SECURITY INVOKER: the caller's policies apply
    writer = TurnWriter(db)
    theirs = uuid.uuid4()  # b's conversation, made by b
    own = TurnWrite(user_b, user_b.id)
    own.conversation = {"id": theirs, "user_id": user_b.id, "title": "b", "llm_model_id": None,
                        "created_at": T0, "updated_at": T0}  # fmt: skip
    await writer.write(own)

    good = TurnWrite(user_a, user_a.id)  # a good turn in the same call is not stored either
    mine = uuid.uuid4()
    good.conversation = {"id": mine, "user_id": user_a.id, "title": "a", "llm_model_id": None,
                         "created_at": T0, "updated_at": T0}  # fmt: skip
    sneaky_conversation = TurnWrite(user_a, user_a.id)
    sneaky_conversation.conversation = {
        "id": uuid.uuid4(), "user_id": user_b.id, "title": "x", "llm_model_id": None,
        "created_at": T0, "updated_at": T0,
    }  # fmt: skip
    sneaky_message = TurnWrite(user_a, user_a.id)
    sneaky_message.messages = [message_row(theirs, user_b.id, "user", T0, content="x")]
    for sneaky in (sneaky_conversation, sneaky_message):
        with pytest.raises(asyncpg.InsufficientPrivilegeError, match="row-level security"):
            await writer._transaction([good, sneaky])
        with pytest.raises(asyncpg.InsufficientPrivilegeError):
            await writer.write(sneaky)  # turn by turn too
    assert await pg.fetchval("SELECT count(*) FROM conversations") == 1  # b's own only
    assert await pg.fetchval("SELECT count(*) FROM messages") == 0

    # a touch of b's conversation from a's turn finds nothing to update
    await writer._transaction(
        [TurnWrite(user_a, user_a.id, touch=ConversationTouch(theirs, T0 + timedelta(1)))]
    )
    assert await pg.fetchval("SELECT updated_at FROM conversations WHERE id = $1", theirs) == T0


async def test_one_bad_turn_in_a_batch_does_not_fail_the_others(
    db: Database, user_a: Actor, pg: asyncpg.Connection
) -> None:
    assert user_a.id is not None
    writer = TurnWriter(db)
    works = []
    for n in range(3):
        c = uuid.uuid4()
        work = TurnWrite(user_a, user_a.id)
        if n == 1:  # continues a conversation that is gone: its message has no conversation
            work.touch = ConversationTouch(c, T0)
        else:
            work.conversation = {
                "id": c, "user_id": user_a.id, "title": str(n), "llm_model_id": None,
                "created_at": T0, "updated_at": T0,
            }  # fmt: skip
        work.messages = [message_row(c, user_a.id, "user", T0, content=str(n))]
        works.append(work)
    results = await asyncio.gather(*(writer.write(w) for w in works), return_exceptions=True)
    assert results[0] is None
    assert results[2] is None
    assert isinstance(results[1], ConversationNotFoundError)
    rows = await pg.fetch("SELECT content FROM messages ORDER BY content")
    assert [r[0] for r in rows] == ["0", "2"]


async def test_a_cancelled_statement_on_the_driver_connection_is_not_pooled(db: Database) -> None:
    """The batch goes around SQLAlchemy, which then does not know what state a cancelled
    statement left the connection in: it is dropped, not reused."""
    held: list[asyncpg.Connection] = []

    async def slow() -> None:
        async with db.driver_connection() as conn:
            held.append(conn)
            await conn.execute("SELECT pg_sleep(5)")

    task = asyncio.create_task(slow())
    while not held:
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.1)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    assert held[0].is_closed()
    async with db.driver_connection() as conn:  # the pool goes on with a fresh one
        assert conn is not held[0]
        assert await conn.fetchval("SELECT 1") == 1
