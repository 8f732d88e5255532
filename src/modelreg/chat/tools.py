"""Server-side tools: Python functions the chat API runs on the model's behalf.

Register a tool once at start-up; a chat request then offers it to the model by naming it in
`tools` (a plain string among the OpenAI-style definitions of client-declared tools). The
unified client's tool loop calls `ToolRegistry.call` for each call the model makes to a
server-side tool and sends the returned text back to the model; calls to client-declared tools
are returned to the caller.

```python
tools = ToolRegistry()
tools.register("get_time", "Current UTC time", {"type": "object", "properties": {}},
               lambda args: datetime.now(UTC).isoformat())
```
A tool's function may be sync or async and gets the parsed arguments; what it returns is sent
to the model as text (non-strings as JSON). An exception inside a tool is reported to the model
as the tool's result (`error: ...`), so the model can recover, and is logged.
"""

from __future__ import annotations

import inspect
import logging
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from modelreg.types import ToolCall, ToolDefinition

__all__ = ["ServerTool", "ToolFn", "ToolRegistry"]

log = logging.getLogger(__name__)

ToolFn = Callable[[dict[str, Any]], Any | Awaitable[Any]]


@dataclass(frozen=True, slots=True)
class ServerTool:
    definition: ToolDefinition
    fn: ToolFn


class ToolRegistry:
    def __init__(self) -> None:
        self._tools: dict[str, ServerTool] = {}

    def register(self, name: str, description: str, parameters: dict[str, Any], fn: ToolFn) -> None:
        if name in self._tools:
            raise ValueError(f"tool {name!r} is already registered")
        self._tools[name] = ServerTool(ToolDefinition(name, description, parameters), fn)

    def __contains__(self, name: object) -> bool:
        return name in self._tools

    def __len__(self) -> int:
        return len(self._tools)

    def definitions(self, names: Iterable[str] | None = None) -> tuple[ToolDefinition, ...]:
        """Definitions of the named tools (all when `names` is None); unknown names raise."""
        if names is None:
            return tuple(t.definition for t in self._tools.values())
        out = []
        for name in names:
            if name not in self._tools:
                raise KeyError(name)
            out.append(self._tools[name].definition)
        return tuple(out)

    async def call(self, call: ToolCall) -> str:
        """Run one tool call and return its result as text for the model."""
        tool = self._tools.get(call.name)
        if tool is None:
            return f"error: no server-side tool named {call.name!r}"
        if call.arguments_error:
            return f"error: invalid arguments: {call.arguments_error}"
        try:
            result = tool.fn(call.arguments)
            if inspect.isawaitable(result):
                result = await result
        except Exception as exc:
            log.warning("server tool %s failed", call.name, exc_info=True)
            return f"error: {type(exc).__name__}: {exc}"
        if isinstance(result, str):
            return result
        return orjson.dumps(result, default=str).decode()
