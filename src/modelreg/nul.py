"""NUL characters (U+0000): PostgreSQL cannot store them in text, SQLite can. To behave the
same on both and lose nothing:

- user input that is stored (chat messages, titles, token names, model descriptions) is
  refused with a 422 naming the field (`NulFree`, a pydantic base with one validator);
- text the application did not choose, the model's answer above all, is stored with each
  NUL replaced by U+FFFD, the Unicode replacement character (`NulSafeText`, a column type in
  modelreg.db.types). The client sees the answer as the model sent it; the stored copy
  differs only there.
"""

from __future__ import annotations

from typing import Any, Final

from pydantic import BaseModel, field_validator

__all__ = ["NUL_MESSAGE", "REPLACEMENT", "NulFree", "has_nul", "replace_nul"]

NUL: Final = "\x00"
REPLACEMENT: Final = "\ufffd"
NUL_MESSAGE: Final = "must not contain NUL (\\u0000) characters"


def has_nul(value: Any) -> bool:
    """A NUL in a string, or in a string anywhere inside lists and dicts (keys included)."""
    if isinstance(value, str):
        return NUL in value
    if isinstance(value, list | tuple):
        return any(has_nul(v) for v in value)
    if isinstance(value, dict):
        return any(has_nul(k) or has_nul(v) for k, v in value.items())
    return False


def replace_nul(text: str) -> str:
    return text.replace(NUL, REPLACEMENT) if NUL in text else text


class NulFree(BaseModel):
    """A request body whose fields (strings, lists and dicts of them) may hold no NUL.
    Nested models check their own fields, so the error names the innermost field."""

    @field_validator("*", mode="after")
    @classmethod
    def _no_nul(cls, value: Any) -> Any:
        if not isinstance(value, BaseModel) and has_nul(value):
            raise ValueError(NUL_MESSAGE)
        return value
