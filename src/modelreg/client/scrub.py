"""A model's credentials kept out of what leaves us: error messages, and relayed bytes.

Some upstreams echo the key they were sent ("Incorrect API key provided: sk-..."), in an error
body, a 200 JSON answer or a stream event. Errors are scrubbed where they are made; bytes the
pass-through relays unchanged are scrubbed per complete event (a key never spans two), with one
substring search per secret, so a model without credentials pays nothing.
"""

from __future__ import annotations

from typing import Final, TypeVar

import orjson

from modelreg.errors import ModelregError
from modelreg.model_config import ModelConfig
from modelreg.secret import scrub

__all__ = ["MASK", "credential_bytes", "scrub_bytes", "scrub_credentials"]

ErrorT = TypeVar("ErrorT", bound=ModelregError)

MASK: Final = b"****"
_MIN_SECRET = 4  # shorter "secrets" would mask ordinary text


def _secrets(model: ModelConfig) -> list[str]:
    return [s.reveal() for s in (model.api_key, *model.auth_headers.values()) if s]


def scrub_credentials(error: ErrorT, model: ModelConfig) -> ErrorT:
    """Remove the model's credentials from an error message."""
    text = scrub(error.message, _secrets(model))
    if text != error.message:
        error.message = text
        error.args = (text, *error.args[1:])
    return error


def credential_bytes(model: ModelConfig) -> tuple[bytes, ...]:
    """Each secret as it may appear in a body: raw, and JSON-escaped where that differs."""
    found: list[bytes] = []
    for secret in _secrets(model):
        if len(secret) < _MIN_SECRET:
            continue
        raw = secret.encode()
        escaped = orjson.dumps(secret)[1:-1]
        found.append(raw)
        if escaped != raw:
            found.append(escaped)
    # a secret that contains another must be replaced first
    return tuple(sorted(set(found), key=len, reverse=True))


def scrub_bytes(data: bytes, secrets: tuple[bytes, ...]) -> bytes:
    for secret in secrets:
        if secret in data:
            data = data.replace(secret, MASK)
    return data
