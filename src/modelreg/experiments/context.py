"""The experiment assignment of the request being served, for the rows it writes.

The gateway and the chat route decide the arm before any upstream call and set it here; the
usage ledger (`chat/usage.py`) and the assistant message rows (`chat/store.message_row`) read
it, so the accounting code needs no new parameters through every layer. A context variable
is per task and copied into the tasks a request spawns (a stream's relay, the grace read of a
stream whose client left), and never leaks between requests: each request is its own task.
"""

from __future__ import annotations

import uuid
from contextvars import ContextVar
from typing import Any, NamedTuple

__all__ = ["Assignment", "assign", "current", "message_columns"]


class Assignment(NamedTuple):
    experiment_id: uuid.UUID
    arm_id: uuid.UUID


_current: ContextVar[Assignment | None] = ContextVar("modelreg_experiment", default=None)


def assign(assignment: Assignment | None) -> None:
    """Mark the rest of this request (and the tasks it starts) as served by this arm."""
    _current.set(assignment)


def current() -> Assignment | None:
    return _current.get()


def message_columns(role: str) -> dict[str, Any]:
    """The experiment columns of a `messages` row: set on the model's answers only."""
    found = _current.get() if role == "assistant" else None
    if found is None:
        return {"experiment_id": None, "experiment_arm_id": None}
    return {"experiment_id": found.experiment_id, "experiment_arm_id": found.arm_id}
