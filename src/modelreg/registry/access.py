"""Which network a model may reach: the one rule, used by the client, the pass-through, the
model routes and the registry alike."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from modelreg.settings import Settings

__all__ = ["may_reach_private"]


def may_reach_private(is_global: bool, settings: Settings) -> bool:
    """Company (global) models are an admin's choice: a local Ollama or vLLM is legitimate.
    Personal models reach only public addresses unless the operator allows private ones
    (`MODELREG_ALLOW_PRIVATE_BASE_URLS`), or a user could probe the internal network."""
    return is_global or settings.allow_private_base_urls
