"""The checks of an experiment's arms, each refusal naming the field (`arms.<i>.model_id`).

An arm's model must be one the creator may use, enabled, a chat model (an experiment is
used where a chat model is), appear once, and for a company experiment be a company model;
at least one weight must be above zero (each is ≥ 0 by the schema).
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from typing import Any

from modelreg.errors import ValidationFailedError
from modelreg.experiments.schemas import ArmIn
from modelreg.registry.schemas import ModelPublic

__all__ = ["checked_arms", "is_embedding_model"]


def is_embedding_model(model: ModelPublic) -> bool:
    """The registry's `kind` says so; models registered before it existed are recognised by
    their upstream ids (`text-embedding-3-small`, `nomic-embed-text`, …) or an option
    `{"kind": "embedding"}`."""
    if model.kind == "embedding":
        return True
    return "embed" in model.model_id.lower() or model.options.get("kind") == "embedding"


def _find(models: Sequence[ModelPublic], ref: str) -> ModelPublic | None:
    """By id, else by name: the caller's own model of that name first, then the company's."""
    for m in models:
        if str(m.id) == ref:
            return m
    named = [m for m in models if m.name == ref]
    named.sort(key=lambda m: m.is_global)
    return named[0] if named else None


def checked_arms(
    arms: Sequence[ArmIn], models: Sequence[ModelPublic], *, company: bool
) -> list[dict[str, Any]]:
    """The arms as stored (`{"id", "model_id", "model_name", "weight"}`), or a refusal."""
    seen: set[uuid.UUID] = set()
    out = []
    for i, arm in enumerate(arms):
        field = f"arms.{i}.model_id"
        model = _find(models, arm.model_id)
        if model is None:
            raise ValidationFailedError(
                f"no model {arm.model_id[:100]!r} that you may use", field=field
            )
        if not model.enabled:
            raise ValidationFailedError(f"model {model.name!r} is disabled", field=field)
        if company and not model.is_global:
            raise ValidationFailedError(
                f"model {model.name!r} is personal; a company experiment uses company models",
                field=field,
            )
        if is_embedding_model(model):
            raise ValidationFailedError(
                f"model {model.name!r} is an embedding model; an experiment compares chat models",
                field=field,
            )
        if model.id in seen:
            raise ValidationFailedError(
                f"model {model.name!r} is in two arms; each arm needs its own model", field=field
            )
        seen.add(model.id)
        out.append({
            "id": str(uuid.uuid4()), "model_id": str(model.id),
            "model_name": model.name, "weight": arm.weight,
        })  # fmt: skip
    if not any(arm.weight > 0 for arm in arms):
        raise ValidationFailedError(
            "every weight is zero; at least one arm needs a weight above zero", field="arms"
        )
    return out
