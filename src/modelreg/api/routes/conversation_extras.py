"""Per-conversation settings (system prompt, sampling), export as Markdown or JSON, and the
images attached to messages. Another user's conversation answers 404 like a missing one."""

from __future__ import annotations

import uuid
from typing import Annotated, Literal

import orjson
from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ApiError
from modelreg.api.routes.conversations import not_found
from modelreg.chat.conversation_settings import ConversationSettings, SettingsStore
from modelreg.chat.conversation_view import message_views
from modelreg.chat.export import as_json, as_markdown, filename
from modelreg.chat.schemas import ConversationOut
from modelreg.chat.store import owner_id
from modelreg.db.models import MessageImage
from modelreg.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/api/conversations", tags=["conversations"], responses=ERROR_RESPONSES)


def _settings(services: Services) -> SettingsStore:
    return SettingsStore(services.chat.db, services.chat.registry)


@router.get(
    "/{conversation_id}/settings",
    response_model=ConversationSettings,
    summary="The conversation's system prompt and sampling parameters",
)
async def get_settings(
    conversation_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ConversationSettings:
    with not_found():
        return await _settings(services).get(actor, conversation_id)


@router.put(
    "/{conversation_id}/settings",
    response_model=ConversationSettings,
    summary="Set the system prompt and sampling parameters used on every turn (null: none)",
)
async def put_settings(
    conversation_id: uuid.UUID,
    body: ConversationSettings,
    actor: CurrentActor,
    services: ServicesDep,
) -> ConversationSettings:
    with not_found():
        return await _settings(services).put(actor, conversation_id, body)


_EXPORT_DOC = {
    200: {
        "description": "The conversation as a download",
        "content": {"text/markdown": {"schema": {"type": "string"}}, "application/json": {}},
    }
}


@router.get(
    "/{conversation_id}/export",
    response_class=Response,
    responses=_EXPORT_DOC,  # type: ignore[arg-type]
    summary="Download the conversation (selected answers) as Markdown or JSON",
)
async def export(
    conversation_id: uuid.UUID,
    actor: CurrentActor,
    services: ServicesDep,
    format: Annotated[Literal["markdown", "json"], Query()] = "markdown",
) -> Response:
    with not_found():
        conv, rows = await services.chat.conversations.get(actor, conversation_id)
    views = await message_views(services.chat.db, actor, conversation_id, rows)
    path = [m for m in views if m.active]
    head = ConversationOut.of(conv, len(path))
    if format == "json":
        body, media, ext = orjson.dumps(as_json(head, path)), "application/json", "json"
    else:
        body, media, ext = as_markdown(head, path).encode(), "text/markdown; charset=utf-8", "md"
    disposition = f'attachment; filename="{filename(conv.title, ext)}"'
    return Response(body, media_type=media, headers={"Content-Disposition": disposition})


@router.get(
    "/{conversation_id}/images/{image_id}",
    response_class=Response,
    responses={200: {"description": "The image", "content": {"image/*": {}}}},
    summary="An image attached to a message of the conversation",
)
async def image(
    conversation_id: uuid.UUID, image_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> Response:
    with not_found():
        user_id = owner_id(actor)
    table = MessageImage.__table__.c
    async with services.chat.db.connection(actor) as conn:
        found = (
            await conn.execute(
                select(table.media_type, table.data).where(
                    table.id == image_id,
                    table.conversation_id == conversation_id,
                    table.user_id == user_id,
                )
            )
        ).first()
    if found is None:
        raise ApiError(404, "image not found", type="not_found")
    return Response(
        bytes(found.data),
        media_type=found.media_type,
        headers={"Cache-Control": "private, max-age=86400", "X-Content-Type-Options": "nosniff"},
    )
