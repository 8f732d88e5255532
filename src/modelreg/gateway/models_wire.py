"""GET /v1/models and /v1/models/{model} in the OpenAI and the Anthropic shapes.

Both official SDKs call these paths on the same base URL. A request carrying
`anthropic-version` (the `anthropic` SDK always sends it) gets Anthropic's shape:
`{"data": [{"type": "model", "id", "display_name", "created_at"}], "has_more", "first_id",
"last_id"}`; any other gets OpenAI's `{"object": "list", "data": [{"id", "object": "model",
"created", "owned_by"}]}`. The entries come from the registry's cached list, so retrieving one
model answers exactly what listing shows (a personal model shadows a global one of its name).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC
from typing import Any

from modelreg.errors import UnknownModelError
from modelreg.registry.schemas import ModelPublic

__all__ = ["find", "listing", "one", "visible", "wants_anthropic"]


def wants_anthropic(headers: Mapping[str, str]) -> bool:
    return "anthropic-version" in headers


def visible(models: Sequence[ModelPublic]) -> list[ModelPublic]:
    """Enabled models by name, own models first: a personal model shadows a global one."""
    seen: set[str] = set()
    out = []
    for m in sorted(models, key=lambda m: m.is_global):
        if m.enabled and m.name not in seen:
            seen.add(m.name)
            out.append(m)
    return out


def find(models: Sequence[ModelPublic], name_or_id: str) -> ModelPublic:
    for m in visible(models):
        if name_or_id in (m.name, str(m.id)):
            return m
    raise UnknownModelError(f"unknown or disabled model {name_or_id[:100]!r}")


def one(m: ModelPublic, owner: str, *, anthropic: bool) -> dict[str, Any]:
    if anthropic:
        stamp = m.created_at if m.created_at.tzinfo else m.created_at.replace(tzinfo=UTC)
        created = stamp.isoformat().replace("+00:00", "Z")
        return {"type": "model", "id": m.name, "display_name": m.name, "created_at": created}
    return {
        "id": m.name,
        "object": "model",
        "created": int(m.created_at.timestamp()),
        "owned_by": "modelreg" if m.is_global else owner,
    }


def listing(models: Sequence[ModelPublic], owner: str, *, anthropic: bool) -> dict[str, Any]:
    data = [one(m, owner, anthropic=anthropic) for m in visible(models)]
    if anthropic:
        return {
            "data": data,
            "has_more": False,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
        }
    return {"object": "list", "data": data}
