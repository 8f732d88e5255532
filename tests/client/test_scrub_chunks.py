"""`scrub_chunks`: a model's secret is masked in a parsed stream however the reads cut it."""

from __future__ import annotations

import asyncio
import itertools
from collections.abc import AsyncIterator

from hypothesis import given
from hypothesis import strategies as st

from modelreg.client.scrub import MASK, scrub_bytes, scrub_chunks

SECRETS = (b'xh-SCANME-9f"q\\\\z', b"sk-SCANME-0123456789", b'xh-SCANME-9f"q\\z')


async def _chunks(parts: list[bytes]) -> AsyncIterator[bytes]:
    for part in parts:
        yield part


def _run(parts: list[bytes], secrets: tuple[bytes, ...] = SECRETS) -> list[bytes]:
    async def collect() -> list[bytes]:
        return [c async for c in scrub_chunks(_chunks(parts), secrets)]

    return asyncio.run(collect())


pieces = st.lists(
    st.sampled_from([b"data: ", b"s", b"sk-", b"Bearer ", b"\n\n", b'"', b"x", *SECRETS]),
    max_size=30,
)


@given(pieces, st.lists(st.integers(min_value=0, max_value=400), max_size=12))
def test_the_output_is_the_whole_stream_scrubbed_however_it_was_cut(
    items: list[bytes], cuts: list[int]
) -> None:
    whole = b"".join(items)
    bounds = sorted({min(c, len(whole)) for c in cuts} | {0, len(whole)})
    parts = [whole[a:b] for a, b in itertools.pairwise(bounds)]
    out = b"".join(_run(parts))
    assert out == scrub_bytes(whole, SECRETS)
    for secret in SECRETS:
        assert secret not in out


def test_a_key_split_inside_one_event_is_masked() -> None:
    event = b'data: {"error": {"message": "Bearer sk-SCANME-0123456789"}}\n\n'
    cut = event.index(b"SCANME") + 3
    out = _run([event[:cut], event[cut:]])
    assert b"".join(out) == event.replace(b"sk-SCANME-0123456789", MASK)


def test_complete_events_are_not_held_back() -> None:
    events = [b"data: one\n\n", b"data: two s\n\n"]
    assert _run(events) == events


def test_without_secrets_chunks_pass_untouched() -> None:
    parts = [b"sk-", b"SCANME-0123456789"]
    assert _run(parts, ()) == parts
