"""Which network a model may reach: the one rule, used by the client, the pass-through, the
model routes and the registry alike, and how a refusal explains itself."""

from __future__ import annotations

from typing import TYPE_CHECKING

from modelreg.client.netguard import PRIVATE_ADDRESS
from modelreg.errors import UnsafeURLError

if TYPE_CHECKING:
    from modelreg.settings import Settings

__all__ = ["explain_refusal", "may_reach_private"]


def may_reach_private(is_global: bool, settings: Settings) -> bool:
    """Company (global) models are an admin's choice: a local Ollama or vLLM is legitimate.
    Personal models reach only public addresses unless the operator allows private ones
    (`MODELREG_ALLOW_PRIVATE_BASE_URLS`), or a user could probe the internal network."""
    return is_global or settings.allow_private_base_urls


def explain_refusal(error: UnsafeURLError, *, is_admin: bool) -> UnsafeURLError:
    """A refusal of a private address, with why and the ways out (the README's first steps
    point a model at a simulator on loopback). Refusals nobody may lift (cloud metadata,
    multicast) are returned as they are."""
    if error.reason != PRIVATE_ADDRESS:
        return error
    way = (
        "tick Company-wide model (company models may reach the company's network)"
        if is_admin
        else "ask an admin to add it as a company-wide model"
    )
    return UnsafeURLError(
        f"{error}: a personal model may reach only public addresses, so that no user can "
        f"probe the internal network through this server. To use this address, {way}, or "
        "have the operator allow private addresses for personal models "
        "(MODELREG_ALLOW_PRIVATE_BASE_URLS=true)",
        reason=error.reason,
    )
