"""Conversations of the caller: list, create, read (with messages), rename / re-model, delete.
Another user's conversation answers 404, exactly like one that does not exist."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from decimal import Decimal
from typing import Annotated

from fastapi import APIRouter, Query, Response

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ApiError
from modelreg.chat.conversation_view import message_views
from modelreg.chat.schemas import (
    ConversationCreate,
    ConversationDetail,
    ConversationOut,
    ConversationUpdate,
)
from modelreg.chat.search import search_conversations
from modelreg.chat.store import ConversationNotFoundError
from modelreg.decimals import plain

__all__ = ["router"]

router = APIRouter(prefix="/api/conversations", tags=["conversations"], responses=ERROR_RESPONSES)


@contextmanager
def not_found() -> Iterator[None]:
    """Someone else's conversation answers exactly like a missing one."""
    try:
        yield
    except ConversationNotFoundError as e:
        raise ApiError(404, e.message, type="not_found") from None


@router.get("", response_model=list[ConversationOut], summary="The caller's conversations")
async def list_conversations(
    actor: CurrentActor,
    services: ServicesDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    offset: Annotated[int, Query(ge=0, le=1_000_000)] = 0,
    q: Annotated[
        str | None,
        Query(min_length=1, max_length=200, description="Search titles and message text"),
    ] = None,
) -> list[ConversationOut]:
    if q is not None and q.strip():
        rows = await search_conversations(
            services.chat.db, actor, q.strip(), limit=limit, offset=offset
        )
        return [ConversationOut.of(conv, count) for conv, count in rows]
    rows = await services.chat.conversations.list_recent(actor, limit=limit, offset=offset)
    return [ConversationOut.of(conv, count) for conv, count in rows]


@router.post("", response_model=ConversationOut, status_code=201, summary="Start a conversation")
async def create_conversation(
    body: ConversationCreate, actor: CurrentActor, services: ServicesDep
) -> ConversationOut:
    conv = await services.chat.conversations.create(
        actor, title=body.title, model=body.llm_model_id
    )
    return ConversationOut.of(conv, 0)


@router.get(
    "/{conversation_id}",
    response_model=ConversationDetail,
    summary="A conversation with its messages (model, usage and cost per message)",
)
async def get_conversation(
    conversation_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> ConversationDetail:
    with not_found():
        conv, rows = await services.chat.conversations.get(actor, conversation_id)
    messages = await message_views(services.chat.db, actor, conversation_id, rows)
    base = ConversationOut.of(conv, len(messages))
    return ConversationDetail(
        **base.model_dump(),
        messages=messages,
        total_cost=plain(sum((r.cost or Decimal(0) for r in rows), Decimal(0))),
        total_tokens=sum((r.input_tokens or 0) + (r.output_tokens or 0) for r in rows),
    )


@router.patch(
    "/{conversation_id}", response_model=ConversationOut, summary="Rename or change the model"
)
async def update_conversation(
    conversation_id: uuid.UUID,
    body: ConversationUpdate,
    actor: CurrentActor,
    services: ServicesDep,
) -> ConversationOut:
    with not_found():
        conv = await services.chat.conversations.update(
            actor,
            conversation_id,
            title=body.title,
            model=body.llm_model_id,
            clear_model="llm_model_id" in body.model_fields_set and body.llm_model_id is None,
        )
    return ConversationOut.of(conv)


@router.delete("/{conversation_id}", status_code=204, response_class=Response, summary="Delete it")
async def delete_conversation(
    conversation_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> Response:
    with not_found():
        await services.chat.conversations.delete(actor, conversation_id)
    return Response(status_code=204)
