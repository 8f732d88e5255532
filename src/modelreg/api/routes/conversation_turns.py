"""Regenerate or retry an answer, edit a sent message, pick an alternative (see
chat/alternatives.py for what each does to the stored conversation)."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager

from fastapi import APIRouter, Response
from pydantic import ConfigDict, Field, StrictBool, StrictStr

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ApiError
from modelreg.api.routes.chat import STREAM_RESPONSES, answer
from modelreg.api.routes.conversations import not_found
from modelreg.chat.alternatives import Alternatives, MessageNotFoundError, Sampling
from modelreg.chat.conversation_settings import SettingsStore
from modelreg.chat.images import MAX_IMAGES, ImageIn
from modelreg.chat.schemas import ChatOut
from modelreg.nul import NulFree
from modelreg.services import Services

__all__ = ["router"]

router = APIRouter(prefix="/api/conversations", tags=["conversations"])

_MESSAGE = "/{conversation_id}/messages/{message_id}"


class _TurnOptions(NulFree):
    model_config = ConfigDict(extra="forbid")

    model_id: StrictStr | None = Field(
        default=None, max_length=255, description="Registry id or name; default as for a turn"
    )
    stream: StrictBool = Field(default=False, description="Answer as Server-Sent Events")
    temperature: float | None = Field(default=None, ge=0, le=2)
    top_p: float | None = Field(default=None, ge=0, le=1)
    max_tokens: int | None = Field(default=None, ge=1, le=1_000_000)

    def sampling(self) -> Sampling:
        return Sampling(self.model_id, self.temperature, self.top_p, self.max_tokens)


class RegenerateIn(_TurnOptions):
    pass


class EditIn(_TurnOptions):
    content: StrictStr = Field(min_length=1, max_length=1_000_000, description="The new text")
    images: list[ImageIn] | None = Field(default=None, max_length=MAX_IMAGES)


def _alternatives(services: Services) -> Alternatives:
    chat = services.chat
    return Alternatives(chat, SettingsStore(chat.db, chat.registry))


@contextmanager
def _message_not_found() -> Iterator[None]:
    with not_found():
        try:
            yield
        except MessageNotFoundError as e:
            raise ApiError(404, e.message, type="not_found") from None


@router.post(
    f"{_MESSAGE}/regenerate",
    response_model=ChatOut,
    responses=STREAM_RESPONSES,
    summary="Answer a user message again (Regenerate, Retry); earlier answers stay as alternatives",
)
async def regenerate(
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    body: RegenerateIn,
    actor: CurrentActor,
    services: ServicesDep,
) -> Response:
    with _message_not_found():
        turn = await _alternatives(services).regenerate(
            actor, conversation_id, message_id, body.sampling()
        )
    return await answer(services, turn, body.stream)


@router.post(
    f"{_MESSAGE}/edit",
    response_model=ChatOut,
    responses=STREAM_RESPONSES,
    summary="Replace a user message and answer it; the messages after it are deleted",
)
async def edit(
    conversation_id: uuid.UUID,
    message_id: uuid.UUID,
    body: EditIn,
    actor: CurrentActor,
    services: ServicesDep,
) -> Response:
    with _message_not_found():
        turn = await _alternatives(services).edit(
            actor, conversation_id, message_id, body.content, body.images, body.sampling()
        )
    return await answer(services, turn, body.stream)


@router.put(
    f"{_MESSAGE}/selected",
    status_code=204,
    response_class=Response,
    responses=ERROR_RESPONSES,
    summary="Make this answer the selected alternative (the one later turns see)",
)
async def select(
    conversation_id: uuid.UUID, message_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> Response:
    with _message_not_found():
        await _alternatives(services).select(actor, conversation_id, message_id)
    return Response(status_code=204)
