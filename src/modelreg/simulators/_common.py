"""Small helpers the wire modules share: ids, timestamps, prompt echo, fake embeddings."""

from __future__ import annotations

import hashlib
import json
import math
import re
import time
import uuid
from typing import Any

from aiohttp import web


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + uuid.uuid4().hex[:length]


def unix_now() -> int:
    return int(time.time())


def json_response(
    payload: Any, status: int = 200, headers: dict[str, str] | None = None
) -> web.Response:
    return web.Response(
        body=json.dumps(payload, ensure_ascii=False).encode(),
        status=status,
        content_type="application/json",
        headers=headers,
    )


def content_text(content: Any) -> str:
    """The text of a message `content`: a string, or a list of text parts / blocks."""
    if isinstance(content, str):
        return content
    if isinstance(content, list):
        texts: list[str] = []
        for part in content:
            if isinstance(part, dict):
                if isinstance(part.get("text"), str):
                    texts.append(part["text"])
                elif part.get("type") == "tool_result":
                    texts.append(content_text(part.get("content")))
        return " ".join(texts)
    return ""


def default_answer(messages: Any) -> str:
    """The reply when nothing is scripted: echo the last user turn, or the tool results when
    the conversation ends with them (so a tool loop finishes without extra scripting)."""
    if not isinstance(messages, list) or not messages:
        return "You said: "
    last = messages[-1]
    if not isinstance(last, dict):
        return "You said: "
    content = last.get("content")
    is_tool_turn = last.get("role") == "tool" or (
        isinstance(content, list)
        and any(isinstance(p, dict) and p.get("type") == "tool_result" for p in content)
    )
    if is_tool_turn:
        results = [
            content_text(m.get("content"))
            for m in _trailing_tool_messages(messages)
            if isinstance(m, dict)
        ]
        return "Tool result: " + "; ".join(results)
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") == "user":
            return "You said: " + content_text(message.get("content"))
    return "You said: "


def _trailing_tool_messages(messages: list[Any]) -> list[Any]:
    out: list[Any] = []
    for message in reversed(messages):
        if isinstance(message, dict) and message.get("role") in ("tool", "user"):
            out.append(message)
            if message.get("role") == "user":
                break
        else:
            break
    return list(reversed(out))


def estimate_tokens(*parts: Any) -> int:
    """A stable stand-in for a tokenizer: about four characters per token, at least 1."""
    size = sum(len(json.dumps(p, ensure_ascii=False)) for p in parts if p is not None)
    return max(1, size // 4)


# OpenAI's largest embedding model's size; like the real APIs, the simulators refuse more
# (a fuzzed `dimensions` of 10^9 once had a simulator build a 23 GB vector)
MAX_EMBEDDING_DIMENSIONS = 3072


def dimensions_problem(dimensions: int) -> str | None:
    """Why `dimensions` cannot be served, or None."""
    if 1 <= dimensions <= MAX_EMBEDDING_DIMENSIONS:
        return None
    return (
        f"Invalid value for 'dimensions': {dimensions}. "
        f"It must be between 1 and {MAX_EMBEDDING_DIMENSIONS}."
    )


_WORD = re.compile(r"[^\W_]+")


def fake_embedding(text: str, dimensions: int) -> list[float]:
    """A deterministic, L2-normalised hashed bag of words: each lower-cased word adds ±1 at
    a position its hash picks, so equal texts have equal vectors and texts that share words
    are close (cosine), which makes retrieval testable offline. A text without words gets a
    vector derived from its bytes."""
    raw = [0.0] * dimensions
    for word in _WORD.findall(text.lower()):
        digest = hashlib.sha256(word.encode()).digest()
        index = int.from_bytes(digest[:4], "little") % dimensions
        raw[index] += 1.0 if digest[4] & 1 else -1.0
    if not any(raw):
        raw = []
        counter = 0
        while len(raw) < dimensions:
            digest = hashlib.sha256(f"{counter}:{text}".encode()).digest()
            raw.extend((byte - 127.5) / 127.5 for byte in digest)
            counter += 1
        raw = raw[:dimensions]
    norm = math.sqrt(sum(v * v for v in raw)) or 1.0
    return [v / norm for v in raw]


def embedding_inputs(value: Any) -> list[str] | None:
    """Normalise an embeddings `input` (str or list of str); None when it is neither."""
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and all(isinstance(v, str) for v in value):
        return list(value)
    if isinstance(value, list) and all(isinstance(v, int) for v in value):
        return [json.dumps(value)]  # one pre-tokenised input
    if isinstance(value, list) and all(isinstance(v, list) for v in value):
        return [json.dumps(v) for v in value]
    return None


def retry_after_headers(retry_after: float | None, *, with_ms: bool) -> dict[str, str]:
    if retry_after is None:
        return {}
    seconds = f"{retry_after:g}"
    headers = {"retry-after": seconds}
    if with_ms:
        headers["retry-after-ms"] = str(round(retry_after * 1000))
    return headers


def unified_finish(reason: str | None, mapping: dict[str, str], default: str) -> str:
    """A scripted finish reason may be unified (`length`) or already the provider's own word
    (`max_tokens`); translate the unified ones and pass everything else through."""
    if reason is None:
        return default
    return mapping.get(reason, reason)
