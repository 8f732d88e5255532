"""What a simulator answers: scripts queued by a test, and the reply one script resolves to.

A `Script` describes one upstream answer in provider-neutral terms (text, tool calls, usage,
timing, failures); each wire module turns the resolved `Reply` into its provider's bytes.
Scripts are plain data so they can also arrive as JSON through the control API
(`POST /__sim/enqueue`), see `Script.from_json`.
"""

from __future__ import annotations

import fnmatch
import json
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from typing import Any, Literal, get_args

__all__ = [
    "MalformedKind",
    "Matcher",
    "RecordedRequest",
    "Reply",
    "ReplyToolCall",
    "Script",
    "ScriptedToolCall",
    "ScriptedUsage",
]

MalformedKind = Literal[
    "bad_json_chunk", "html", "empty", "error_in_200", "unknown_event", "error_event_midstream"
]
_MALFORMED_KINDS: frozenset[str] = frozenset(get_args(MalformedKind))


@dataclass(frozen=True, slots=True)
class RecordedRequest:
    """One request as the simulator received it (header names in lower case)."""

    method: str
    path: str
    query: dict[str, str]
    headers: dict[str, str]
    json: Any
    body: bytes = b""
    model: str | None = None  # body `model`, or the Azure deployment from the URL

    def to_public_json(self) -> dict[str, Any]:
        """A JSON form for the control API, with credentials reduced to a 4-char hint."""
        secret_headers = {"authorization", "api-key", "x-api-key"}
        headers = {
            name: (_hint(value) if name in secret_headers else value)
            for name, value in self.headers.items()
        }
        return {
            "method": self.method,
            "path": self.path,
            "query": self.query,
            "headers": headers,
            "json": self.json,
            "model": self.model,
        }


def _hint(value: str) -> str:
    return "****" + value[-4:] if len(value) > 8 else "****"


Matcher = Callable[[RecordedRequest], bool] | Mapping[str, str]


@dataclass(frozen=True, slots=True)
class ScriptedToolCall:
    """A tool call the simulated model makes. `arguments` as a str is sent raw (may be invalid
    JSON, to test how clients cope); `id` is generated in the provider's style when None."""

    name: str
    arguments: Mapping[str, Any] | str = field(default_factory=dict)
    id: str | None = None

    @property
    def arguments_json(self) -> str:
        if isinstance(self.arguments, str):
            return self.arguments
        return json.dumps(self.arguments, ensure_ascii=False, separators=(",", ":"))

    @property
    def arguments_object(self) -> dict[str, Any] | None:
        """The arguments as an object, or None when the raw string is not a JSON object."""
        if not isinstance(self.arguments, str):
            return dict(self.arguments)
        try:
            parsed = json.loads(self.arguments)
        except ValueError:
            return None
        return parsed if isinstance(parsed, dict) else None


@dataclass(frozen=True, slots=True)
class ScriptedUsage:
    """Token counts in unified terms: `input` is the whole prompt, cached parts included."""

    input: int
    output: int
    cached_read: int = 0
    cache_write: int = 0
    reasoning: int = 0


