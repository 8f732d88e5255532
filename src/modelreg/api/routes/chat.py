"""POST /api/chat: one chat turn, as JSON or as Server-Sent Events.

Stream events (each `event: <type>` + `data: <json>`; see docs/api.md):
`meta`, `text_delta`, `reasoning_delta`, `tool_call`, `tool_result`, `usage`, `done`, `error`.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from modelreg.actor import Actor
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ErrorBody
from modelreg.api.routes.conversations import not_found
from modelreg.chat.events import result_json
from modelreg.chat.schemas import ChatIn, ChatOut
from modelreg.chat.service import ChatEvent, Turn, TurnInput
from modelreg.chat.stream_start import open_stream
from modelreg.chat.turn_extras import add_extras
from modelreg.experiments.routing import chat_model
from modelreg.gateway.sse import sse_frame
from modelreg.knowledge.chat_turn import with_citations
from modelreg.knowledge.enhancer import TurnKnowledge, turn_knowledge
from modelreg.services import Services

__all__ = ["STREAM_RESPONSES", "answer", "chat_turn", "router", "sse_frame"]

router = APIRouter(tags=["chat"])

_SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}

_STREAM_EVENTS = (
    "meta",
    "text_delta",
    "reasoning_delta",
    "tool_call",
    "tool_result",
    "usage",
    "done",
    "error",
)
_STREAM_DOC: dict[str, Any] = {
    "description": "JSON (`stream: false`) or Server-Sent Events (`stream: true`)",
    "content": {
        "text/event-stream": {
            "schema": {  # one event (OpenAPI before 3.2: `schema` describes each event)
                "type": "object",
                "description": "`event: <type>` + `data: <JSON object>`; the `done` event's "
                "data is the JSON answer (ChatOut)",
                "required": ["event", "data"],
                "properties": {
                    "event": {"enum": list(_STREAM_EVENTS)},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": {"type": "object"},
                    },
                },
            }
        }
    },
}


async def answer(
    services: Services, turn: Turn, stream: bool, knowledge: TurnKnowledge | None = None
) -> Response:
    """The turn answered as JSON or as a stream (also for regenerate and edit); with
    `knowledge`, the passages the enhancer used are cited on the answer."""
    if stream:
        # the model is called while the input is stored; the stream starts once it is (a
        # database outage is still a 503, and the conversation `meta` announces exists)
        with not_found():
            events = await open_stream(services.chat, turn)
        if knowledge is not None:
            events = with_citations(events, services.knowledge, turn.actor, knowledge)
        return StreamingResponse(_frames(events), media_type="text/event-stream",
                                 headers=_SSE_HEADERS)  # fmt: skip
    with not_found():  # the conversation was deleted while the model answered
        result = await services.chat.complete(turn)
    data = result_json(result)
    if knowledge is not None and knowledge.citations:
        await services.knowledge.cite(turn.actor, result.message_id, knowledge.citations)
        data["citations"] = knowledge.citations
    return Response(orjson.dumps(data), media_type="application/json")


async def _frames(events: AsyncIterator[ChatEvent]) -> AsyncIterator[bytes]:
    async for event, data in events:
        yield sse_frame(data, event)


STREAM_RESPONSES: dict[int | str, dict[str, Any]] = {
    **ERROR_RESPONSES,
    200: _STREAM_DOC,
    502: {"model": ErrorBody, "description": "The upstream provider failed"},
}


@router.post(
    "/api/chat",
    response_model=ChatOut,
    responses=STREAM_RESPONSES,
    summary="Send a message and get the model's answer",
)
async def chat(body: ChatIn, actor: CurrentActor, services: ServicesDep) -> Response:
    return await chat_turn(services, actor, body)


async def chat_turn(services: Services, actor: Actor, body: ChatIn) -> Response:
    """One turn of `POST /api/chat`, as the route and the raw ASGI fast path (api/fastpath.py)
    answer it."""
    with turn_knowledge(TurnKnowledge(mode=body.retrieval_mode)) as knowledge:
        return await _chat(body, actor, services, knowledge)


async def _chat(
    body: ChatIn, actor: Actor, services: Services, knowledge: TurnKnowledge
) -> Response:
    model = body.model_id
    if body.experiment_id is not None:  # an A/B experiment picks the model: one arm's
        model = await chat_model(services, actor, body.experiment_id, body.conversation_id, model)
    with not_found():
        turn = await services.chat.prepare(
            actor,
            TurnInput(
                messages=body.unified_messages(),
                conversation_id=body.conversation_id,
                model=model,
                server_tools=body.server_tools(),
                client_tools=body.client_tools(),
                tool_choice=body.tool_choice,
                temperature=body.temperature,
                top_p=body.top_p,
                max_tokens=body.max_tokens,
                title=body.title,
            ),
        )
        await add_extras(services.chat, turn, body.images)  # settings, images
    if body.collection_ids is not None:  # another user's collection: 404, nothing stored
        await services.knowledge.attach(actor, turn.conversation_id, body.collection_ids)
        knowledge.collections = list(dict.fromkeys(body.collection_ids))
    elif turn.has_collections is False:  # none attached (a new conversation): no query
        knowledge.collections = []
    return await answer(services, turn, body.stream, knowledge)
