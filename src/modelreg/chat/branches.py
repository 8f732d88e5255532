"""Alternatives and the active path of a conversation.

An answer replies to a user message. Several answers can reply to the same one: a
regenerated answer is stored with `reply_to_id` naming the user message, and the answers
before it stay as alternatives the user can page through. Rows written by an ordinary turn
carry no `reply_to_id`: everything between a user message and the next one (the answer, its
tool rounds, a client's tool results and the answers to them) is that user message's
original alternative, a *block*.

Per user message the *selected* alternative is the one whose head (the last assistant row of
a block, or the regenerated answer itself) has the latest `coalesce(selected_at,
created_at)`: a new answer is selected when it is written, and picking an older one sets its
`selected_at`. The history sent to the model (and the path the UI shows) holds, per user
message, the selected alternative only. Regenerated answers are single rows (a regenerate
offers no tools), so an alternative never interleaves with another.

Rows are anything with the attributes `id`, `role`, `reply_to_id`, `selected_at`,
`created_at` (ORM rows, Core rows), in conversation order.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

__all__ = ["Alternative", "Branches", "branches"]

R = TypeVar("R")


@dataclass(slots=True)
class Alternative(Generic[R]):
    rows: list[R]  # the rows of this answer: a block's assistant and tool rows, or one answer
    head: R  # the row that stands for it (its final answer)

    def key(self) -> tuple[datetime, datetime]:
        head: Any = self.head
        return (head.selected_at or head.created_at, head.created_at)


@dataclass(slots=True)
class Branches(Generic[R]):
    active: list[R] = field(default_factory=list)  # the path: what the model sees, in order
    # per user message id: its alternatives in the order they were written
    alternatives: dict[uuid.UUID, list[Alternative[R]]] = field(default_factory=dict)
    # per answer (head) id: the user message it replies to
    anchor: dict[uuid.UUID, uuid.UUID] = field(default_factory=dict)

    def selected(self, user_message_id: uuid.UUID) -> Alternative[R] | None:
        alternatives = self.alternatives.get(user_message_id) or []
        return max(alternatives, key=Alternative.key) if alternatives else None


def branches(rows: Sequence[R]) -> Branches[R]:
    out: Branches[R] = Branches()
    explicit: dict[Any, list[R]] = {}
    for one in rows:
        reply_to = getattr(one, "reply_to_id", None)
        if reply_to is not None:
            explicit.setdefault(reply_to, []).append(one)
    plain: list[Any] = [r for r in rows if getattr(r, "reply_to_id", None) is None]
    i = 0
    while i < len(plain):
        row: Any = plain[i]
        i += 1
        if row.role != "user":
            out.active.append(row)  # before the first user message (or a NULL outer-join row)
            continue
        block: list[R] = []
        while i < len(plain) and getattr(plain[i], "role", None) != "user":
            block.append(plain[i])
            i += 1
        out.active.append(row)
        _choose(out, row.id, block, explicit.get(row.id, []))
    return out


def _choose(out: Branches[R], user_id: uuid.UUID, block: list[R], regenerated: list[R]) -> None:
    answers = [r for r in block if getattr(r, "role", None) in ("assistant", "tool")]
    alternatives: list[Alternative[R]] = []
    heads = [r for r in answers if getattr(r, "role", None) == "assistant"]
    if heads:
        alternatives.append(Alternative(answers, heads[-1]))
    alternatives += [Alternative([r], r) for r in regenerated]
    if not alternatives:
        out.active.extend(block)
        return
    out.alternatives[user_id] = alternatives
    for alternative in alternatives:
        out.anchor[getattr(alternative.head, "id")] = user_id  # noqa: B009
    chosen = max(alternatives, key=Alternative.key)
    if chosen.rows is answers:
        out.active.extend(block)
    else:  # the block's own answer is not the selected one: its other rows stay
        out.active.extend(r for r in block if getattr(r, "role", None) not in ("assistant", "tool"))
        out.active.extend(chosen.rows)
