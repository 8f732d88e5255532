"""ChatService: conversations, turns with a model chosen per message, usage and cost."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from modelreg.chat.enhance import ContextEnhancer, NoopEnhancer
from modelreg.chat.tools import ToolRegistry

if TYPE_CHECKING:
    from modelreg.chat.usage import UsageRecorder
    from modelreg.db.engine import Database

__all__ = ["ChatService"]


class ChatService:
    def __init__(
        self,
        db: Database,
        registry: Any,
        client: Any,
        usage: UsageRecorder,
        limiter: Any,
        metrics: Any,
        enhancer: ContextEnhancer | None = None,
        tools: ToolRegistry | None = None,
    ) -> None:
        self.db = db
        self.registry = registry
        self.client = client
        self.usage = usage
        self.limiter = limiter
        self.metrics = metrics
        self.enhancer: ContextEnhancer = enhancer or NoopEnhancer()
        self.tools = tools or ToolRegistry()
