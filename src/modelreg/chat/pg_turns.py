"""PostgreSQL: a batch of chat turns as one statement, `SELECT modelreg_store_turns($1)`.

The function (migration 0015) sets the RLS context per user of the batch and writes that
user's new conversations, touches and messages; sent on the driver's connection outside any
transaction it is one round trip and commits on its own (was BEGIN, RLS context, INSERTs,
COMMIT: five). The statement is prepared once per connection (asyncpg's statement cache).

The rows travel as one JSON document, converted here so that every column is stored as the
Core INSERT stores it: json columns as the text SQLAlchemy's serializer gives (`null` for a
None that was passed, SQL NULL for a column left out), NUL-safe text with NUL replaced,
numerics as decimal strings, non-finite floats by name, timestamps with their offset (naive
ones as UTC, as asyncpg takes them), Python-side column defaults for columns left out.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Callable
from decimal import Decimal
from typing import TYPE_CHECKING, Any, Final, cast

import orjson
from sqlalchemy import JSON, Column, Float, Table

from modelreg.db.models import Conversation, Message
from modelreg.db.types import ExactDecimal, NulSafeText
from modelreg.nul import replace_nul

if TYPE_CHECKING:
    from modelreg.chat.turn_writer import ConversationTouch, TurnWrite

__all__ = ["STORE_TURNS_SQL", "batch_json"]

STORE_TURNS_SQL: Final = "SELECT modelreg_store_turns($1::json)"

_MISSING: Final = object()
Convert = Callable[[Any], Any]


def _json_text(value: Any) -> str:
    return json.dumps(value)  # SQLAlchemy's default serializer: the same text as the Core path


def _nul_safe(value: Any) -> Any:
    return None if value is None else replace_nul(value)


def _decimal(value: Any) -> Any:
    return None if value is None else str(Decimal(value))


def _float(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return repr(value)  # 'inf', '-inf', 'nan': PostgreSQL's float8 input takes them
    return value


def _converter(column: Column[Any]) -> Convert | None:
    kind = column.type
    if isinstance(kind, JSON):
        return _json_text
    if isinstance(kind, NulSafeText):
        return _nul_safe
    if isinstance(kind, ExactDecimal):
        return _decimal
    if isinstance(kind, Float):
        return _float
    return None


def _default(column: Column[Any]) -> Callable[[], Any]:
    """What the Core INSERT puts in a column left out: its Python-side default, else NULL."""
    default = column.default
    if default is None:
        return lambda: None
    arg = cast(Any, default).arg
    if callable(arg):
        return lambda: arg(None)  # SQLAlchemy wraps plain callables to take a context
    return lambda: arg


class _RowShape:
    """How one table's rows are converted for the function."""

    def __init__(self, table: Table) -> None:
        self.columns = [column.name for column in table.columns]
        self.convert = {c.name: f for c in table.columns if (f := _converter(c)) is not None}
        self.defaults = {column.name: _default(column) for column in table.columns}

    def row(self, values: dict[str, Any]) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for name in self.columns:
            value = values.get(name, _MISSING)
            if value is _MISSING:
                value = self.defaults[name]()
                if value is None:
                    continue  # left out: SQL NULL (a json column too, as in the Core path)
            convert = self.convert.get(name)
            out[name] = value if convert is None else convert(value)
        return out


_CONVERSATIONS: Final = _RowShape(cast(Table, Conversation.__table__))
_MESSAGES: Final = _RowShape(cast(Table, Message.__table__))


def _touches(touches: list[tuple[uuid.UUID, ConversationTouch]]) -> list[dict[str, Any]]:
    """One row per conversation, with the result the Core path's UPDATEs leave: the touches
    without a model in order, then those with one (last wins for each column)."""
    merged: dict[uuid.UUID, dict[str, Any]] = {}
    for with_model in (False, True):
        for user_id, touch in touches:
            if touch.set_model != with_model:
                continue
            row = merged.setdefault(
                touch.id, {"id": touch.id, "user_id": user_id, "set_model": False}
            )
            row["at"] = touch.at
            if with_model:
                row["set_model"] = True
                row["model_id"] = touch.model_id
    return list(merged.values())


def batch_json(groups: list[list[TurnWrite]], app_role: str | None) -> str:
    """The function's argument: per group of turns of one user (and role), its rows."""
    out = []
    for group in groups:
        actor = group[0].actor
        entry: dict[str, Any] = {"uid": str(actor.id) if actor.id else "", "role": actor.role}
        new = [_CONVERSATIONS.row(w.conversation) for w in group if w.conversation is not None]
        if new:
            entry["c"] = new
        touches = _touches([(w.user_id, w.touch) for w in group if w.touch is not None])
        if touches:
            entry["t"] = touches
        rows = [_MESSAGES.row(row) for w in group for row in w.messages]
        if rows:
            entry["m"] = rows
        out.append(entry)
    payload = {"app_role": app_role, "groups": out}
    return orjson.dumps(payload, default=_other, option=orjson.OPT_NAIVE_UTC).decode()


def _other(value: Any) -> Any:
    """What orjson does not take as is: uuid.UUID subclasses (asyncpg returns its own)."""
    if isinstance(value, uuid.UUID):
        return str(value)
    raise TypeError(f"cannot store a {type(value).__name__} in a chat turn")
