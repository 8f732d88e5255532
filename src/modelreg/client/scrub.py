"""A model's credentials kept out of what leaves us: error messages, and relayed bytes.

Some upstreams echo the key they were sent ("Incorrect API key provided: sk-..."), in an error
body, a 200 JSON answer or a stream event. Errors are scrubbed where they are made; bytes the
pass-through relays unchanged are scrubbed per complete event (a key never spans two), with one
substring search per secret, so a model without credentials pays nothing. Bytes the client
parses (translated answers, embeddings, the chat service) are scrubbed before the adapter sees
them: whole bodies with `scrub_bytes`, streams chunk by chunk with `scrub_chunks`, which holds
back only a chunk's tail that could be the start of a secret split across reads.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from dataclasses import replace
from typing import Final, TypeVar

import orjson

from modelreg.errors import ModelregError, ProviderStatusError, UpstreamDetail
from modelreg.model_config import ModelConfig
from modelreg.secret import scrub

__all__ = ["MASK", "credential_bytes", "scrub_bytes", "scrub_chunks", "scrub_credentials"]

ErrorT = TypeVar("ErrorT", bound=ModelregError)

MASK: Final = b"****"
_MIN_SECRET = 4  # shorter "secrets" would mask ordinary text


def _secrets(model: ModelConfig) -> list[str]:
    return [s.reveal() for s in (model.api_key, *model.auth_headers.values()) if s]


def scrub_credentials(error: ErrorT, model: ModelConfig) -> ErrorT:
    """Remove the model's credentials from an error message (and from the upstream's own
    message it carries, which is passed on to callers)."""
    secrets = _secrets(model)
    text = scrub(error.message, secrets)
    if text != error.message:
        error.message = text
        error.args = (text, *error.args[1:])
    if isinstance(error, ProviderStatusError) and error.upstream is not None:
        error.upstream = _scrub_detail(error.upstream, secrets)
    return error


def _scrub_detail(detail: UpstreamDetail, secrets: list[str]) -> UpstreamDetail:
    """The upstream's own error with the secrets out of every field passed on to callers."""

    def clean(text: str | None) -> str | None:
        return None if text is None else scrub(text, secrets)

    return replace(
        detail,
        type=clean(detail.type),
        code=clean(detail.code),
        param=clean(detail.param),
        message=scrub(detail.message, secrets),
        headers=tuple((name, scrub(value, secrets)) for name, value in detail.headers),
    )


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


def _partial_tail(data: bytes, secrets: tuple[bytes, ...]) -> int:
    """Length of the longest end of `data` that is the beginning of a secret (cut by a read)."""
    longest = 0
    for secret in secrets:
        start = max(0, len(data) - len(secret) + 1)
        while (at := data.find(secret[:1], start)) >= 0:
            if secret.startswith(data[at:]):
                longest = max(longest, len(data) - at)
                break
            start = at + 1
    return longest


async def scrub_chunks(
    chunks: AsyncIterator[bytes], secrets: tuple[bytes, ...]
) -> AsyncIterator[bytes]:
    """`chunks` with every secret masked, also one split across chunks. Without secrets the
    chunks go through untouched."""
    if not secrets:
        async for chunk in chunks:
            yield chunk
        return
    carry = b""
    async for chunk in chunks:
        data = scrub_bytes(carry + chunk, secrets)
        keep = _partial_tail(data, secrets)
        carry = data[len(data) - keep :] if keep else b""
        if len(data) > keep:
            yield data[: len(data) - keep]
    if carry:
        yield carry
