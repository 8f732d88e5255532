"""The NDJSON decoder (Ollama's native stream)."""

from __future__ import annotations

from typing import Any

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.errors import StreamInterruptedError, UnexpectedResponseError
from modelreg.providers._ndjson import NDJSONDecoder, iter_ndjson
from tests.providers._helpers import aiter_chunks, split_at


def decode(*chunks: bytes) -> list[Any]:
    decoder = NDJSONDecoder()
    values = [v for chunk in chunks for v in decoder.feed(chunk)]
    return values + decoder.finish()


def test_lines_crlf_and_blank_lines() -> None:
    assert decode(b'{"a":1}\r\n\n{"b":2}\n') == [{"a": 1}, {"b": 2}]


def test_last_line_without_newline_is_accepted_when_complete() -> None:
    assert decode(b'{"a":1}\n{"done":true}') == [{"a": 1}, {"done": True}]


def test_cut_off_last_line_is_an_interrupted_stream() -> None:
    with pytest.raises(StreamInterruptedError, match="middle of a JSON line"):
        decode(b'{"a":1}\n{"message":{"con')


def test_a_bad_line_is_a_typed_error() -> None:
    with pytest.raises(UnexpectedResponseError, match="not valid JSON"):
        decode(b'{"a":1}\nnot json\n')


def test_html_instead_of_ndjson_is_a_typed_error() -> None:
    with pytest.raises(UnexpectedResponseError):
        decode(b"<html><body>502 Bad Gateway</body></html>\n")


async def test_iter_ndjson_over_async_chunks() -> None:
    values = [v async for v in iter_ndjson(aiter_chunks([b'{"a":', b'1}\n{"b":2}\n']))]
    assert values == [{"a": 1}, {"b": 2}]


_json = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=20),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner),
    max_leaves=8,
)


@given(
    values=st.lists(_json, min_size=1, max_size=8),
    cuts=st.lists(st.integers(min_value=0, max_value=3000), max_size=40),
)
def test_any_split_yields_the_same_values(values: list[Any], cuts: list[int]) -> None:
    body = b"".join(orjson.dumps(v) + b"\n" for v in values)
    assert decode(*split_at(body, cuts)) == values
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == values
