"""A wrapper that keeps secrets out of logs, reprs and error messages."""

from __future__ import annotations

from typing import Final

__all__ = ["Secret", "hint"]

_MASK: Final = "****"


def hint(value: str | None) -> str | None:
    """The last 4 characters, the only part of a secret we ever show (None if too short)."""
    if not value or len(value) < 8:
        return None
    return value[-4:]


class Secret:
    """Holds a secret string; only `reveal()` gives it back."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    @property
    def hint(self) -> str | None:
        return hint(self._value)

    def __repr__(self) -> str:
        return f"Secret('{_MASK}{self.hint or ''}')"

    __str__ = __repr__

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Secret) and other._value == self._value

    def __hash__(self) -> int:
        return hash(self._value)

    def __bool__(self) -> bool:
        return bool(self._value)
