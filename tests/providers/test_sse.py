"""The SSE decoder: line endings, comments, multi-line data, event names, splits anywhere."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from modelreg.errors import UnexpectedResponseError
from modelreg.providers import _sse
from modelreg.providers._sse import SSEDecoder, SSEEvent, iter_sse
from tests.providers._helpers import aiter_chunks, split_at


def decode(*chunks: bytes) -> list[SSEEvent]:
    decoder = SSEDecoder()
    events = [e for chunk in chunks for e in decoder.feed(chunk)]
    return events + decoder.finish()


def test_data_lines_with_lf_crlf_and_lone_cr_endings() -> None:
    body = b'data: {"a":1}\n\ndata: {"b":2}\r\n\r\ndata: {"c":3}\r\rdata: [DONE]\n\n'
    assert [e.data for e in decode(body)] == ['{"a":1}', '{"b":2}', '{"c":3}', "[DONE]"]


def test_event_names_comments_ids_and_multi_line_data() -> None:
    body = (
        b": OPENROUTER PROCESSING\n\n"
        b"event: message_start\nid: 7\ndata: line one\ndata: line two\nretry: 10\n\n"
        b"event: ping\ndata:{}\n\n"
    )
    assert decode(body) == [
        SSEEvent(data="line one\nline two", event="message_start", id="7"),
        SSEEvent(data="{}", event="ping", id="7"),  # the last event id persists, as specified
    ]


def test_only_one_space_after_the_colon_is_stripped() -> None:
    assert decode(b"data:  two spaces\n\n") == [SSEEvent(data=" two spaces")]


def test_crlf_split_between_chunks_is_one_line_end() -> None:
    assert decode(b"data: a\r", b"\n\r", b"\ndata: b\n\n") == [
        SSEEvent(data="a"),
        SSEEvent(data="b"),
    ]


def test_multibyte_utf8_split_between_chunks() -> None:
    raw = 'data: {"t":"18°C ☀"}\n\n'.encode()
    cut = raw.index("☀".encode()) + 1  # inside the three-byte character
    assert decode(raw[:cut], raw[cut:]) == [SSEEvent(data='{"t":"18°C ☀"}')]


def test_event_without_closing_blank_line_is_flushed_at_the_end() -> None:
    decoder = SSEDecoder()
    assert decoder.feed(b"data: [DONE]\n") == []
    assert decoder.finish() == [SSEEvent(data="[DONE]")]
    assert not decoder.truncated


def test_half_received_last_line_is_dropped_and_reported() -> None:
    decoder = SSEDecoder()
    decoder.feed(b'data: {"a":1}\n\ndata: {"choi')
    assert decoder.finish() == []
    assert decoder.truncated


def test_invalid_utf8_is_a_typed_error() -> None:
    with pytest.raises(UnexpectedResponseError, match="UTF-8"):
        decode(b"data: \xff\xfe\n\n")


def test_an_endless_line_is_refused_instead_of_buffered_forever(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(_sse, "MAX_EVENT_BYTES", 64)
    decoder = SSEDecoder()
    decoder.feed(b"data: " + b"x" * 20)
    with pytest.raises(UnexpectedResponseError, match="exceeds"):
        decoder.feed(b"x" * 60)


async def test_iter_sse_over_async_chunks() -> None:
    events = [e async for e in iter_sse(aiter_chunks([b"data: 1\n", b"\ndata: 2\n\n"]))]
    assert [e.data for e in events] == ["1", "2"]


# --- property: any split of a valid stream gives the same events ---------------------------

_text = st.text(
    alphabet=st.characters(exclude_characters="\r\n", exclude_categories=["Cs"]),
    max_size=30,
)
_event = st.tuples(
    st.none() | st.from_regex(r"[a-z_]{1,12}", fullmatch=True),
    st.lists(_text, min_size=1, max_size=3),
)


def _encode(events: list[tuple[str | None, list[str]]], newline: bytes) -> bytes:
    out = bytearray(b": keep-alive" + newline + newline)
    for name, lines in events:
        if name is not None:
            out += b"event: " + name.encode() + newline
        for line in lines:
            out += b"data: " + line.encode() + newline
        out += newline
    return bytes(out)


@given(
    events=st.lists(_event, min_size=1, max_size=8),
    newline=st.sampled_from([b"\n", b"\r\n", b"\r"]),
    cuts=st.lists(st.integers(min_value=0, max_value=2000), max_size=40),
)
def test_any_split_yields_the_same_events(
    events: list[tuple[str | None, list[str]]], newline: bytes, cuts: list[int]
) -> None:
    body = _encode(events, newline)
    expected = [SSEEvent(data="\n".join(lines), event=name) for name, lines in events]
    assert decode(body) == expected
    assert decode(*split_at(body, cuts)) == expected
    assert decode(*[body[i : i + 1] for i in range(len(body))]) == expected
