"""Row-level security of the feedback tables and the analytics rollup (migration 0014) on
PostgreSQL, with raw SQL under the app role: feedback is its owner's (admins read it for the
analytics, never write it); the rollup's owner reads their rows, admins all (the company-wide
rows included), only the system context (the recorder) writes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from decimal import Decimal

import asyncpg
import pytest

from modelreg.actor import Actor
from modelreg.chat.usage import UsageRecorder
from modelreg.db.analytics_models import EVERYONE
from modelreg.db.engine import Database
from modelreg.db.models import Conversation, Message
from tests.db.conftest import act_as

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


async def _answer(db: Database, owner: Actor) -> uuid.UUID:
    async with db.session(owner) as session:
        conversation = Conversation(id=uuid.uuid4(), user_id=owner.id)
        session.add(conversation)
        await session.flush()
        answer = Message(
            conversation_id=conversation.id, user_id=owner.id, role="assistant", content="ok"
        )
        session.add(answer)
        await session.flush()
        return answer.id


_RATE = (
    "INSERT INTO message_feedback (message_id, user_id, rating, created_at, updated_at)"
    " VALUES ($1, $2, $3, now(), now())"
)


async def test_feedback_is_the_owners_and_admins_only_read_it(
    db: Database, admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    a_answer, b_answer = await _answer(db, user_a), await _answer(db, user_b)
    await act_as(app_conn, user_a)
    await app_conn.execute(_RATE, a_answer, user_a.id, 1)
    # not in someone else's name, and not someone else's row
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(_RATE, b_answer, user_b.id, -1)
    await act_as(app_conn, user_b)
    await app_conn.execute(_RATE, b_answer, user_b.id, -1)
    ours = [a_answer, b_answer]
    rows = "SELECT user_id, rating FROM message_feedback WHERE message_id = ANY($1)"
    assert await app_conn.fetch(rows, ours) == [(user_b.id, -1)]
    assert await app_conn.execute("UPDATE message_feedback SET rating = 1") == "UPDATE 1"
    await act_as(app_conn, user_a)
    assert await app_conn.fetch(rows, ours) == [(user_a.id, 1)]
    assert await app_conn.execute("DELETE FROM message_feedback") == "DELETE 1"

    await act_as(app_conn, None)
    assert await app_conn.fetch(rows, ours) == []
    await act_as(app_conn, admin_actor)
    assert await app_conn.fetch(rows, ours) == [(user_b.id, 1)]
    assert await app_conn.execute("UPDATE message_feedback SET rating = -1") == "UPDATE 0"
    assert await app_conn.execute("DELETE FROM message_feedback") == "DELETE 0"
    await act_as(app_conn, user_a)
    with pytest.raises(asyncpg.CheckViolationError):  # the rating is +1 or -1, nothing else
        await app_conn.execute(_RATE, a_answer, user_a.id, 5)


async def test_response_feedback_is_the_owners(
    admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    rate = (
        "INSERT INTO response_feedback (request_id, user_id, model_name, answered_at, rating,"
        " created_at, updated_at) VALUES ($1, $2, 'm', $3, 1, now(), now())"
    )
    mine, theirs = f"req_{uuid.uuid4().hex[:24]}", f"req_{uuid.uuid4().hex[:24]}"
    read = "SELECT request_id FROM response_feedback WHERE request_id = ANY($1)"
    await act_as(app_conn, user_a)
    await app_conn.execute(rate, mine, user_a.id, datetime.now(UTC))
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(rate, theirs, user_b.id, datetime.now(UTC))
    await act_as(app_conn, user_b)
    assert await app_conn.fetch(read, [mine, theirs]) == []
    await act_as(app_conn, admin_actor)
    assert await app_conn.fetch(read, [mine, theirs]) == [(mine,)]


async def test_rollup_owner_reads_own_admin_all_only_system_writes(
    db: Database, admin_actor: Actor, user_a: Actor, user_b: Actor, app_conn: asyncpg.Connection
) -> None:
    name = f"m-{uuid.uuid4().hex[:8]}"  # this test's rows only
    recorder = UsageRecorder(db, linger=0)
    await recorder.start()
    for owner, calls in ((user_a, 1), (user_b, 2)):
        for _ in range(calls):
            recorder.record(user_id=owner.id, llm_model_id=None, model_name=name, source="openai",
                            cost=Decimal("0.5"), latency_ms=100.0)  # fmt: skip
    await recorder.stop()
    rows = (
        "SELECT user_id, requests FROM usage_stats_daily"  # noqa: S608 - a generated name
        f" WHERE model_name = '{name}' ORDER BY requests"
    )

    await act_as(app_conn, user_a)
    assert await app_conn.fetch(rows) == [(user_a.id, 1)]  # not the company-wide rows
    assert await app_conn.execute("UPDATE usage_stats_daily SET requests = 0") == "UPDATE 0"
    assert await app_conn.execute("DELETE FROM usage_stats_daily") == "DELETE 0"
    await act_as(app_conn, None)
    assert await app_conn.fetch(rows) == []
    await act_as(app_conn, admin_actor)
    assert await app_conn.fetch(rows) == [(user_a.id, 1), (user_b.id, 2), (EVERYONE, 3)]
    assert await app_conn.execute("DELETE FROM usage_stats_daily") == "DELETE 0"
