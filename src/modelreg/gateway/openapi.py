"""OpenAPI request-body documents for routes that read their body themselves (for speed, and
so the byte pass-through can forward unknown fields): the pydantic schema with its `$defs`
inlined, because a route's `openapi_extra` cannot add shared components."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

__all__ = ["json_body"]


def _inline(node: Any, defs: dict[str, Any]) -> Any:
    if isinstance(node, dict):
        ref = node.get("$ref")
        if isinstance(ref, str) and ref.startswith("#/$defs/"):
            return _inline(defs[ref.rsplit("/", 1)[1]], defs)
        return {k: _inline(v, defs) for k, v in node.items()}
    if isinstance(node, list):
        return [_inline(v, defs) for v in node]
    return node


def json_body(model: type[BaseModel]) -> dict[str, Any]:
    """`openapi_extra` for a route whose JSON body has the shape of `model`."""
    schema = model.model_json_schema()
    defs = schema.pop("$defs", {})
    return {
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": _inline(schema, defs)}},
        }
    }
