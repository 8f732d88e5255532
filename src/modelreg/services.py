"""The per-process service container, built once in the app's lifespan (app.state.services)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelreg.accounts import AccountService
    from modelreg.chat.service import ChatService
    from modelreg.chat.usage import UsageRecorder
    from modelreg.client import UnifiedLLMClient
    from modelreg.db.engine import Database
    from modelreg.metrics import Metrics
    from modelreg.ratelimit import RateLimiter
    from modelreg.registry.service import ModelManagerService
    from modelreg.settings import Settings

__all__ = ["Services"]


@dataclass(slots=True)
class Services:
    settings: Settings
    db: Database
    registry: ModelManagerService
    accounts: AccountService
    client: UnifiedLLMClient
    limiter: RateLimiter
    usage: UsageRecorder
    chat: ChatService
    metrics: Metrics
