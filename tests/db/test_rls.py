"""Row-level security on PostgreSQL, checked with raw SQL under the application role.

The service layer filters by owner too; these tests show that the database refuses on its
own, so a query that forgets the filter still cannot see another user's rows.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator
from decimal import Decimal

import asyncpg
import pytest
from sqlalchemy import select

from modelreg.actor import Actor
from modelreg.db.engine import Database
from modelreg.db.models import ApiToken, Conversation, LLMModel, Message, UsageEvent
from modelreg.registry.schemas import ModelCreate
from modelreg.registry.service import ModelManagerService

# PostgreSQL only: override the sqlite/postgres parametrization of the db fixtures
pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


@pytest.fixture
def pg_dsn(superuser_pg_url: str | None) -> str:
    assert superuser_pg_url is not None
    return superuser_pg_url.replace("postgresql+asyncpg://", "postgresql://")


def _model(name: str, *, is_global: bool = False) -> ModelCreate:
    return ModelCreate(
        name=name,
        provider="openai",
        base_url="http://127.0.0.1:9/v1",
        model_id="m",
        api_key="sk-test-" + name,
        is_global=is_global,
    )


async def _seed_private_rows(db: Database, owner: Actor, model_id: uuid.UUID) -> None:
    async with db.session(owner) as session:
        conversation = Conversation(id=uuid.uuid4(), user_id=owner.id, llm_model_id=model_id)
        session.add(conversation)
        await session.flush()
        session.add(
            Message(conversation_id=conversation.id, user_id=owner.id, role="user", content="hi")
        )
        session.add(
            UsageEvent(
                user_id=owner.id, llm_model_id=model_id, model_name="m", source="chat",
                cost=Decimal("0.001"),
            )
        )  # fmt: skip
        session.add(ApiToken(user_id=owner.id, token_hash=uuid.uuid4().hex * 2, prefix="mr-x"))


@pytest.fixture
async def app_conn(pg_dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(pg_dsn)
    try:
        yield conn
    finally:
        await conn.close()


async def _as(conn: asyncpg.Connection, actor: Actor | None) -> None:
    """Switch this raw connection to the app role with `actor`'s context (None: no context)."""
    await conn.execute("SET ROLE modelreg_app")
    await conn.execute(
        "SELECT set_config('modelreg.user_id', $1, false), set_config('modelreg.role', $2, false)",
        str(actor.id) if actor and actor.id else "",
        actor.role if actor else "",
    )


async def test_raw_select_as_user_a_returns_none_of_user_bs_rows(
    db: Database,
    registry: ModelManagerService,
    admin_actor: Actor,
    user_a: Actor,
    user_b: Actor,
    app_conn: asyncpg.Connection,
) -> None:
    shared = await registry.create_model(admin_actor, _model("shared", is_global=True))
    a_model = await registry.create_model(user_a, _model("a-model"))
    b_model = await registry.create_model(user_b, _model("b-model"))
    await _seed_private_rows(db, user_a, a_model.id)
    await _seed_private_rows(db, user_b, b_model.id)

    await _as(app_conn, user_a)
    assert await app_conn.fetchval("SELECT current_user") == "modelreg_app"
    models = {r["id"] for r in await app_conn.fetch("SELECT id FROM llm_models")}
    assert models == {shared.id, a_model.id}
    for table in ("conversations", "messages", "usage_events", "api_tokens"):
        owners = {r["user_id"] for r in await app_conn.fetch(f"SELECT user_id FROM {table}")}  # noqa: S608
        assert owners == {user_a.id}, table

    # writes to B's rows silently match nothing; writes as B are refused
    assert await app_conn.execute("DELETE FROM llm_models WHERE id = $1", b_model.id) == "DELETE 0"
    assert await app_conn.execute("UPDATE conversations SET title = 'x'") == "UPDATE 1"
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(
            "INSERT INTO conversations (id, user_id, title, created_at, updated_at)"
            " VALUES ($1, $2, 't', now(), now())",
            uuid.uuid4(),
            user_b.id,
        )


