"""GET /v1/models and /v1/models/{model} in the OpenAI and the Anthropic shapes.

Both official SDKs call these paths on the same base URL. A request carrying
`anthropic-version` (the `anthropic` SDK always sends it) gets Anthropic's shape:
`{"data": [{"type": "model", "id", "display_name", "created_at"}], "has_more", "first_id",
"last_id"}`; any other gets OpenAI's `{"object": "list", "data": [{"id", "object": "model",
"created", "owned_by"}]}`. The entries come from the registry's cached list, so retrieving one
model answers exactly what listing shows (a personal model shadows a global one of its name).

Anthropic's list is paginated (`limit`, default 20, at most 1000; `after_id` / `before_id`
cursors), as `client.models.list(limit=2)` and its auto-pagination expect; OpenAI's is not.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import UTC, datetime
from typing import Any, Protocol

from modelreg.errors import UnknownModelError
from modelreg.gateway.errors import GatewayRequestError
from modelreg.registry.schemas import ModelPublic

__all__ = ["Listed", "Page", "find", "listing", "one", "page_of", "visible", "wants_anthropic"]


class Listed(Protocol):
    """What an entry shows: a model, or an A/B experiment (used by name like one)."""

    @property
    def name(self) -> str: ...
    @property
    def created_at(self) -> datetime: ...
    @property
    def is_global(self) -> bool: ...


# (limit, after_id, before_id) of an Anthropic list request
Page = tuple[int, str | None, str | None]
_DEFAULT_LIMIT, _MAX_LIMIT = 20, 1000


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


def one(m: Listed, owner: str, *, anthropic: bool) -> dict[str, Any]:
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


def page_of(query: Mapping[str, str]) -> Page:
    """The page an Anthropic list request asks for, or a 400 naming the bad parameter."""
    raw = query.get("limit")
    try:
        limit = _DEFAULT_LIMIT if raw is None else int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= _MAX_LIMIT:
        raise GatewayRequestError(f"limit: expected 1 to {_MAX_LIMIT}", param="limit")
    after, before = query.get("after_id"), query.get("before_id")
    if after is not None and before is not None:
        raise GatewayRequestError("give after_id or before_id, not both", param="before_id")
    return limit, after, before


def _cut(data: list[dict[str, Any]], page: Page) -> tuple[list[dict[str, Any]], bool]:
    """The page's entries and whether more lie beyond it (after it, or before it when paging
    backwards with `before_id`)."""
    limit, after, before = page
    ids = [entry["id"] for entry in data]
    for cursor, param in ((after, "after_id"), (before, "before_id")):
        if cursor is not None and cursor not in ids:
            raise GatewayRequestError(
                f"{param}: no model {cursor[:100]!r} in the list", param=param
            )
    if before is not None:
        end = ids.index(before)
        return data[max(0, end - limit) : end], end - limit > 0
    start = ids.index(after) + 1 if after is not None else 0
    return data[start : start + limit], start + limit < len(data)


def listing(
    models: Sequence[ModelPublic],
    owner: str,
    *,
    anthropic: bool,
    page: Page | None = None,
    extra: Sequence[Listed] = (),
) -> dict[str, Any]:
    """`extra`: running A/B experiments, listed after the models under their names."""
    shown = visible(models)
    names = {m.name for m in shown}
    listed: list[Listed] = [*shown, *(e for e in extra if e.name not in names)]
    data = [one(m, owner, anthropic=anthropic) for m in listed]
    if anthropic:
        entries, has_more = _cut(data, page or (_MAX_LIMIT, None, None))
        return {
            "data": entries,
            "has_more": has_more,
            "first_id": entries[0]["id"] if entries else None,
            "last_id": entries[-1]["id"] if entries else None,
        }
    return {"object": "list", "data": data}
