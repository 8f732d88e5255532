"""Thumbs up / down on answers: chat messages (`/api/messages/{id}/feedback`) and gateway
responses by the request id the gateway returned (`/api/responses/{id}/feedback`).

An answer the caller cannot see (someone else's, or none) answers 404 like a missing one.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Annotated

from fastapi import APIRouter, Path, Response

from modelreg.analytics.feedback import (
    FeedbackIn,
    FeedbackOut,
    FeedbackTargetNotFoundError,
    conversation_feedback,
    delete_message_feedback,
    delete_response_feedback,
    rate_message,
    rate_response,
)
from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ApiError, error_responses

__all__ = ["router"]

router = APIRouter(tags=["feedback"])

_ERRORS = error_responses(400, 401, 403, 404, 413, 422)

ResponseId = Annotated[
    str,
    Path(
        pattern=r"^req_[0-9a-f]{24}$",
        description="The request id the gateway returned: the `x-request-id` header "
        "(OpenAI SDK: `response._request_id`) or `request-id` (Anthropic SDK)",
    ),
]


@contextmanager
def _not_found() -> Iterator[None]:
    try:
        yield
    except FeedbackTargetNotFoundError as e:
        raise ApiError(404, e.message, type="not_found") from None


@router.post(
    "/api/messages/{message_id}/feedback",
    summary="Rate a chat answer: thumbs up (1) or down (-1), with an optional comment",
    description="A second rating replaces the first. Only assistant messages of the "
    "caller's own conversations.",
    responses=_ERRORS,
)
async def post_message_feedback(
    message_id: uuid.UUID, body: FeedbackIn, actor: CurrentActor, services: ServicesDep
) -> FeedbackOut:
    with _not_found():
        return await rate_message(services.db, actor, message_id, body)


@router.delete(
    "/api/messages/{message_id}/feedback",
    status_code=204,
    summary="Remove the caller's rating of a chat answer",
    responses=_ERRORS,
)
async def delete_message_feedback_route(
    message_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> Response:
    with _not_found():
        await delete_message_feedback(services.db, actor, message_id)
    return Response(status_code=204)


@router.get(
    "/api/conversations/{conversation_id}/feedback",
    summary="The caller's ratings of the answers of a conversation",
    responses=_ERRORS,
)
async def get_conversation_feedback(
    conversation_id: uuid.UUID, actor: CurrentActor, services: ServicesDep
) -> list[FeedbackOut]:
    with _not_found():
        return await conversation_feedback(services.db, actor, conversation_id)


@router.post(
    "/api/responses/{response_id}/feedback",
    summary="Rate a gateway response by its request id",
    description="For callers of /v1/*: the id is the `x-request-id` (or `request-id`) header "
    "of the response. A second rating replaces the first.",
    responses=_ERRORS,
)
async def post_response_feedback(
    response_id: ResponseId, body: FeedbackIn, actor: CurrentActor, services: ServicesDep
) -> FeedbackOut:
    with _not_found():
        return await rate_response(
            services.db, actor, response_id, body, flush=services.usage.flush
        )


@router.delete(
    "/api/responses/{response_id}/feedback",
    status_code=204,
    summary="Remove the caller's rating of a gateway response",
    responses=_ERRORS,
)
async def delete_response_feedback_route(
    response_id: ResponseId, actor: CurrentActor, services: ServicesDep
) -> Response:
    with _not_found():
        await delete_response_feedback(services.db, actor, response_id, flush=services.usage.flush)
    return Response(status_code=204)
