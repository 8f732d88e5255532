"""Small helpers for adapter tests: models, byte chunking, collecting streams."""

from __future__ import annotations

import itertools
from collections.abc import AsyncIterator, Iterable, Sequence
from typing import Any

import orjson

from modelreg.model_config import ModelConfig
from modelreg.providers.base import HttpRequest, ProviderAdapter
from modelreg.secret import Secret
from modelreg.types import ChatResponse, StreamEvent

API_KEY = "sk-test-SECRETKEY-1234567890abcd"


def make_model(provider: str = "openai", **overrides: Any) -> ModelConfig:
    fields: dict[str, Any] = {
        "id": "m1",
        "name": "my-model",
        "provider": provider,
        "base_url": "http://127.0.0.1:9/v1",
        "model_id": "gpt-test",
        "api_key": Secret(API_KEY),
    }
    fields.update(overrides)
    return ModelConfig(**fields)


def split_at(data: bytes, cuts: Iterable[int]) -> list[bytes]:
    """`data` cut at the given offsets (any order, duplicates allowed)."""
    points = sorted({c for c in cuts if 0 < c < len(data)})
    edges = [0, *points, len(data)]
    return [data[a:b] for a, b in itertools.pairwise(edges)]


async def aiter_chunks(chunks: Sequence[bytes]) -> AsyncIterator[bytes]:
    for chunk in chunks:
        yield chunk


async def collect(
    adapter: ProviderAdapter, chunks: Sequence[bytes], model: ModelConfig
) -> list[StreamEvent]:
    return [e async for e in adapter.parse_stream(aiter_chunks(chunks), model)]


def body_of(request: HttpRequest) -> Any:
    assert request.body is not None
    return orjson.loads(request.body)


def sse(*payloads: Any, event_names: bool = False, done: bool = True) -> bytes:
    """An OpenAI-style (or, with event_names, Anthropic-style) SSE body."""
    out = bytearray()
    for p in payloads:
        if event_names:
            out += b"event: " + p["type"].encode() + b"\n"
        out += b"data: " + orjson.dumps(p) + b"\n\n"
    if done:
        out += b"data: [DONE]\n\n"
    return bytes(out)


def ndjson(*lines: Any) -> bytes:
    return b"".join(orjson.dumps(line) + b"\n" for line in lines)


def text_of(response: ChatResponse) -> str:
    return response.text
