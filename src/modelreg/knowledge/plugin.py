"""Another retrieval service in place of the built-in knowledge enhancer, by configuration:
`MODELREG_CONTEXT_ENHANCER=package.module:factory` names a callable that takes no arguments
and returns an object with `async enhance(actor, conversation_id, messages)`
(modelreg.chat.enhance.ContextEnhancer). Example in docs/knowledge.md."""

from __future__ import annotations

import importlib

from modelreg.chat.enhance import ContextEnhancer
from modelreg.errors import ConfigError

__all__ = ["load_enhancer"]


def load_enhancer(spec: str) -> ContextEnhancer:
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise ConfigError(f"MODELREG_CONTEXT_ENHANCER={spec!r}: write it as package.module:factory")
    try:
        factory = getattr(importlib.import_module(module_name), attribute)
    except (ImportError, AttributeError) as e:
        raise ConfigError(f"MODELREG_CONTEXT_ENHANCER={spec!r}: {e}") from None
    enhancer = factory()
    if not isinstance(enhancer, ContextEnhancer):
        raise ConfigError(
            f"MODELREG_CONTEXT_ENHANCER={spec!r}: the factory returned {type(enhancer).__name__},"
            " which has no async enhance(actor, conversation_id, messages)"
        )
    return enhancer