@dataclass(frozen=True)
class Script:
    """One scripted answer. Every field is optional; an empty Script is the default echo."""

    text: str | None = None
    chunks: Sequence[str] | None = None
    tool_calls: Sequence[ScriptedToolCall] = ()
    usage: ScriptedUsage | tuple[int, ...] | None = None
    chunk_delay: float = 0.0
    first_byte_delay: float = 0.0
    status: int | None = None
    error_message: str | None = None
    error_code: str | None = None
    retry_after: float | None = None
    cut_after: int | None = None
    hang: bool = False
    malformed: MalformedKind | None = None
    finish_reason: str | None = None
    model: str | None = None
    fragment_tool_args: int | None = None
    match: Matcher | None = None
    repeat: int = 1
    # Thinking text, streamed before the answer: Anthropic `thinking` blocks, Ollama
    # `message.thinking`, `reasoning_content` (OpenAI flavor, as vLLM/DeepSeek send it) or
    # `reasoning` (Ollama /v1). TGI and Azure do not return it.
    reasoning: str | None = None
    # The answer stopped on this one of the caller's stop sequences: Anthropic reports
    # `stop_reason: "stop_sequence"` and the string; OpenAI-style servers only say "stop".
    stop_sequence: str | None = None

    def __post_init__(self) -> None:
        # Accept the loose forms a test or a JSON body naturally writes, store one form.
        calls = tuple(_tool_call(call) for call in self.tool_calls)
        object.__setattr__(self, "tool_calls", calls)
        if self.usage is not None and not isinstance(self.usage, ScriptedUsage):
            object.__setattr__(self, "usage", ScriptedUsage(*self.usage))
        if self.chunks is not None:
            object.__setattr__(self, "chunks", tuple(self.chunks))
        if self.malformed is not None and self.malformed not in _MALFORMED_KINDS:
            raise ValueError(f"unknown malformed kind {self.malformed!r}")
        if self.repeat < 1:
            raise ValueError("repeat must be at least 1")
        if self.fragment_tool_args is not None and self.fragment_tool_args < 1:
            raise ValueError("fragment_tool_args must be at least 1")

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Script:
        """Build a Script from the JSON the control API receives (unknown keys are an error)."""
        known = {f.name for f in fields(cls)}
        unknown = set(data) - known
        if unknown:
            raise ValueError(f"unknown Script fields: {sorted(unknown)}")
        values = dict(data)
        usage = values.get("usage")
        if isinstance(usage, Mapping):
            values["usage"] = ScriptedUsage(**usage)
        elif isinstance(usage, list):
            values["usage"] = tuple(usage)
        match = values.get("match")
        if match is not None and not isinstance(match, Mapping):
            raise ValueError("match must be an object such as {'model': 'x', 'path': '/v1/*'}")
        return cls(**values)

    def matches(self, request: RecordedRequest) -> bool:
        if self.match is None:
            return True
        if callable(self.match):
            return bool(self.match(request))
        for key, wanted in self.match.items():
            if key == "path":
                if not fnmatch.fnmatchcase(request.path, wanted):
                    return False
            elif key == "model":
                if request.model != wanted:
                    return False
            else:
                raise ValueError(f"unknown match key {key!r} (use 'model' or 'path')")
        return True

    def resolve(self, *, default_text: str, prompt_tokens: int, model: str) -> Reply:
        """Fill in what the script leaves open: text, chunks, usage, model name."""
        if self.text is not None:
            text = self.text
        elif self.chunks is not None:
            text = "".join(self.chunks)
        else:
            text = "" if self.tool_calls else default_text
        chunks = tuple(self.chunks) if self.chunks is not None else split_text(text)
        usage = self.usage
        if not isinstance(usage, ScriptedUsage):
            usage = ScriptedUsage(
                input=prompt_tokens,
                output=max(1, len(text) // 4) + 8 * len(self.tool_calls),
            )
        return Reply(
            text=text,
            chunks=chunks,
            tool_calls=tuple(
                ReplyToolCall(index=i, call=call) for i, call in enumerate(self.tool_calls)
            ),
            usage=usage,
            finish_reason=self.finish_reason,
            model=self.model or model,
            fragment_size=self.fragment_tool_args,
            reasoning=self.reasoning or "",
            stop_sequence=self.stop_sequence,
        )


def _tool_call(value: ScriptedToolCall | Mapping[str, Any]) -> ScriptedToolCall:
    if isinstance(value, ScriptedToolCall):
        return value
    return ScriptedToolCall(**value)


@dataclass(frozen=True, slots=True)
class ReplyToolCall:
    index: int
    call: ScriptedToolCall

    def id_or(self, make: Callable[[int], str]) -> str:
        return self.call.id if self.call.id is not None else make(self.index)


@dataclass(frozen=True, slots=True)
class Reply:
    """A script resolved against one request: what the wire module has to encode."""

    text: str
    chunks: tuple[str, ...]
    tool_calls: tuple[ReplyToolCall, ...]
    usage: ScriptedUsage
    finish_reason: str | None
    model: str
    fragment_size: int | None
    reasoning: str = ""
    stop_sequence: str | None = None

    def argument_fragments(self, call: ReplyToolCall) -> list[str]:
        """The argument string cut into `fragment_size`-character pieces (one piece if unset).
        Pieces are cut on characters, not bytes: a JSON string in SSE cannot hold half a code
        point, so for ASCII arguments the two are the same."""
        args = call.call.arguments_json
        size = self.fragment_size
        if not size:
            return [args] if args else []
        return [args[i : i + size] for i in range(0, len(args), size)]

    def interleaved_fragments(self) -> list[tuple[ReplyToolCall, str]]:
        """Fragments of all tool calls, round-robin by index (how parallel calls can arrive)."""
        pending = [(call, self.argument_fragments(call)) for call in self.tool_calls]
        out: list[tuple[ReplyToolCall, str]] = []
        position = 0
        while any(position < len(frags) for _, frags in pending):
            out.extend((call, frags[position]) for call, frags in pending if position < len(frags))
            position += 1
        return out


def split_text(text: str, pieces: int = 4) -> tuple[str, ...]:
    """Split text at word boundaries into about `pieces` chunks that join back to `text`."""
    if not text:
        return ()
    words = text.split(" ")
    if len(words) <= 1:
        return (text,)
    per_chunk = max(1, -(-len(words) // pieces))
    chunks = []
    for start in range(0, len(words), per_chunk):
        group = words[start : start + per_chunk]
        last = start + per_chunk >= len(words)
        chunks.append(" ".join(group) + ("" if last else " "))
    return tuple(chunks)
