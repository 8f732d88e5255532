"""Embeddings keep what the caller sent (issue 16, item 6): token ids (`input=[[15339, 1917]]`,
what LangChain's OpenAIEmbeddings sends; or one array `[15339, 1917]`), `user`,
`encoding_format` and `dimensions` reach an OpenAI-compatible upstream as sent, its answer
comes back unchanged and its usage is booked; a provider that takes text only refuses token
ids with a 400 naming `input`, before any upstream call."""

from __future__ import annotations

import base64
import struct
from typing import Any

import openai
import pytest

from tests.conformance import replies
from tests.conformance.conftest import RegisterModel
from tests.conformance.recording import RecordingUpstream, Reply
from tests.fixtures.server import LiveServer
from tests.gateway.helpers import usage_events

VECTOR = (0.25, -0.5, 0.125)


def _base64_reply(count: int) -> dict[str, Any]:
    """The reference's answer to `encoding_format: "base64"` (float32, little-endian)."""
    reply = replies.openai_embeddings(["x"] * count)
    packed = base64.b64encode(struct.pack("<3f", *VECTOR)).decode()
    for row in reply["data"]:
        row["embedding"] = packed
    return reply


@pytest.mark.parametrize(
    "tokens", [[[15339, 1917], [1820, 374]], [15339, 1917]], ids=["arrays", "one_array"]
)
def test_token_ids_user_and_dimensions_reach_an_openai_upstream_as_sent(
    live_server: LiveServer,
    openai_sdk: openai.OpenAI,
    register: RegisterModel,
    recording: RecordingUpstream,
    tokens: Any,
) -> None:
    model = register("openai")
    count = len(tokens) if isinstance(tokens[0], list) else 1
    recording.expect(Reply.json(_base64_reply(count)))
    got = openai_sdk.embeddings.create(model=model["name"], input=tokens, user="u-42", dimensions=3)
    sent = recording.last.body
    assert recording.last.path == "/v1/embeddings"
    assert sent["model"] == "upstream-model"
    assert sent["input"] == tokens
    assert sent["user"] == "u-42"
    assert sent["dimensions"] == 3
    assert sent["encoding_format"] == "base64"  # the SDK's default, decoded by the SDK itself
    assert [row.embedding for row in got.data] == [list(VECTOR)] * count
    assert got.model == "text-embedding-3-small"  # the upstream's answer, unchanged
    assert got.usage.prompt_tokens == 8
    events = usage_events(live_server, model["id"])
    assert [(e.input_tokens, e.source) for e in events] == [(8, "embeddings")]


def test_float_vectors_come_back_unchanged(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    reply = replies.openai_embeddings(["a", "b"])
    recording.expect(Reply.json(reply))
    got = openai_sdk.embeddings.create(
        model=model["name"], input=["a", "b"], encoding_format="float"
    )
    assert recording.last.body["encoding_format"] == "float"
    assert got.model_dump() == reply


def test_a_text_only_provider_refuses_token_ids_naming_input(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("ollama")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk.embeddings.create(model=model["name"], input=[[15339, 1917]])
    assert caught.value.param == "input"
    assert "token ids" in caught.value.message
    assert recording.calls == []


def test_an_input_of_another_shape_is_one_clear_400_naming_input(
    openai_sdk: openai.OpenAI, register: RegisterModel, recording: RecordingUpstream
) -> None:
    model = register("openai")
    with pytest.raises(openai.BadRequestError) as caught:
        openai_sdk.embeddings.create(model=model["name"], input=[["a"], 3])  # type: ignore[list-item]
    assert caught.value.param == "input"
    assert "array of token ids" in caught.value.message
    assert recording.calls == []
