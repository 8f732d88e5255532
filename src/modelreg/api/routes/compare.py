"""POST /api/chat/compare: one prompt to 2-4 models at once, side by side (JSON or SSE).

Stream events (`event: <type>` + `data: <json>`; see docs/api.md): `compare` first (the
conversation, the stored user message and the columns), then every model's chat events
(`meta`, `text_delta`, `reasoning_delta`, `usage`, `done`, `error`) as they arrive, each
with `column` and `model_id` added, and `end` when every column has finished.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Any

import orjson
from fastapi import APIRouter
from fastapi.responses import Response, StreamingResponse

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ApiError, ErrorBody, status_for
from modelreg.api.routes.conversations import not_found
from modelreg.chat.compare import CompareModelError, CompareRun, CompareService, ModelAnswer
from modelreg.chat.compare_schemas import CompareIn, CompareOut
from modelreg.chat.events import error_type, result_json, usage_json
from modelreg.gateway.sse import sse_frame
from modelreg.types import Usage

__all__ = ["SSE_HEADERS", "model_errors", "router", "stream_doc"]

router = APIRouter(tags=["chat"])

SSE_HEADERS = {"Cache-Control": "no-cache", "X-Accel-Buffering": "no"}


def stream_doc(events: tuple[str, ...], description: str) -> dict[str, Any]:
    return {
        "description": "JSON (`stream: false`) or Server-Sent Events (`stream: true`)",
        "content": {
            "text/event-stream": {
                "schema": {
                    "type": "object",
                    "description": description,
                    "required": ["event", "data"],
                    "properties": {
                        "event": {"enum": list(events)},
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


_EVENTS = ("compare", "meta", "text_delta", "reasoning_delta", "usage", "done", "error", "end")


@contextmanager
def model_errors() -> Iterator[None]:
    """A model that cannot be used is reported with the field that named it."""
    try:
        yield
    except CompareModelError as exc:
        status, kind = status_for(exc.cause)
        raise ApiError(status, exc.message, type=kind, field="model_ids") from None


@router.post(
    "/api/chat/compare",
    response_model=CompareOut,
    responses={
        **ERROR_RESPONSES,
        200: stream_doc(
            _EVENTS,
            "`event: <type>` + `data: <JSON object>`; every event after "
            "`compare` names its `column` and `model_id`",
        ),
        502: {"model": ErrorBody, "description": "The upstream provider failed"},
    },
    summary="Send one prompt to 2-4 models at once and get their answers side by side",
)
async def compare(body: CompareIn, actor: CurrentActor, services: ServicesDep) -> Response:
    service = CompareService(services.chat)
    with not_found(), model_errors():
        run = await service.prepare(
            actor, body.model_ids, body.message, conversation_id=body.conversation_id
        )
        await service.store_input(run)
    if body.stream:
        return StreamingResponse(
            _frames(service, run), media_type="text/event-stream", headers=SSE_HEADERS
        )
    with not_found():
        answers = await service.complete(run)
    out = {
        "conversation_id": str(run.conversation_id),
        "reply_to_id": str(run.reply_to_id),
        "answers": [answer_json(a) for a in answers],
    }
    return Response(orjson.dumps(out), media_type="application/json")


def answer_json(answer: ModelAnswer) -> dict[str, Any]:
    turn, result = answer.turn, answer.result
    base: dict[str, Any] = {"column": answer.column, "model_id": turn.model.id}
    if result is not None:
        data = result_json(result)
        for key in ("conversation_id", "reasoning", "tool_calls", "fallback_reasons"):
            data.pop(key, None)
        return {**base, **data, "error": None}
    error = answer.error
    assert error is not None
    return {
        **base,
        "model": {"id": turn.model.id, "name": turn.model.name},
        "message_id": str(turn.assistant_id),
        "content": "",
        "usage": usage_json(Usage()),
        "cost": "0",
        "latency_ms": round(answer.latency_ms, 3),
        "ttft_ms": None,
        "finish_reason": "error",
        "status": "error",
        "error": {"type": error_type(error), "message": error.message},
    }


async def _frames(service: CompareService, run: CompareRun) -> AsyncIterator[bytes]:
    columns = [
        {"column": i, "model_id": t.model.id, "model_name": t.model.name}
        for i, t in enumerate(run.turns)
    ]
    head = {"conversation_id": str(run.conversation_id), "reply_to_id": str(run.reply_to_id)}
    yield sse_frame({**head, "columns": columns}, "compare")
    async for column, event, data in service.stream(run):
        tagged = {**data, "column": column, "model_id": run.turns[column].model.id}
        yield sse_frame(tagged, event)
    yield sse_frame(head, "end")
