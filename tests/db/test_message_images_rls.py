"""message_images (migration 0011) is the owner's only, like messages: raw SQL under the
application role in user A's context sees none of B's images and cannot write one in B's
name."""

from __future__ import annotations

import uuid

import asyncpg
import pytest

from modelreg.actor import Actor
from modelreg.db.engine import Database
from modelreg.db.models import Conversation, Message, MessageImage
from tests.db.test_rls import _as, app_conn, pg_dsn  # noqa: F401 - fixtures

pytestmark = [pytest.mark.postgres, pytest.mark.parametrize("db_url", ["postgres"], indirect=True)]


async def _image_of(db: Database, owner: Actor) -> tuple[uuid.UUID, uuid.UUID]:
    """(conversation id, message id) of a new conversation with one image, as `owner`."""
    assert owner.id is not None
    async with db.session(owner) as session:
        conversation = Conversation(id=uuid.uuid4(), user_id=owner.id)
        session.add(conversation)
        await session.flush()
        message = Message(
            conversation_id=conversation.id, user_id=owner.id, role="user", content="look"
        )
        session.add(message)
        await session.flush()
        session.add(
            MessageImage(
                message_id=message.id, conversation_id=conversation.id, user_id=owner.id,
                position=0, media_type="image/png", data=b"\x89PNG\r\n\x1a\n",
            )
        )  # fmt: skip
        return conversation.id, message.id


async def test_a_user_sees_and_writes_only_their_own_images(
    db: Database,
    user_a: Actor,
    user_b: Actor,
    app_conn: asyncpg.Connection,  # noqa: F811
) -> None:
    await _image_of(db, user_a)
    b_conversation, b_message = await _image_of(db, user_b)
    await _as(app_conn, user_a)
    owners = {r["user_id"] for r in await app_conn.fetch("SELECT user_id FROM message_images")}
    assert owners == {user_a.id}
    assert await app_conn.execute("DELETE FROM message_images WHERE user_id = $1", user_b.id) == (
        "DELETE 0"
    )
    with pytest.raises(asyncpg.InsufficientPrivilegeError):
        await app_conn.execute(
            "INSERT INTO message_images (id, message_id, conversation_id, user_id, position,"
            " media_type, data, created_at) VALUES ($1, $2, $3, $4, 0, 'image/png', $5, now())",
            uuid.uuid4(), b_message, b_conversation, user_b.id, b"x",
        )  # fmt: skip