async def test_only_admins_write_global_models(
    registry: ModelManagerService,
    admin_actor: Actor,
    user_a: Actor,
    app_conn: asyncpg.Connection,
) -> None:
    shared = await registry.create_model(admin_actor, _model("shared", is_global=True))
    await _as(app_conn, user_a)
    assert (
        await app_conn.execute("UPDATE llm_models SET enabled = false WHERE id = $1", shared.id)
        == "UPDATE 0"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(
            "INSERT INTO llm_models (id, name, description, provider, base_url, model_id,"
            " auth_type, supports_streaming, supports_functions, supports_vision,"
            " price_per_input_token, price_per_output_token, enabled, is_global,"
            " fallback_model_ids, options, source, created_at, updated_at)"
            " VALUES ($1, 'sneaky', '', 'openai', 'http://x', 'm', 'bearer', true, true, false,"
            " 0, 0, true, true, '[]', '{}', 'db', now(), now())",
            uuid.uuid4(),
        )
    await _as(app_conn, admin_actor)
    assert (
        await app_conn.execute("UPDATE llm_models SET enabled = false WHERE id = $1", shared.id)
        == "UPDATE 1"
    )


async def test_admin_reads_usage_of_everyone_but_not_conversations(
    db: Database,
    registry: ModelManagerService,
    admin_actor: Actor,
    user_b: Actor,
    app_conn: asyncpg.Connection,
) -> None:
    b_model = await registry.create_model(user_b, _model("b-model"))
    await _seed_private_rows(db, user_b, b_model.id)
    await _as(app_conn, admin_actor)
    assert await app_conn.fetchval("SELECT count(*) FROM usage_events") == 1
    assert await app_conn.fetchval("SELECT count(*) FROM conversations") == 0
    assert await app_conn.fetchval("SELECT count(*) FROM messages") == 0
    assert await app_conn.fetchval("SELECT count(*) FROM llm_models") == 0


async def test_no_context_sees_only_global_models(
    registry: ModelManagerService,
    admin_actor: Actor,
    user_a: Actor,
    app_conn: asyncpg.Connection,
) -> None:
    await registry.create_model(admin_actor, _model("shared", is_global=True))
    await registry.create_model(user_a, _model("a-model"))
    await _as(app_conn, None)
    names = {r["name"] for r in await app_conn.fetch("SELECT name FROM llm_models")}
    assert names == {"shared"}
    assert await app_conn.fetchval("SELECT count(*) FROM api_tokens") == 0


async def test_unfiltered_orm_query_in_a_user_session_is_still_filtered(
    pg_dsn: str, db: Database, registry: ModelManagerService, user_a: Actor, user_b: Actor
) -> None:
    """Database.session switches to the app role: a query without an owner filter (a bug
    in some future service) still cannot return another user's rows."""
    await registry.create_model(user_a, _model("a-model"))
    await registry.create_model(user_b, _model("b-model"))
    async with db.session(user_a) as session:
        names = set(await session.scalars(select(LLMModel.name)))
    assert names == {"a-model"}


async def test_deleting_a_model_detaches_other_users_conversations(
    pg_dsn: str,
    db: Database,
    registry: ModelManagerService,
    admin_actor: Actor,
    user_b: Actor,
) -> None:
    """The FK action (SET NULL) reaches rows the deleting admin cannot see."""
    shared = await registry.create_model(admin_actor, _model("shared", is_global=True))
    await _seed_private_rows(db, user_b, shared.id)
    await registry.delete_model(admin_actor, shared.id)
    async with db.session(user_b) as session:
        conversation = (await session.scalars(select(Conversation))).one()
        message = (await session.scalars(select(Message))).one()
    assert conversation.llm_model_id is None
    assert message.content == "hi"
