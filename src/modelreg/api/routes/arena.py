"""The blind arena: POST /api/arena/battles (two random models, names hidden), POST
/api/arena/battles/{battle_id}/vote (once; reveals the names), GET /api/arena/leaderboard.

Stream events of a battle: `battle` first (its id, the conversation, the columns A and B),
then `meta`, `text_delta`, `reasoning_delta`, `done`, `error` per column with `column` and
`label` (never the model's id or name; no usage or cost, which could give it away), and `end`.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator, Iterator
from contextlib import contextmanager
from typing import Annotated, Any, Literal

import orjson
from fastapi import APIRouter, Query, Request
from fastapi.responses import Response, StreamingResponse

from modelreg.api.deps import CurrentActor, ServicesDep
from modelreg.api.errors import ERROR_RESPONSES, ApiError, ErrorBody
from modelreg.api.routes.compare import SSE_HEADERS, model_errors, stream_doc
from modelreg.chat.arena import (
    LABELS,
    ArenaService,
    Battle,
    BattleNotFoundError,
    NotEnoughModelsError,
    VotedAlreadyError,
)
from modelreg.chat.compare import ModelAnswer
from modelreg.chat.compare_schemas import (
    ArenaIn,
    ArenaOut,
    LeaderboardOut,
    VoteIn,
    VoteOut,
)
from modelreg.chat.events import error_type
from modelreg.gateway.sse import sse_frame

__all__ = ["router"]

router = APIRouter(prefix="/api/arena", tags=["arena"])

_EVENTS = ("battle", "meta", "text_delta", "reasoning_delta", "done", "error", "end")
_HIDDEN_ERROR = "this model could not answer"  # an upstream's message may name the model
_BATTLE_409: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "Fewer than two chat models to draw"}
}
_VOTE_409: dict[int | str, dict[str, Any]] = {
    409: {"model": ErrorBody, "description": "The battle has its vote already"}
}


def get_arena(request: Request, services: ServicesDep) -> ArenaService:
    """One per app: it keeps the computed leaderboards until the next vote."""
    arena: ArenaService | None = getattr(request.app.state, "arena", None)
    if arena is None or arena.chat is not services.chat:
        arena = ArenaService(services.chat)
        request.app.state.arena = arena
    return arena


@contextmanager
def _arena_errors() -> Iterator[None]:
    try:
        yield
    except BattleNotFoundError as exc:
        raise ApiError(404, exc.message, type="not_found") from None
    except VotedAlreadyError as exc:
        raise ApiError(409, exc.message, type="conflict") from None
    except NotEnoughModelsError as exc:
        raise ApiError(409, exc.message, type="not_enough_models") from None


@router.post(
    "/battles",
    response_model=ArenaOut,
    responses={
        **ERROR_RESPONSES,
        **_BATTLE_409,
        200: stream_doc(
            _EVENTS,
            "`event: <type>` + `data: <JSON object>`; every event "
            "after `battle` names its `column` and `label` (A or B)",
        ),
        502: {"model": ErrorBody, "description": "The upstream provider failed"},
    },
    summary="Start a blind battle: two random models answer, their names hidden until the vote",
)
async def start_battle(
    body: ArenaIn, actor: CurrentActor, request: Request, services: ServicesDep
) -> Response:
    arena = get_arena(request, services)
    with _arena_errors(), model_errors():
        battle = await arena.start(actor, body.message)
    if body.stream:
        return StreamingResponse(
            _frames(arena, battle), media_type="text/event-stream", headers=SSE_HEADERS
        )
    answers = await arena.compare.complete(battle.run)
    out = {
        "battle_id": str(battle.id),
        "conversation_id": str(battle.run.conversation_id),
        "answers": [_blind_answer(a) for a in answers],
    }
    return Response(orjson.dumps(out), media_type="application/json")


def _blind_answer(answer: ModelAnswer) -> dict[str, Any]:
    result, error = answer.result, answer.error
    return {
        "label": LABELS[answer.column],
        "column": answer.column,
        "message_id": str(answer.turn.assistant_id),
        "content": result.text if result is not None else "",
        "status": result.status if result is not None else "error",
        "error": None if error is None else {"type": error_type(error), "message": _HIDDEN_ERROR},
    }


_KEEP = {
    "meta": ("message_id",),
    "text_delta": ("text",),
    "reasoning_delta": ("text",),
    "done": ("message_id", "content", "status", "finish_reason"),
    "error": ("type", "message_id", "status"),
}


async def _frames(arena: ArenaService, battle: Battle) -> AsyncIterator[bytes]:
    columns = [{"column": i, "label": label} for i, label in enumerate(LABELS)]
    head = {"battle_id": str(battle.id), "conversation_id": str(battle.run.conversation_id)}
    yield sse_frame({**head, "columns": columns}, "battle")
    async for column, event, data in arena.stream(battle):
        keep = _KEEP.get(event)
        if keep is None:  # usage and anything else that could name the model
            continue
        blind = {k: data[k] for k in keep if k in data}
        if event == "error":
            blind["message"] = _HIDDEN_ERROR
        yield sse_frame({**blind, "column": column, "label": LABELS[column]}, event)
    yield sse_frame(head, "end")


@router.post(
    "/battles/{battle_id}/vote",
    response_model=VoteOut,
    responses={**ERROR_RESPONSES, **_VOTE_409},
    summary="Vote once on a battle (A, B, tie or both bad); the answer reveals the models",
)
async def vote(
    battle_id: uuid.UUID,
    body: VoteIn,
    actor: CurrentActor,
    request: Request,
    services: ServicesDep,
) -> VoteOut:
    arena = get_arena(request, services)
    with _arena_errors():
        row = await arena.vote(actor, battle_id, body.vote)
    return VoteOut.model_validate(
        {
            "battle_id": row.id,
            "vote": body.vote,
            "models": [
                {"label": "A", "model_id": _str(row.model_a_id), "name": row.model_a_name},
                {"label": "B", "model_id": _str(row.model_b_id), "name": row.model_b_name},
            ],
        }
    )


def _str(value: uuid.UUID | None) -> str | None:
    return str(value) if value is not None else None


@router.get(
    "/leaderboard",
    response_model=LeaderboardOut,
    responses=ERROR_RESPONSES,
    summary="Bradley-Terry ratings with 95 % bootstrap intervals and rank ranges",
)
async def leaderboard(
    actor: CurrentActor,
    request: Request,
    services: ServicesDep,
    scope: Annotated[
        Literal["company", "mine"],
        Query(description="company: every user's votes on company models; mine: your votes"),
    ] = "company",
) -> LeaderboardOut:
    board = await get_arena(request, services).leaderboard(actor, scope)
    rows = [
        {
            "model_id": None if str(r.key).startswith("name:") else str(r.key),
            "name": board.names[str(r.key)],
            "rating": round(r.rating, 1),
            "rating_low": round(r.low, 1),
            "rating_high": round(r.high, 1),
            "rank": r.rank,
            "rank_best": r.rank_best,
            "rank_worst": r.rank_worst,
            "votes": r.votes,
            "wins": r.wins,
            "losses": r.losses,
            "ties": r.ties,
        }
        for r in board.ratings
    ]
    return LeaderboardOut.model_validate(
        {
            "scope": board.scope,
            "votes": board.votes,
            "both_bad": board.both_bad,
            "resamples": board.resamples,
            "models": rows,
        }
    )
