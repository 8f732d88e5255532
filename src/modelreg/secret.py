"""A wrapper that keeps secrets out of logs, reprs and error messages."""

from __future__ import annotations

from typing import Final

__all__ = ["Secret", "hint", "scrub"]

_MASK: Final = "****"


def hint(value: str | None) -> str | None:
    """The last 4 characters, the only part of a secret we ever show (None if too short)."""
    if not value or len(value) < 8:
        return None
    return value[-4:]


# a cut-off tail this long is still enough of a key to matter
_MIN_TAIL = 6


def scrub(text: str, secrets: list[str], *, keep_hint: bool = False) -> str:
    """Remove every secret from `text`, and a secret's leading part where `text` was cut
    short in the middle of it (upstream messages are shortened before they reach us)."""
    for secret in secrets:
        if len(secret) < 4:
            continue
        if secret in text:
            text = text.replace(secret, _MASK + ((hint(secret) or "") if keep_hint else ""))
        for size in range(min(len(secret) - 1, len(text)), _MIN_TAIL - 1, -1):
            if text.endswith(secret[:size]):
                text = text[: len(text) - size] + _MASK
                break
    return text


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
