"""Time-ordered ids (UUID version 7) for the tables that only grow."""

from __future__ import annotations

import time
import uuid

from modelreg.ids import uuid7


def test_uuid7_has_the_rfc_layout_and_the_current_time() -> None:
    before = time.time_ns() // 1_000_000
    value = uuid7()
    after = time.time_ns() // 1_000_000
    assert value.version == 7
    assert value.variant == uuid.RFC_4122
    assert before <= value.int >> 80 <= after
    assert uuid.UUID(str(value)) == value


def test_uuid7_ids_sort_by_creation_and_do_not_repeat() -> None:
    ids = []
    for _ in range(5):
        ids += [uuid7() for _ in range(200)]
        time.sleep(0.002)  # a new millisecond: later ids sort after earlier ones
    assert len(set(ids)) == len(ids)
    stamps = [i.int >> 80 for i in ids]
    assert stamps == sorted(stamps)
    assert ids[-1] > ids[0]
