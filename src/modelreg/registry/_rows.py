"""Conversions between `llm_models` rows and what the registry hands out: the public view
(no secrets), the decrypted `ModelConfig`, and the audit state. Secrets are sealed and opened
here only, always with the row's id and column as associated data."""

from __future__ import annotations

import json
import logging
import uuid
from collections.abc import Sequence
from typing import Any

from modelreg.actor import Actor
from modelreg.crypto import KeyRing, model_aad
from modelreg.db.models import LLMModel
from modelreg.model_config import ModelConfig
from modelreg.registry.schemas import Capabilities, ModelPublic
from modelreg.secret import Secret, hint

__all__ = [
    "AUDIT_FIELDS",
    "NOT_NULL_FIELDS",
    "PLAIN_FIELDS",
    "audit_state",
    "decrypt_headers",
    "set_api_key",
    "set_auth_headers",
    "to_config",
    "to_public",
]

log = logging.getLogger(__name__)

PLAIN_FIELDS: Sequence[str] = (
    "name",
    "description",
    "provider",
    "base_url",
    "model_id",
    "auth_type",
    "supports_streaming",
    "supports_functions",
    "supports_vision",
    "context_length",
    "max_output_tokens",
    "price_per_input_token",
    "price_per_output_token",
    "default_temperature",
    "default_top_p",
    "enabled",
    "options",
    "rpm_limit",
    "tpm_limit",
    "kind",
    "dimensions",
)
NOT_NULL_FIELDS = frozenset(
    {
        "name",
        "description",
        "provider",
        "base_url",
        "model_id",
        "auth_type",
        "supports_streaming",
        "supports_functions",
        "supports_vision",
        "price_per_input_token",
        "price_per_output_token",
        "enabled",
        "options",
        "kind",
    }
)
AUDIT_FIELDS: Sequence[str] = (
    "id",
    "user_id",
    "is_global",
    "source",
    *PLAIN_FIELDS,
    "fallback_model_ids",
)


def set_api_key(row: LLMModel, api_key: str | None, keyring: KeyRing) -> None:
    if api_key:
        row.api_key_encrypted = keyring.encrypt(api_key, aad=model_aad(row.id, "api_key"))
        row.api_key_hint = hint(api_key)
    else:
        row.api_key_encrypted = None
        row.api_key_hint = None


def set_auth_headers(row: LLMModel, headers: dict[str, str] | None, keyring: KeyRing) -> None:
    row.auth_headers = (
        keyring.encrypt(json.dumps(headers, sort_keys=True), aad=model_aad(row.id, "auth_headers"))
        if headers
        else None
    )


def decrypt_headers(row: LLMModel, keyring: KeyRing) -> dict[str, str]:
    if not row.auth_headers:
        return {}
    decoded: dict[str, str] = json.loads(
        keyring.decrypt(row.auth_headers, aad=model_aad(row.id, "auth_headers"))
    )
    return decoded


def to_config(row: LLMModel, keyring: KeyRing) -> ModelConfig:
    api_key = (
        Secret(keyring.decrypt(row.api_key_encrypted, aad=model_aad(row.id, "api_key")))
        if row.api_key_encrypted
        else None
    )
    return ModelConfig(
        id=str(row.id),
        name=row.name,
        provider=row.provider,
        base_url=row.base_url,
        model_id=row.model_id,
        auth_type=row.auth_type,
        api_key=api_key,
        auth_headers={k: Secret(v) for k, v in decrypt_headers(row, keyring).items()},
        supports_streaming=row.supports_streaming,
        supports_functions=row.supports_functions,
        supports_vision=row.supports_vision,
        context_length=row.context_length,
        max_output_tokens=row.max_output_tokens,
        price_per_input_token=row.price_per_input_token,
        price_per_output_token=row.price_per_output_token,
        default_temperature=row.default_temperature,
        default_top_p=row.default_top_p,
        enabled=row.enabled,
        is_global=row.is_global,
        user_id=None if row.user_id is None else str(row.user_id),
        description=row.description,
        fallback_model_ids=tuple(str(i) for i in row.fallback_model_ids or ()),
        options=dict(row.options or {}),
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        source=row.source,
        kind=row.kind,
        dimensions=row.dimensions,
    )


def to_public(row: LLMModel, keyring: KeyRing, viewer: Actor) -> ModelPublic:
    try:
        header_names = sorted(decrypt_headers(row, keyring))
    except Exception:  # a broken secret must not hide the model from its owner
        log.warning("auth_headers of model %s do not decrypt", row.id)
        header_names = []
    return ModelPublic(
        id=row.id,
        user_id=row.user_id,
        name=row.name,
        description=row.description,
        provider=row.provider,
        base_url=row.base_url,
        model_id=row.model_id,
        auth_type=row.auth_type,
        has_api_key=row.api_key_encrypted is not None,
        # the key's last characters are for those who manage it: its owner, or an admin
        api_key_hint=row.api_key_hint if viewer.is_admin or row.user_id == viewer.id else None,
        auth_header_names=header_names,
        supports_streaming=row.supports_streaming,
        supports_functions=row.supports_functions,
        supports_vision=row.supports_vision,
        capabilities=Capabilities(
            streaming=row.supports_streaming,
            functions=row.supports_functions,
            vision=row.supports_vision,
        ),
        context_length=row.context_length,
        max_output_tokens=row.max_output_tokens,
        price_per_input_token=row.price_per_input_token,
        price_per_output_token=row.price_per_output_token,
        default_temperature=row.default_temperature,
        default_top_p=row.default_top_p,
        enabled=row.enabled,
        is_global=row.is_global,
        fallback_model_ids=[uuid.UUID(str(i)) for i in row.fallback_model_ids or []],
        options=dict(row.options or {}),
        rpm_limit=row.rpm_limit,
        tpm_limit=row.tpm_limit,
        kind=row.kind,
        dimensions=row.dimensions,
        source=row.source,
        created_at=row.created_at,
        updated_at=row.updated_at,
        last_used_at=row.last_used_at,
    )


def audit_state(row: LLMModel) -> dict[str, Any]:
    state: dict[str, Any] = {f: getattr(row, f) for f in AUDIT_FIELDS}
    state["api_key"] = row.api_key_encrypted is not None  # scrubbed to a marker
    state["auth_headers"] = row.auth_headers is not None
    return state
