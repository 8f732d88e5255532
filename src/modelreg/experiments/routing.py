"""Where an experiment's name is used like a model's: the hooks the gateway and the chat
route call, and the assignment of a request to an arm.

`resolve_model` is on the gateway's hot path: for a name that is no experiment's it costs
one set lookup before the registry's cache (docs/performance.md, "A/B experiments"). For an
experiment it hashes the key (assignment.py), resolves the arm's model from the registry's
cache and marks the request with the arm (context.py) for the usage row.

The key: on the gateway the OpenAI `user` field or the Anthropic `metadata.user_id`, else
the caller's user id (one token belongs to one user; the assignment is per user then). In
chat, the conversation: a conversation keeps the arm of its first answer in the experiment.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from modelreg.actor import Actor
from modelreg.db.models import Message
from modelreg.errors import UnknownModelError, ValidationFailedError
from modelreg.experiments.context import Assignment, assign
from modelreg.experiments.errors import ExperimentNotFoundError, ExperimentNotRunningError
from modelreg.experiments.table import Route

if TYPE_CHECKING:
    from modelreg.model_config import ModelConfig
    from modelreg.services import Services

__all__ = [
    "anthropic_key",
    "chat_model",
    "openai_key",
    "refuse_experiment",
    "resolve_model",
]


def openai_key(data: Any) -> str | None:
    user = data.get("user") if isinstance(data, dict) else None
    return user if isinstance(user, str) and user else None


def anthropic_key(data: Any) -> str | None:
    metadata = data.get("metadata") if isinstance(data, dict) else None
    user = metadata.get("user_id") if isinstance(metadata, dict) else None
    return user if isinstance(user, str) and user else None


async def resolve_model(
    services: Services, actor: Actor, name: str, key: str | None
) -> ModelConfig:
    """The model `name` means for this request: an experiment's arm, or the registry's."""
    route = services.experiments.table.lookup(actor.id, name)
    if route is None:
        return await services.registry.resolve(actor, name)
    index = route.arm(key or str(actor.id))
    return await _arm_model(services, actor, route, index, field="model")


def refuse_experiment(services: Services, actor: Actor, name: str) -> None:
    """For /v1/embeddings: an experiment compares chat models, never embeddings."""
    route = services.experiments.table.lookup(actor.id, name)
    if route is not None:
        raise ValidationFailedError(
            f"{name!r} is an A/B experiment over chat models; embeddings need a model name",
            field="model",
        )


async def chat_model(
    services: Services,
    actor: Actor,
    experiment_id: uuid.UUID,
    conversation_id: uuid.UUID | None,
    model_id: str | None = None,
) -> str:
    """The id of the model the experiment assigns this chat turn to (the request is marked
    with the arm). A continuing conversation keeps the arm it had; a new one is assigned by
    a fresh random key (its id is not known before the turn is prepared)."""
    if model_id is not None:
        raise ValidationFailedError(
            "give `model_id` or `experiment_id`, not both: the experiment chooses the model",
            field="experiment_id",
        )
    route = services.experiments.table.by_id(experiment_id)
    if route is None or route.owner not in (None, actor.id):
        raise ExperimentNotFoundError(f"no experiment {experiment_id}")
    index = None
    if conversation_id is not None:
        index = await _arm_of_conversation(services, actor, route, conversation_id)
        if index is None:
            index = route.arm(str(conversation_id))
    else:
        index = route.arm(uuid.uuid4().hex)
    model = await _arm_model(services, actor, route, index, field="experiment_id")
    return model.id


async def _arm_of_conversation(
    services: Services, actor: Actor, route: Route, conversation_id: uuid.UUID
) -> int | None:
    query = (
        select(Message.experiment_arm_id)
        .where(
            Message.conversation_id == conversation_id,
            Message.user_id == actor.id,
            Message.experiment_id == route.id,
            Message.experiment_arm_id.is_not(None),
        )
        .limit(1)
    )
    async with services.db.session(actor) as session:
        arm_id = await session.scalar(query)
    if arm_id is None or arm_id not in route.arm_ids:
        return None
    return route.arm_ids.index(arm_id)


async def _arm_model(
    services: Services, actor: Actor, route: Route, index: int, *, field: str
) -> ModelConfig:
    if route.status != "running":
        hint = {
            "paused": "it routes again once started",
            "draft": "start it first",
            "stopped": "a stopped experiment keeps its data but routes no more",
        }.get(route.status, "")
        raise ExperimentNotRunningError(
            f"experiment {route.name!r} is {route.status}: {hint}", field=field
        )
    model_id = route.model_ids[index]
    try:
        if model_id is None:
            raise UnknownModelError("deleted")
        model = await services.registry.resolve(actor, model_id)
    except UnknownModelError:
        raise ExperimentNotRunningError(
            f"experiment {route.name!r}: the model of arm {index + 1} is disabled or deleted",
            field=field,
        ) from None
    assign(Assignment(route.id, route.arm_ids[index]))
    return model
