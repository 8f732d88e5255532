"""A tool call's arguments: the JSON text providers send, parsed once, and back."""

from __future__ import annotations

from typing import Any

import orjson

__all__ = ["arguments_to_raw", "parse_tool_arguments"]


def parse_tool_arguments(raw: str) -> tuple[dict[str, Any], str | None]:
    """Parse a tool call's arguments once. Returns (arguments, error); on error the arguments
    are empty and the caller keeps `raw` so nothing the model said is lost."""
    if not raw.strip():
        return {}, None
    try:
        value = orjson.loads(raw)
    except orjson.JSONDecodeError as e:
        return {}, f"arguments are not valid JSON ({e})"
    if not isinstance(value, dict):
        return {}, f"arguments are a JSON {type(value).__name__}, not an object"
    return value, None


def arguments_to_raw(arguments: Any) -> str:
    """Providers that send arguments as objects (Anthropic, Ollama): the JSON text of them."""
    if isinstance(arguments, str):
        return arguments
    return orjson.dumps(arguments).decode()
