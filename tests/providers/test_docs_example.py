"""The one-file adapter in docs/providers.md must keep working: it is executed here."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from modelreg.errors import NotFoundError, StreamInterruptedError
from modelreg.providers.lookup import get_adapter
from modelreg.types import ChatRequest, Message
from tests.providers._helpers import collect, make_model, ndjson

DOC = Path(__file__).resolve().parents[2] / "docs" / "providers.md"


@pytest.fixture(scope="module")
def echo_module() -> dict[str, Any]:
    blocks = re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
    (source,) = [b for b in blocks if "class EchoAdapter" in b]
    namespace: dict[str, Any] = {"__name__": "docs_echo"}
    exec(compile(source, str(DOC), "exec"), namespace)  # noqa: S102  # our own docs
    return namespace


async def test_the_documented_adapter_registers_and_works(echo_module: dict[str, Any]) -> None:
    model = make_model("echo", base_url="http://127.0.0.1:9")
    adapter = get_adapter(model)
    assert type(adapter).__name__ == "EchoAdapter"
    request = adapter.build_request(ChatRequest(messages=(Message("user", "hi"),)), model)
    assert request.url == "http://127.0.0.1:9/echo"
    assert adapter.parse_response(b'{"text": "hi"}', model).text == "hi"
    events = await collect(adapter, [ndjson({"text": "h"}, {"text": "i"}, {"done": True})], model)
    assert [e.type for e in events] == ["text_delta", "text_delta", "finish"]
    with pytest.raises(StreamInterruptedError):
        await collect(adapter, [ndjson({"text": "h"})], model)
    assert type(adapter.map_error(404, {}, b'{"error": "no"}', model)) is NotFoundError
